-- name: flow_step_wip_avg
-- grain: step
-- depends_on: flow_cases, flow_visits, flow_wip_window
-- flow_step_wip_avg (grain: step): time in queue / active clipped to the window, divided
-- by the window's length (NULL when the window has no length).
WITH clipped AS (
    SELECT v.step, v.start_ts,
        CASE WHEN v.ready_ts IS NOT NULL THEN greatest(0,
            epoch(least(coalesce(v.start_ts, v.end_ts), w.window_end)) - epoch(greatest(v.ready_ts, w.window_start)))
        END AS queue_s,
        CASE WHEN v.start_ts IS NOT NULL THEN greatest(0,
            epoch(least(coalesce(v.end_ts, w.window_end), w.window_end)) - epoch(greatest(v.start_ts, w.window_start)))
        END AS active_s,
        epoch(w.window_end) - epoch(w.window_start) AS window_s
    FROM flow_visits AS v CROSS JOIN flow_wip_window AS w
    ANTI JOIN (SELECT case_id FROM flow_cases WHERE is_stale) AS s USING (case_id)
)
SELECT
    step,
    coalesce(sum(queue_s), 0) / nullif(any_value(window_s), 0) AS queue_wip_avg,
    CASE WHEN count(start_ts) > 0 THEN coalesce(sum(active_s), 0) / nullif(any_value(window_s), 0) END
        AS active_wip_avg  -- NULL: no visit of the step has an observed start
FROM clipped
GROUP BY step
