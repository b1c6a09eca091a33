-- name: flow_stream_summary
-- grain: stream
-- depends_on: flow_cases, flow_end_steps, flow_littles_law, flow_stale_after, flow_status_classes, flow_step_metrics, flow_window, flow_wip_window
-- published_as: stream_summary
-- params: as_of, ends_inferred, log_shape, start_activities, step_by, target_s, window_end, window_start
-- flow_stream_summary (grain: stream): the headline figures of the map's summary box and
-- what the run inferred. Lead-time figures and flow efficiency are over completed cases.
-- end_activities: status logs: the statuses that end a case (the done statuses, or those of
-- them named in [flow] end_activities).
-- Measurement window (window.sql; `window` names it, window_start / window_end are its
-- span met with [first arrival, as_of]): the lead-time figures, flow efficiency and FPY are
-- over the cases that completed inside it; cases, open_cases, handoffs_per_case and
-- target_breached over the cases in the stream during it (arrived before it closed, not
-- exited before it opened), open_cases being those not completed by its close; WIP and
-- throughput are Little's Law's over it. With no window ('all') all of them are the whole
-- history's.
WITH completed AS (
    SELECT * FROM flow_cases WHERE NOT is_open AND in_window(exit_ts)
),
active AS (
    SELECT *, NOT is_open AND in_window(exit_ts) AS completed_in_window
    FROM flow_cases WHERE case_in_window(arrival_ts, exit_ts)
),
whole AS (
    SELECT * FROM flow_littles_law WHERE window_kind = 'all'
)
SELECT
    $log_shape AS log_shape,
    CAST($as_of AS TIMESTAMPTZ) AS as_of,
    coalesce((SELECT window_start FROM flow_wip_window), (SELECT min(arrival_ts) FROM flow_cases))
        AS window_start,
    coalesce((SELECT window_end FROM flow_wip_window), CAST($as_of AS TIMESTAMPTZ)) AS window_end,
    (SELECT label FROM flow_window) AS "window",  -- the measurement window: 'all', or its span
    (SELECT count(*) FROM active) AS cases,
    (SELECT count(*) FROM active WHERE NOT coalesce(completed_in_window, FALSE)) AS open_cases,  -- stale ones included
    (SELECT count(*) FROM completed) AS completed_cases,
    (SELECT avg(lead_time_s) FROM completed) AS lead_time_mean_s,
    (SELECT quantile_cont(lead_time_s, 0.5) FROM completed) AS lead_time_p50_s,
    (SELECT quantile_cont(lead_time_s, 0.85) FROM completed) AS lead_time_p85_s,
    (SELECT quantile_cont(lead_time_s, 0.95) FROM completed) AS lead_time_p95_s,
    (SELECT sum(process_time_s) FROM completed) AS process_time_total_s,
    (SELECT sum(process_time_s) / nullif(sum(lead_time_s), 0) FROM completed) AS flow_efficiency,
    (SELECT avg(CASE WHEN is_first_pass THEN 1.0 ELSE 0.0 END) FROM completed) AS first_pass_yield,
    -- the product of the steps' FPYs (0 when a step has FPY 0; NULL when no step has one), as
    -- exp(sum(ln)): product() is DuckDB's alone (a relative error of about 1e-15)
    (SELECT CASE WHEN count(first_pass_yield) = 0 THEN NULL
                 WHEN count(*) FILTER (WHERE first_pass_yield = 0) > 0 THEN 0.0
                 ELSE exp(sum(ln(CASE WHEN first_pass_yield > 0 THEN first_pass_yield END))) END
     FROM flow_step_metrics) AS rolled_fpy,
    (SELECT wip_avg FROM whole) AS wip_avg,
    (SELECT throughput_per_day FROM whole) AS throughput_per_day,
    (SELECT avg(handoffs) FROM active) AS handoffs_per_case,
    $start_activities AS start_activities,
    CASE WHEN $log_shape = 'status'
         THEN (SELECT string_agg(status, ', ' ORDER BY status) FROM flow_status_classes WHERE is_exit)
         ELSE (SELECT string_agg(step, ', ' ORDER BY step) FROM flow_end_steps) END AS end_activities,
    CAST($ends_inferred AS BOOLEAN) AS ends_inferred,
    CAST($target_s AS DOUBLE) AS lead_time_target_s,
    CASE WHEN $target_s IS NOT NULL THEN (SELECT count(*) FILTER (WHERE target_breached) FROM active) END
        AS target_breached,
    (SELECT count(*) FROM flow_cases WHERE is_stale) AS stale_cases,  -- open, quiet too long: not in WIP
    (SELECT stale_after_s FROM flow_stale_after) AS stale_after_s,
    -- what a step is: activity, team or team_activity (pipeline/flow.py choose_step_by)
    CAST($step_by AS VARCHAR) AS step_by
