-- flow_end_steps (grain: step): the steps that end cases. Configured ($end_steps) when
-- given; otherwise inferred from the cases' final visits (the visit that ends last): a
-- step is an end step when it is the final step of at least 5% of all cases and at least
-- a quarter of the cases that visit it end there. The first condition ignores steps where
-- a few open cases happen to stop; the second ignores busy steps that cases usually
-- continue from (BPIC 2012 ends in six different steps; road traffic fines cases waiting
-- after "Send Fine" stay open).
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
WHERE len($end_steps) = 0
  AND e.cases >= 0.05 * (SELECT count(DISTINCT case_id) FROM flow_visits)
  AND e.cases >= 0.25 * v.cases;
