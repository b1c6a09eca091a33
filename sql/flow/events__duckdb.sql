-- name: flow_events
-- grain: event
-- depends_on: events, flow_case_names, flow_owner_names, flow_step_map
-- params: stream
-- when: engine = duckdb
-- The DuckDB engine's variant of events.sql (the portable model, which every other engine
-- runs; it says what each column is): the same rows, `ord` worked out in 128-bit integers
-- (HUGEINT) and cast to its DECIMAL(38, 0) once, instead of six DECIMAL operations per event,
-- each checked for overflow (10M events: 0.2 s of CPU). Spark has no 128-bit integer. Every
-- intermediate value is below 2^126 (events.sql's layout), so both are exact and equal.
SELECT
    k.case_no AS case_id,
    m.activity,                      -- ENUM of the activities (pipeline/engine.py: ENUMs)
    m.step,                          -- NULL when the activity is dropped from the map (ENUM too)
    e.ts,
    e.lifecycle,
    r.owner_no AS resource,          -- numbers of flow_owner_names
    t.owner_no AS team,
    e.start_ts,
    tie_key(e.sequence, e.source_line) AS source_line,  -- the tie key (events.sql)
    CASE WHEN e.sequence BETWEEN 0 AND 16777215 THEN e.sequence END AS sequence,  -- as it orders ties
    CAST(((CAST(epoch_us(e.ts) AS HUGEINT) * 2 + CASE WHEN e.lifecycle = 'start' THEN 0 ELSE 1 END)
        * CAST(1099511627776 AS HUGEINT) + tie_key(e.sequence, e.source_line))
        * CAST(4294967296 AS HUGEINT) + e.run_id AS DECIMAL(38, 0)) AS ord
FROM events AS e
JOIN flow_step_map AS m ON m.activity = e.activity
JOIN flow_case_names AS k USING (case_id)
LEFT JOIN flow_owner_names AS r ON r.name = e.resource
LEFT JOIN flow_owner_names AS t ON t.name = e.team
WHERE e.stream = $stream
