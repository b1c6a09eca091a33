-- sim_lead_times (grain: completed case): the observed lead times the current-state
-- simulation must reproduce (vsm simulate's validation): the cases that completed in the
-- stream's measurement window, as stream_summary's lead times are. $stream.
WITH bounds AS (  -- the stream's measurement window (stream_summary: the whole history, or [flow] window)
    SELECT window_start AS ws, window_end AS we FROM stream_summary WHERE stream = $stream
)
SELECT lead_time_s FROM cases, bounds
WHERE stream = $stream AND NOT is_open AND lead_time_s IS NOT NULL AND exit_ts BETWEEN ws AND we
ORDER BY lead_time_s
