-- Add the fresh rows of the load (load/fresh_events.sql: not stored as they are) to
-- `events`, after load/replace_events.sql's stored versions are deleted. A row whose stored
-- event (stored_id: same content and copy_no, other attributes) is still stored, no older
-- version paired with it, is skipped, as before event keys: content and copy_no are one
-- event of the stream. event_id: $base (the stream's largest before this load) + the row's
-- line, a number unique in the stream.
INSERT INTO events (stream, event_id, case_id, activity, ts, lifecycle, resource, team, start_ts,
                    attributes, source, source_line, run_id, sequence, version_hash, copy_no)
SELECT $stream, $base + CAST(c._line AS BIGINT), c.case_id, c.activity, c.ts, c.lifecycle, c.resource,
       c.team, c.start_ts, c.attributes, $source, c._line, $run_id, c.sequence, c.version_hash, c.copy_no
FROM load_fresh AS f
JOIN load_checked AS c USING (_line)
WHERE NOT f.unchanged
  AND (f.stored_id IS NULL OR f.stored_id IN (SELECT event_id FROM load_replaced));
