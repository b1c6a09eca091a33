-- Lead-time scatter: completed cases, at most $limit of them: a fixed sample (the smallest
-- hashes of the case id), so the same store always draws the same points.
--   exit_at:   when the case completed, wall-clock time in the stream's timezone ($timezone)
--   lead_days: lead time in days
SELECT
    timezone($timezone, exit_ts) AS exit_at,
    lead_time_s / 86400.0 AS lead_days
FROM cases
WHERE stream = $stream AND NOT is_open AND lead_time_s IS NOT NULL
ORDER BY hash(case_id), case_id
LIMIT $limit
