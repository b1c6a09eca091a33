-- Add to `events`, straight from the checked rows (load/load_checked.sql over the raw rows,
-- pasted in below), the plain rows of a stream's first load: clean (no reject reason), no
-- missing-value token to count, attributes written with the others. No temp table of every
-- checked row stands between the source and the store (10M events: the temp table cost 5 of
-- the load's 17 CPU-seconds to write and read back). pipeline/ingest.py then checks the other
-- rows (rejects, tokens, large attributes) into load_checked, a second pass over the source
-- taken only when this one left some row out, and load/insert_first_events.sql adds the
-- clean ones; load/first_copy_numbers.sql numbers repeated events over both.
-- The condition below is built by pipeline/ingest.py from fixed column names, never user text.
-- event_id: the row's line (a first load: the stream has no event to number after).
INSERT INTO events (stream, event_id, case_id, activity, ts, lifecycle, resource, team, start_ts,
                    attributes, source, source_line, run_id, sequence, version_hash, copy_no)
SELECT $stream, CAST(_line AS BIGINT), case_id, activity, ts, lifecycle, resource, team, start_ts,
       attributes, $source, _line, $run_id, sequence, version_hash, 1
FROM ({checked}) AS c
WHERE {plain};
