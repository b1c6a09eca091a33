-- Aging WIP columns: open cases per current step (all of them, not the chart's sample).
--   current_step: the step (or status) the open case is in now; '(none)' when unknown
--   open_cases:   open cases there
SELECT coalesce(current_step, '(none)') AS current_step, count(*) AS open_cases
FROM aging_wip
WHERE stream = $stream
GROUP BY ALL
ORDER BY open_cases DESC, current_step
