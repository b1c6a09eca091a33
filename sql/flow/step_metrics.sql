-- name: flow_step_metrics
-- grain: step
-- depends_on: flow_batching, flow_owner_names, flow_step_wip_avg, flow_visits
-- published_as: step_metrics
-- params: as_of, window_end, window_start
-- flow_step_metrics (grain: step): volume, queue / process / elapsed time percentiles,
-- first-pass yield (cases visiting the step exactly once / cases visiting it), WIP and
-- batching (from flow_step_wip_avg and flow_batching).
-- Queue figures (mean, p50, p90 and the internal / external means) share one population:
-- every visit of the step whose start is observed, counting zero for a visit that started
-- at the case's arrival (nothing before it, queue_time_s NULL). So on a status log the
-- internal and external means add up to the queue mean. A step none of whose visits had
-- anything before it (the first step of every case) has its queue not observed: NULL.
-- Measurement window (window.sql): every figure is over the visits that ended inside
-- it (and those still in process when it reaches as_of); a step with none has no row. FPY
-- there: of the cases whose first visit to the step is among them (`cases`), those that
-- came back to it (a second visit among them) are not first pass. With no window this is
-- the whole history's, visit for visit.
WITH windowed AS (
    SELECT * FROM flow_visits WHERE visit_in_window(end_ts)
),
first_visits AS (  -- a case visiting the step has one visit_no 1, and a visit_no 2 if it came back
    SELECT step, count(*) AS cases FROM windowed WHERE visit_no = 1 GROUP BY step
),
came_back AS (  -- second visits of the cases counted in first_visits. With no window (both
    -- bounds NULL) every visit is in `windowed`, so each second visit's first one is too: they
    -- are counted as they are, and the join (5M visits: 0.4 s of CPU) finds no rows to match
    SELECT s.step, count(*) AS cases
    FROM (SELECT case_id, step FROM windowed WHERE visit_no = 2) AS s
    WHERE $window_start IS NULL AND $window_end IS NULL
    GROUP BY s.step
    UNION ALL
    SELECT s.step, count(*) AS cases
    FROM (SELECT case_id, step FROM windowed WHERE visit_no = 2) AS s
    SEMI JOIN (SELECT case_id, step FROM windowed
               WHERE visit_no = 1 AND NOT ($window_start IS NULL AND $window_end IS NULL)) AS f
        USING (case_id, step)
    WHERE NOT ($window_start IS NULL AND $window_end IS NULL)
    GROUP BY s.step
),
fpy AS (
    SELECT f.step, f.cases, (f.cases - coalesce(b.cases, 0)) / f.cases AS first_pass_yield
    FROM first_visits AS f LEFT JOIN came_back AS b USING (step)
),
team_rank AS (  -- team numbers follow their names' order (events.sql)
    SELECT step, string_agg(o.name, ', ' ORDER BY n DESC, team) AS teams
    FROM (SELECT step, team, count(*) AS n FROM windowed WHERE team IS NOT NULL GROUP BY step, team)
    JOIN flow_owner_names AS o ON o.owner_no = team
    GROUP BY step
),
times AS (
    SELECT step,
        count(*) AS visits,
        count(*) FILTER (WHERE is_rework) AS rework_visits,
        count(*) FILTER (WHERE in_process) AS in_process,
        count(queue_time_s) > 0 AS queue_observed,
        avg(coalesce(queue_time_s, 0)) FILTER (WHERE start_ts IS NOT NULL) AS queue_time_mean_all_s,
        quantile_cont(coalesce(queue_time_s, 0), 0.5) FILTER (WHERE start_ts IS NOT NULL) AS queue_time_p50_all_s,
        quantile_cont(coalesce(queue_time_s, 0), 0.9) FILTER (WHERE start_ts IS NOT NULL) AS queue_time_p90_all_s,
        avg(queue_internal_s) FILTER (WHERE start_ts IS NOT NULL) AS queue_internal_mean_all_s,
        avg(queue_external_s) FILTER (WHERE start_ts IS NOT NULL) AS queue_external_mean_all_s,
        avg(process_time_s) AS process_time_mean_s,
        quantile_cont(process_time_s, 0.5) AS process_time_p50_s,
        quantile_cont(process_time_s, 0.9) AS process_time_p90_s,
        avg(elapsed_s) AS elapsed_mean_s,
        quantile_cont(elapsed_s, 0.5) AS elapsed_p50_s,
        count(DISTINCT resource) AS resources
    FROM windowed GROUP BY step
)
SELECT
    t.step, t.visits, coalesce(f.cases, 0) AS cases, t.rework_visits, t.in_process,
    CASE WHEN t.queue_observed THEN t.queue_time_mean_all_s END AS queue_time_mean_s,
    CASE WHEN t.queue_observed THEN t.queue_time_p50_all_s END AS queue_time_p50_s,
    CASE WHEN t.queue_observed THEN t.queue_time_p90_all_s END AS queue_time_p90_s,
    CASE WHEN t.queue_observed THEN t.queue_internal_mean_all_s END AS queue_internal_mean_s,
    CASE WHEN t.queue_observed THEN t.queue_external_mean_all_s END AS queue_external_mean_s,
    t.process_time_mean_s, t.process_time_p50_s, t.process_time_p90_s,
    t.elapsed_mean_s, t.elapsed_p50_s,
    f.first_pass_yield,
    coalesce(w.queue_wip_avg, 0) + coalesce(w.active_wip_avg, 0) AS wip_avg,
    w.queue_wip_avg, w.active_wip_avg,
    t.resources, tr.teams,
    b.batch_share, b.batch_size_mean
FROM times AS t
LEFT JOIN fpy AS f USING (step)
LEFT JOIN team_rank AS tr USING (step)
LEFT JOIN flow_step_wip_avg AS w USING (step)
LEFT JOIN flow_batching AS b USING (step)
