-- Add the fresh rows of the load (load/fresh_events.sql: not stored as they are) to
-- `events`, with their event_id and version_hash (load/identify_events.sql), after
-- load/replace_events.sql's stored versions are deleted. A row whose event_id is still
-- stored (same content, other attributes, no older version paired with it) is skipped, as
-- before event keys: an event_id is one event of the stream.
INSERT INTO events (stream, event_id, case_id, activity, ts, lifecycle, resource, team, start_ts,
                    attributes, source, source_line, run_id, sequence, version_hash)
SELECT $stream, f.event_id, c.case_id, c.activity, c.ts, c.lifecycle, c.resource, c.team, c.start_ts,
       c.attributes, $source, c._line, $run_id, c.sequence, f.version_hash
FROM load_fresh AS f
JOIN load_checked AS c USING (_line)
ANTI JOIN (SELECT event_id FROM events WHERE stream = $stream) AS known USING (event_id)
WHERE NOT f.unchanged;
