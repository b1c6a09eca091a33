-- Add the clean rows of load_checked to `events` of a stream that has none yet (its first
-- load, or one after every event was removed): nothing to skip or replace, so every clean row
-- goes in, in one pass. event_id: $base (0 here: no event) + the row's line, a number unique
-- in the stream (load/insert_events.sql numbers later loads' events after the largest).
-- load/insert_events.sql does the same for a stream with events, from load_fresh.
INSERT INTO events (stream, event_id, case_id, activity, ts, lifecycle, resource, team, start_ts,
                    attributes, source, source_line, run_id, sequence, version_hash, copy_no)
SELECT $stream, $base + CAST(_line AS BIGINT), case_id, activity, ts, lifecycle, resource, team, start_ts,
       attributes, $source, _line, $run_id, sequence, version_hash, copy_no
FROM load_checked
WHERE reason IS NULL;
