-- cmp_completed_cases (grain: case): the cases of a stream that completed inside a window
-- [$start, $end) (NULL bounds: unbounded): the cohort of lead time, first-pass yield, rework
-- share, handoffs per case and throughput in a comparison.
--   case_id, lead_time_s, is_first_pass, visits, rework_visits, handoffs, process_time_s: as in cases
--   steps: the case's variant (its steps joined by ' > '), for the window's map
SELECT
    c.case_id,
    c.lead_time_s,
    c.is_first_pass,
    c.visits,
    c.rework_visits,
    c.handoffs,
    c.process_time_s,
    v.steps
FROM cases AS c
LEFT JOIN variants AS v ON v.stream = c.stream AND v.variant_id = c.variant_id
WHERE c.stream = $stream
    AND c.exit_ts IS NOT NULL
    AND ($start IS NULL OR c.exit_ts >= $start)
    AND ($end IS NULL OR c.exit_ts < $end)
ORDER BY c.case_id
