-- Top variants table: the $top most frequent step sequences of completed cases.
--   rank, steps, step_count, cases, share, lead_time_mean_s, lead_time_share: as in variants
SELECT rank, steps, step_count, cases, share, lead_time_mean_s, lead_time_share
FROM variants
WHERE stream = $stream
ORDER BY rank
LIMIT $top
