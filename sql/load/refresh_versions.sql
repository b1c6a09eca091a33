-- Store the version_hash of the stream's events that this load has unchanged
-- (load/unchanged_events.sql) where the stored one is missing or differs: the next load
-- then finds them by that number, without comparing attributes.
UPDATE events SET version_hash = f.version_hash
FROM (
    SELECT lf.stored_id, c.version_hash
    FROM load_fresh AS lf
    JOIN load_checked AS c USING (_line)
    WHERE lf.unchanged
) AS f
WHERE events.stream = $stream AND events.event_id = f.stored_id;
