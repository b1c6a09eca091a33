-- name: flow_case_fingerprints
-- grain: case of the stream
-- depends_on: events
-- params: stream
-- when: engine != duckdb
-- flow_case_fingerprints (grain: case of the stream): what the case's events are now, to tell
-- which cases changed since the last compute (pipeline/incremental.py): how many events, and
-- the sum of a 60-bit digest of each event's row (every column the case's visits are built
-- from, and the load that wrote it; not the attributes: only handoff_counter.sql reads
-- them, over every event each compute). A sum, not an xor: two equal events do not cancel. A
-- new, replaced (event key, migration 008: a new run_id) or removed event changes it; an
-- event loaded by a run that was killed before its compute is seen here, whatever the runs
-- table says.
-- The digest is portable (the same number on every engine): the first 15 hex digits of the
-- md5 of the row's text, instants as epoch microseconds, each value prefixed with '=' so
-- that NULL ('') and an empty text differ; summed as DECIMAL(38, 0) (2^60 x 2^38 events).
-- hash() would be faster, but it is another function on every engine.
SELECT case_id,
    count(*) AS events,
    sum(CAST(CAST('0x' || substr(md5(
        coalesce('=' || CAST(event_id AS VARCHAR), '') || '|' || coalesce('=' || CAST(activity AS VARCHAR), '')
        || '|' || coalesce('=' || CAST(epoch_us(ts) AS VARCHAR), '') || '|' || coalesce('=' || lifecycle, '')
        || '|' || coalesce('=' || resource, '') || '|' || coalesce('=' || team, '')
        || '|' || coalesce('=' || CAST(epoch_us(start_ts) AS VARCHAR), '')
        || '|' || coalesce('=' || CAST(sequence AS VARCHAR), '') || '|' || coalesce('=' || CAST(source_line AS VARCHAR), '')
        || '|' || coalesce('=' || CAST(run_id AS VARCHAR), '')
    ), 1, 15) AS BIGINT) AS DECIMAL(38, 0))) AS fingerprint
FROM events
WHERE stream = $stream
GROUP BY case_id
