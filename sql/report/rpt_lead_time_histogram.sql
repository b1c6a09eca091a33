-- Lead-time histogram: completed cases per bin of $bin_days days; the last of the $bins bins
-- also holds every longer lead time.
--   bin:        0, 1, ...: bin i covers [i * $bin_days, (i + 1) * $bin_days) days
--   cases:      completed cases in the bin
--   open_ended: the bin holds lead times beyond its upper edge (the last bin only)
SELECT
    CAST(least(floor(lead_time_s / 86400.0 / $bin_days), $bins - 1) AS INTEGER) AS bin,
    count(*) AS cases,
    bool_or(lead_time_s / 86400.0 >= $bins * $bin_days) AS open_ended
FROM cases
WHERE stream = $stream AND NOT is_open AND lead_time_s IS NOT NULL
GROUP BY ALL
ORDER BY bin
