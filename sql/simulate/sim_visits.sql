-- sim_visits (grain: visit): the ended visits of a stream with what the current-state model
-- of vsm simulate samples from: process times (empirical, per step), external waits (status
-- logs: delays outside the team's control) and the start/end instants that give the work in
-- progress at each step (its capacity): the visits that ended in the stream's measurement
-- window, and those of the cases that completed in it. $stream.
WITH bounds AS (  -- the stream's measurement window (stream_summary: the whole history, or [flow] window)
    SELECT window_start AS ws, window_end AS we FROM stream_summary WHERE stream = $stream
)
SELECT
    step,
    case_id,
    ready_ts,                               -- became ready for the step
    start_ts,                               -- work started (NULL: not observed, point logs)
    end_ts,                                 -- work ended
    process_time_s,                         -- end_ts - start_ts
    coalesce(queue_external_s, 0) AS external_wait_s,  -- waiting on customer / vendor before the work
    queue_time_s,
    coalesce(paused_s, 0) AS paused_s,     -- between its work sessions: waiting, not working (a delay)
    elapsed_s,                              -- end_ts - ready_ts (what a step without observed starts takes)
    resource
FROM visits, bounds
WHERE stream = $stream AND end_ts IS NOT NULL AND (
    end_ts BETWEEN ws AND we
    -- and every visit of a case that completed in the window: each step its routing reaches
    -- has times, even a rare one only visited before the window opened
    OR case_id IN (
        SELECT case_id FROM cases, bounds
        WHERE stream = $stream AND NOT is_open AND exit_ts BETWEEN ws AND we
    )
)
ORDER BY step, end_ts, case_id
