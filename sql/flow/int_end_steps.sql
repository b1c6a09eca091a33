-- flow_end_steps (grain: step): the steps that end cases. Configured ($end_steps) when
-- given; otherwise inferred: a step is an end step when at least half of the cases that
-- visit it have it as their final visit (the visit that ends last).
CREATE OR REPLACE TEMP TABLE flow_end_steps AS
WITH final AS (
    SELECT case_id, arg_max(step, (end_ts, seq)) AS step
    FROM flow_visits WHERE end_ts IS NOT NULL
    GROUP BY case_id
),
visiting AS (
    SELECT step, count(DISTINCT case_id) AS cases FROM flow_visits GROUP BY step
),
ending AS (
    SELECT step, count(*) AS cases FROM final GROUP BY step
)
SELECT step, FALSE AS inferred
FROM (SELECT DISTINCT step FROM flow_events WHERE step IS NOT NULL) AS s
WHERE len($end_steps) > 0
  AND (list_contains($end_steps, step)
       OR step IN (SELECT step FROM flow_events WHERE list_contains($end_steps, activity)))
UNION ALL
SELECT v.step, TRUE AS inferred
FROM visiting AS v JOIN ending AS e USING (step)
WHERE len($end_steps) = 0 AND e.cases >= 0.5 * v.cases;
