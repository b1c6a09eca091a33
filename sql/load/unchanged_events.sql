-- Mark the rows of load_fresh whose stored event (stored_id: same content and copy_no) has
-- the same attributes and sequence: the event is unchanged, only its stored version_hash is
-- missing (loaded before migration 008) or was computed otherwise; pipeline/ingest.py then
-- stores this load's version_hash for it. Run only when some row of load_fresh has a
-- stored_id; compares values, so reads the stored attributes.
UPDATE load_fresh SET unchanged = true
FROM (
    SELECT c._line
    FROM load_fresh AS lf
    JOIN load_checked AS c USING (_line)
    JOIN (SELECT event_id, attributes, sequence FROM events WHERE stream = $stream) AS e
        ON e.event_id = lf.stored_id
    WHERE CAST(e.attributes AS VARCHAR) IS NOT DISTINCT FROM CAST(c.attributes AS VARCHAR)
      AND e.sequence IS NOT DISTINCT FROM c.sequence
) AS same
WHERE load_fresh._line = same._line;
