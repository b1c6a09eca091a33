-- cmp_ended_visits (grain: visit): the visits of a stream that ended inside a window
-- [$start, $end) (NULL bounds: unbounded): the cohort of the per-step figures in a comparison.
-- Visits still in process have not ended and are in no window.
--   step, case_id, visit_no, queue_time_s, process_time_s: as in visits
--   queue_population: the visit counts in the step's queue figures (its start is observed;
--   step_metrics.sql), with queue_time_s read as 0 where nothing preceded it
SELECT
    step,
    case_id,
    visit_no,
    start_ts IS NOT NULL AS queue_population,
    queue_time_s,
    process_time_s,
    resource,
    team
FROM visits
WHERE stream = $stream
    AND end_ts IS NOT NULL
    AND ($start IS NULL OR end_ts >= $start)
    AND ($end IS NULL OR end_ts < $end)
ORDER BY step, case_id, visit_no
