-- sim_lead_times (grain: completed case): the observed lead times the current-state
-- simulation must reproduce (vsm simulate's validation). $stream.
SELECT lead_time_s FROM cases
WHERE stream = $stream AND NOT is_open AND lead_time_s IS NOT NULL
ORDER BY lead_time_s
