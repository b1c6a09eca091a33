-- name: flow_transitions
-- grain: directly-follows pair of steps
-- depends_on: flow_visits
-- published_as: transitions
-- params: as_of, window_end, window_start
-- flow_transitions (grain: directly-follows pair of steps): consecutive visits of a case
-- (by seq; flow_visits.prev_step is the visit before's), how many times and in how many
-- cases, and the wait before the next visit: its queue time (its elapsed time in point
-- logs), so that a visit started while the previous one was still running waits zero, as
-- in `visits`. Measurement window: the pairs whose later visit ended inside it
-- (window.sql visit_in_window).
-- `cases` without a distinct count over every pair (5M visits: most of the model's time): a
-- case has one first visit (visit_no 1) to a step, so a pair at a first visit is the case's
-- only one there and each such visit is one case. Only a pair that also comes at a later
-- visit to the step (rework: a few percent of the visits) can repeat in a case; those cases
-- are counted apart, when the pair is not at their first visit to the step (among the
-- visits in the window, as every count here).
WITH pairs AS (
    SELECT case_id,
        prev_step AS from_step,
        step AS to_step,
        visit_no,
        coalesce(queue_time_s, elapsed_s) AS wait_s
    FROM flow_visits
    WHERE visit_in_window(end_ts) AND prev_step IS NOT NULL
),
again AS (  -- the pairs at a later visit to the step
    SELECT case_id, from_step, to_step FROM pairs WHERE visit_no > 1
),
again_only AS (  -- per pair, the cases that have it at a later visit and not at their first
    SELECT from_step, to_step, count(DISTINCT case_id) AS cases
    FROM again
    ANTI JOIN (
        SELECT case_id, from_step, to_step FROM pairs
        SEMI JOIN again USING (case_id, from_step, to_step)
        WHERE visit_no = 1
    ) AS f USING (case_id, from_step, to_step)
    GROUP BY from_step, to_step
),
per_pair AS (
    SELECT from_step, to_step,
        count(*) FILTER (WHERE visit_no = 1) AS first_cases,  -- the cases that have it at a first visit
        count(*) AS count,
        avg(wait_s) AS wait_mean_s,
        quantile_cont(wait_s, 0.5) AS wait_p50_s
    FROM pairs
    GROUP BY from_step, to_step
)
SELECT t.from_step, t.to_step,
    t.first_cases + coalesce(a.cases, 0) AS cases,
    t.count,
    t.wait_mean_s,
    t.wait_p50_s
FROM per_pair AS t
LEFT JOIN again_only AS a USING (from_step, to_step)
