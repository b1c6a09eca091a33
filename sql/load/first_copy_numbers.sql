-- events.copy_no of the repeated events of a stream's first load (pipeline/ingest.py
-- `_first_events`): the n-th of several identical events of this run (same case, activity,
-- instant, lifecycle, resource, team, start) in file order gets n (the others keep 1), as
-- load/copy_numbers.sql numbers load_checked for later loads. Over `events`, not over a
-- temp table: a first load writes most of its rows straight into `events`
-- (load/insert_checked_events.sql), the others through load_checked.
-- Speed: identical rows are rare, so only they are ranked: grouping the 8-byte hashes of the
-- contents finds every candidate (a hash collision only ranks a few more rows, each among
-- its own content). The run's events are read twice, not once into a common table: DuckDB
-- would write all of them into a temporary one first (10M events: 8 CPU-seconds).
UPDATE events SET copy_no = o.copy_no
FROM (
    WITH repeated AS (
        SELECT hash(case_id, activity, ts, lifecycle, resource, team, start_ts) AS content_hash
        FROM events
        WHERE stream = $stream AND run_id = $run_id
        GROUP BY content_hash
        HAVING count(*) > 1
    )
    SELECT event_id, row_number() OVER (
        PARTITION BY case_id, activity, ts, lifecycle, resource, team, start_ts ORDER BY source_line
    ) AS copy_no
    FROM events
    WHERE stream = $stream AND run_id = $run_id
      AND hash(case_id, activity, ts, lifecycle, resource, team, start_ts) IN (SELECT content_hash FROM repeated)
) AS o
WHERE events.stream = $stream AND events.event_id = o.event_id AND o.copy_no > 1;
