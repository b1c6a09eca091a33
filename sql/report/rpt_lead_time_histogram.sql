-- Lead-time histogram: completed cases (of the measurement window: stream_summary) per bin of $bin_days days; the last of the $bins bins
-- also holds every longer lead time.
--   bin:        0, 1, ...: bin i covers [i * $bin_days, (i + 1) * $bin_days) days
--   cases:      completed cases in the bin
--   open_ended: the bin holds lead times beyond its upper edge (the last bin only)
SELECT
    CAST(least(floor(c.lead_time_s / 86400.0 / $bin_days), $bins - 1) AS INTEGER) AS bin,
    count(*) AS cases,
    bool_or(c.lead_time_s / 86400.0 >= $bins * $bin_days) AS open_ended
FROM cases AS c
JOIN stream_summary AS s USING (stream)
WHERE c.stream = $stream AND NOT c.is_open AND c.lead_time_s IS NOT NULL
    AND (s."window" = 'all' OR (c.exit_ts >= s.window_start
        AND (c.exit_ts < s.window_end OR (s.window_end = s.as_of AND c.exit_ts <= s.as_of))))  -- completed in the measurement window
GROUP BY ALL
ORDER BY bin
