-- Lead-time scatter: completed cases (of the measurement window: stream_summary), at most $limit of them: a fixed sample (the smallest
-- hashes of the case id), so the same store always draws the same points.
--   exit_at:   when the case completed, wall-clock time in the stream's timezone ($timezone)
--   lead_days: lead time in days
SELECT
    timezone($timezone, c.exit_ts) AS exit_at,
    c.lead_time_s / 86400.0 AS lead_days
FROM cases AS c
JOIN stream_summary AS s USING (stream)
WHERE c.stream = $stream AND NOT c.is_open AND c.lead_time_s IS NOT NULL
    AND (s."window" = 'all' OR (c.exit_ts >= s.window_start
        AND (c.exit_ts < s.window_end OR (s.window_end = s.as_of AND c.exit_ts <= s.as_of))))  -- completed in the measurement window
ORDER BY hash(c.case_id), c.case_id
LIMIT $limit
