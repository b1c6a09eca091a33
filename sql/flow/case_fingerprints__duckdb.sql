-- name: flow_case_fingerprints
-- grain: case of the stream
-- depends_on: events
-- params: stream
-- when: engine = duckdb
-- The DuckDB engine's variant of case_fingerprints.sql (the portable model, which every other engine
-- runs): DuckDB's hash() instead of the portable md5 digest, which costs more there
-- (measured in /work/notes/s6/h22r-report.md); the same rows but for the digest's numbers.
-- flow_case_fingerprints (grain: case of the stream): what the case's events are now, to tell
-- which cases changed since the last compute (pipeline/incremental.py): how many events, and
-- the sum of a 64-bit hash of each event's row (every column the case's visits are built
-- from, and the load that wrote it; not the attributes: only handoff_counter.sql reads
-- them, over every event each compute). A sum, not an xor: two equal events do not cancel. A
-- new, replaced (event key, migration 008: a new run_id) or removed event changes it; an
-- event loaded by a run that was killed before its compute is seen here, whatever the runs
-- table says.
SELECT case_id,
    count(*) AS events,
    sum(CAST(hash(event_id, activity, ts, lifecycle, resource, team, start_ts, sequence, source_line,
                  run_id) AS HUGEINT)) AS fingerprint
FROM events
WHERE stream = $stream
GROUP BY case_id
