-- name: flow_step_ends
-- grain: step
-- depends_on: flow_visits
-- Where cases start and end (grain: step): cases visiting the step, and cases whose first /
-- last step it is, with each case's visits in the order they end (end_ts, NULLs last, then
-- seq), open cases included. The input of the start / end step inference
-- (pipeline/variant_steps.py: start_end_rule), which must see open cases too: judging ends
-- from completed cases only would be circular.
-- Speed: a case's first and last step are its arg_min / arg_max by that order, not the ends
-- of a path text: an ordered string_agg per case cost more than the rest together.
-- (variant_steps.start_end_steps counts the same from paths; tests compare the two.)
WITH per_case AS (
    SELECT case_id,
        arg_min(step, (end_ts IS NULL, coalesce(epoch_us(end_ts), 0), seq)) AS first_step,
        arg_max(step, (end_ts IS NULL, coalesce(epoch_us(end_ts), 0), seq)) AS last_step
    FROM flow_visits
    GROUP BY case_id
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
