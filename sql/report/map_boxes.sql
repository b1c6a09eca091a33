-- Boxes of the value stream map (grain: step drawn on the map): map_steps, main path and side
-- steps, with the step's figures from step_metrics. Steps folded into "other" have no row in
-- step_metrics, so their figures are NULL.
--   position, step, on_main_path, anchor_step, case_share, start_share, end_share: as in map_steps
--   entry_lane: as in map_steps, FALSE for rows computed before migration 019 (no lanes)
--   map_cases, map_visits: map_steps.cases / visits (completed cases only)
--   visits, resources, teams, queue_wip_avg, queue_time_p50_s, queue_time_mean_s,
--   queue_internal_mean_s, queue_external_mean_s, process_time_p50_s, process_time_mean_s,
--   first_pass_yield: as in step_metrics (all cases, open ones included)
--   queue_visits: the visits the queue figures are over (those with an observed start, of
--   the measurement window: ended in it, or in process when it reaches as_of;
--   step_metrics.sql), for the map's caption "over all N visits"
--   queue_time_bh_p50_s, process_time_bh_p50_s: the same p50s in business time (visits'
--   *_bh_s twins), only when the stream is measured with a calendar (some twin differs from
--   its elapsed value); NULL otherwise, and the map shows no business figures
WITH calendar AS (
    SELECT coalesce(bool_or(elapsed_bh_s <> elapsed_s OR process_time_bh_s <> process_time_s
                            OR queue_time_bh_s <> queue_time_s), FALSE) AS calendar
    FROM visits WHERE stream = $stream
)
SELECT
    m.position,
    m.step,
    m.on_main_path,
    m.anchor_step,
    m.case_share,
    m.start_share,
    m.end_share,
    coalesce(m.entry_lane, FALSE) AS entry_lane,
    m.cases AS map_cases,
    m.visits AS map_visits,
    s.visits,
    s.resources,
    s.teams,
    s.queue_wip_avg,
    s.queue_time_p50_s,
    s.queue_time_mean_s,
    s.queue_internal_mean_s,
    s.queue_external_mean_s,
    s.process_time_p50_s,
    s.process_time_mean_s,
    s.first_pass_yield,
    q.queue_visits,
    CASE WHEN c.calendar THEN q.queue_time_bh_p50_s END AS queue_time_bh_p50_s,
    CASE WHEN c.calendar THEN q.process_time_bh_p50_s END AS process_time_bh_p50_s
FROM map_steps AS m
LEFT JOIN step_metrics AS s ON s.stream = m.stream AND s.step = m.step
LEFT JOIN (
    -- the business p50s: read only with a calendar (two quantiles over every visit, else)
    SELECT v.step, count(*) FILTER (WHERE v.start_ts IS NOT NULL) AS queue_visits,
        quantile_cont(coalesce(v.queue_time_bh_s, 0), 0.5) FILTER (WHERE v.start_ts IS NOT NULL AND c.calendar)
            AS queue_time_bh_p50_s,
        quantile_cont(v.process_time_bh_s, 0.5) FILTER (WHERE c.calendar) AS process_time_bh_p50_s
    FROM visits AS v JOIN stream_summary AS w USING (stream) CROSS JOIN calendar AS c
    WHERE v.stream = $stream
        AND (w."window" = 'all'
             OR (v.end_ts IS NULL AND w.window_end = w.as_of)
             OR (v.end_ts >= w.window_start
                 AND (v.end_ts < w.window_end OR (w.window_end = w.as_of AND v.end_ts <= w.as_of))))
    GROUP BY v.step
) AS q ON q.step = m.step
CROSS JOIN calendar AS c
WHERE m.stream = $stream
ORDER BY m.position, m.step
