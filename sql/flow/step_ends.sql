-- name: flow_step_ends
-- grain: step
-- depends_on: flow_first_last_steps, flow_visits
-- Where cases start and end (grain: step): cases visiting the step, and cases whose first /
-- last step it is, with each case's visits in the order they end (end_ts, NULLs last, then
-- seq), open cases included. The input of the start / end step inference
-- (pipeline/variant_steps.py: start_end_rule), which must see open cases too: judging ends
-- from completed cases only would be circular.
-- A case's first and last step in that order: flow_first_last_steps (first_last_steps.sql,
-- and DuckDB's variant). (variant_steps.start_end_steps counts the same from paths; tests
-- compare the two.)
WITH per_case AS (
    SELECT first_step, last_step FROM flow_first_last_steps
),
visiting AS (  -- a case's first visit to a step is its visit_no 1
    SELECT step, count(*) AS cases FROM flow_visits WHERE visit_no = 1 GROUP BY step
)
SELECT v.step,
    CAST(v.cases AS BIGINT) AS cases,
    CAST(coalesce(s.n, 0) AS BIGINT) AS starts,
    CAST(coalesce(e.n, 0) AS BIGINT) AS ends
FROM visiting AS v
LEFT JOIN (SELECT first_step AS step, count(*) AS n FROM per_case GROUP BY 1) AS s USING (step)
LEFT JOIN (SELECT last_step AS step, count(*) AS n FROM per_case GROUP BY 1) AS e USING (step)
