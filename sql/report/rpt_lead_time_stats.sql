-- Lead time of completed cases, beyond stream_summary's percentiles: one row.
--   completed: completed cases
--   max_days:  longest lead time (days)
--   p99_days:  99th percentile (days), where the charts' axes stop
SELECT
    count(*) AS completed,
    max(lead_time_s) / 86400.0 AS max_days,
    quantile_cont(lead_time_s, 0.99) / 86400.0 AS p99_days
FROM cases
WHERE stream = $stream AND NOT is_open AND lead_time_s IS NOT NULL
