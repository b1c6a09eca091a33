-- name: flow_first_last_steps
-- grain: case
-- depends_on: flow_visits
-- when: engine != duckdb
-- flow_first_last_steps (grain: case): each case's first and last step, with its visits in
-- the order they end (end_ts, NULLs last, then seq), open cases included; step_ends.sql
-- counts them per step. Every engine but DuckDB runs this file; DuckDB its own variant
-- (first_last_steps__duckdb.sql), the same rows.
--   first_step  the step of the case's visit that ends first
--   last_step   the step of the case's visit that ends last (one still in process, if any)
-- Speed: arg_min / arg_max by that order, not the ends of a path text: an ordered
-- string_agg per case cost more than the rest together.
SELECT case_id,
    arg_min(step, (end_ts IS NULL, coalesce(epoch_us(end_ts), 0), seq)) AS first_step,
    arg_max(step, (end_ts IS NULL, coalesce(epoch_us(end_ts), 0), seq)) AS last_step
FROM flow_visits
GROUP BY case_id
