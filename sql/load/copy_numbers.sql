-- load_checked.copy_no of repeated rows: the n-th of several identical clean rows of this
-- load (same case, activity, instant, lifecycle, resource, team, start) in file order gets
-- n (the others keep 1). With the content, copy_no is how a load recognises a stored event
-- (load/fresh_events.sql): a re-load adds nothing, a newer export adds only its new events,
-- and true duplicates in one export are kept (and reported as a data-quality finding), not
-- merged.
-- Speed: identical rows are rare, so only they are ranked (a window over every row costs
-- more than the rest of the load's numbering); equal contents have equal content_hash, so
-- grouping those 8-byte hashes finds every candidate, and a rare hash collision only ranks
-- a few more rows, each among its own content.
UPDATE load_checked SET copy_no = o.copy_no
FROM (
    WITH repeated AS (
        SELECT content_hash FROM load_checked WHERE reason IS NULL GROUP BY content_hash HAVING count(*) > 1
    )
    SELECT _line, row_number() OVER (
        PARTITION BY case_id, activity, ts, lifecycle, resource, team, start_ts ORDER BY _line
    ) AS copy_no
    FROM load_checked
    WHERE reason IS NULL AND content_hash IN (SELECT content_hash FROM repeated)
) AS o
WHERE load_checked._line = o._line AND o.copy_no > 1;
