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
WITH pairs AS (
    SELECT case_id,
        prev_step AS from_step,
        step AS to_step,
        coalesce(queue_time_s, elapsed_s) AS wait_s
    FROM flow_visits
    WHERE visit_in_window(end_ts)
)
SELECT from_step, to_step,
    count(DISTINCT case_id) AS cases,
    count(*) AS count,
    avg(wait_s) AS wait_mean_s,
    quantile_cont(wait_s, 0.5) AS wait_p50_s
FROM pairs
WHERE from_step IS NOT NULL
GROUP BY from_step, to_step
