-- Lead time of completed cases (of the measurement window: stream_summary), beyond stream_summary's percentiles: one row.
--   completed: completed cases
--   max_days:  longest lead time (days)
--   p99_days:  99th percentile (days), where the charts' axes stop
SELECT
    count(*) AS completed,
    max(c.lead_time_s) / 86400.0 AS max_days,
    quantile_cont(c.lead_time_s, 0.99) / 86400.0 AS p99_days
FROM cases AS c
JOIN stream_summary AS s USING (stream)
WHERE c.stream = $stream AND NOT c.is_open AND c.lead_time_s IS NOT NULL
    AND (s."window" = 'all' OR (c.exit_ts >= s.window_start
        AND (c.exit_ts < s.window_end OR (s.window_end = s.as_of AND c.exit_ts <= s.as_of))))  -- completed in the measurement window
