-- Little's Law panel: the whole window first, then each month (littles_law).
--   every column as in littles_law
SELECT
    window_kind, window_start, window_end, wip_avg, wip_start, wip_end, arrivals, departures,
    throughput_per_day, lead_time_mean_s, predicted_wip, ratio, verdict, why
FROM littles_law
WHERE stream = $stream
ORDER BY window_kind = 'month', window_start
