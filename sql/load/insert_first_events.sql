-- Add the clean rows of load_checked to `events` of a stream that has none yet (its first
-- load, or one after every event was removed): nothing to skip or replace, so every clean row
-- goes in with its event_id and version_hash (load/identify_events.sql), in one pass.
-- load/insert_events.sql does the same for a stream with events, from load_fresh.
INSERT INTO events (stream, event_id, case_id, activity, ts, lifecycle, resource, team, start_ts,
                    attributes, source, source_line, run_id, sequence, version_hash)
SELECT $stream, event_id, case_id, activity, ts, lifecycle, resource, team, start_ts,
       attributes, $source, _line, $run_id, sequence, version_hash
FROM load_identities();
