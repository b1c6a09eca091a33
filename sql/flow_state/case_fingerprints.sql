-- flow_case_fingerprints (grain: case of the stream): what the case's events are now, to tell
-- which cases changed since the last compute (pipeline/incremental.py): how many events, and
-- the sum of a 64-bit hash of each event's row (every column the case's visits are built
-- from, and the load that wrote it; not the attributes: only int_handoff_counter.sql reads
-- them, over every event each compute). A sum, not an xor: two equal events do not cancel. A
-- new, replaced (event key, migration 008: a new run_id) or removed event changes it; an
-- event loaded by a run that was killed before its compute is seen here, whatever the runs
-- table says.
CREATE OR REPLACE TEMP TABLE flow_case_fingerprints AS
SELECT case_id,
    count(*) AS events,
    sum(CAST(hash(event_id, activity, ts, lifecycle, resource, team, start_ts, sequence, source_line,
                  run_id) AS HUGEINT)) AS fingerprint
FROM events
WHERE stream = $stream
GROUP BY case_id;

-- flow_recompute (grain: case to recompute, by its number in flow_case_names): with
-- $full, every case; else the cases whose fingerprint differs from the stored one, or
-- that are new. flow_kept_cases: the others, by text, whose stored visits are read back.
CREATE OR REPLACE TEMP TABLE flow_recompute AS
SELECT k.case_no
FROM flow_case_fingerprints AS f
JOIN flow_case_names AS k USING (case_id)
LEFT JOIN flow_case_state AS s ON s.stream = $stream AND s.case_id = f.case_id
WHERE $full OR s.case_id IS NULL OR s.events <> f.events OR s.fingerprint <> f.fingerprint;

CREATE OR REPLACE TEMP TABLE flow_kept_cases AS
SELECT k.case_id, k.case_no
FROM flow_case_names AS k
ANTI JOIN flow_recompute AS r USING (case_no);
