-- name: flow_first_last_steps
-- grain: case
-- depends_on: flow_visits
-- when: engine = duckdb
-- The DuckDB engine's variant of first_last_steps.sql (the portable model, which every other
-- engine runs): the same rows, the visits' order (end_ts, NULLs last, then seq) packed into
-- one 128-bit integer instead of a STRUCT: DuckDB's arg_min / arg_max compare a STRUCT key
-- through a sort key built per row, a HUGEINT directly (10M events, 5M visits: 1.2 -> 0.8 s
-- of CPU). Spark has no 128-bit integer. Layout: the microseconds since 1970 (signed, within
-- 2^63) times 2^32, plus seq (a case's visit number, below 2^31); a visit with no end gets
-- 2^96 instead of its time, above any instant.
--   first_step  the step of the case's visit that ends first
--   last_step   the step of the case's visit that ends last (one still in process, if any)
SELECT case_id,
    arg_min(step, CASE WHEN end_ts IS NULL THEN CAST(1 AS HUGEINT) << 96
                       ELSE CAST(epoch_us(end_ts) AS HUGEINT) * 4294967296 END + seq) AS first_step,
    arg_max(step, CASE WHEN end_ts IS NULL THEN CAST(1 AS HUGEINT) << 96
                       ELSE CAST(epoch_us(end_ts) AS HUGEINT) * 4294967296 END + seq) AS last_step
FROM flow_visits
GROUP BY case_id
