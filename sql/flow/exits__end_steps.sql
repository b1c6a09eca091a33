-- name: flow_exits
-- grain: case
-- depends_on: flow_end_steps, flow_visits
-- when: log_shape != status
-- flow_exits (grain: case) for interval and point logs: a case exits at the end of its LAST
-- visit to an end step (flow_end_steps), even when other visits end after it:
--   - a visit that started before that end and ends after it (a parallel step finishing
--     later) is not the case's: not in its lead time, path or process time;
--   - after a terminal end step (configured, or one where most cases that reach it stop),
--     any later visit is trailing work (a closing letter, a late event) and does not reopen
--     the case either;
--   - after an end step where most cases go on (inferred because enough cases stop there),
--     a completed visit that STARTED after it means the case went on: that end is not its
--     exit (a later end step may be);
--   - a visit still in process: one started at or after the exit does not keep the case open
--     (a start never completed after the end); one started before it does (unfinished work).
-- An automatic close (an inferred terminal end step the system reaches by itself a fixed time
-- after the case became ready for it: flow_end_steps.is_automatic_close) counts at its
-- ready_ts, the end of the visit before it: its own visit then ends after the exit and is
-- not the case's either (quality finding automatic_close, not work_after_exit).
-- Visits left out are reported (quality finding work_after_exit). A case with no ended visit
-- to an end step that qualifies is open. A visit's start is its end where none is observed
-- (point visits).
WITH per_case AS (
    SELECT v.case_id,
        -- an automatic close ends the case when the case became ready for it (the end of the
        -- visit before): the wait for it is not lead time; a repeat of the close right after it
        -- (a second close event) adds nothing
        max(CASE WHEN NOT e.is_automatic_close THEN v.end_ts
                 WHEN v.end_ts IS NOT NULL AND v.prev_step IS DISTINCT FROM v.step
                     THEN coalesce(v.ready_ts, v.end_ts)
            END) FILTER (WHERE e.is_terminal) AS terminal_exit_ts,
        -- the latest start of a completed visit: a non-terminal end is an exit only after it
        max(coalesce(v.start_ts, v.end_ts)) FILTER (WHERE v.end_ts IS NOT NULL) AS last_work_start_ts,
        min(v.start_ts) FILTER (WHERE v.in_process) AS first_open_start_ts
    FROM flow_visits AS v
    LEFT JOIN flow_end_steps AS e USING (step)
    GROUP BY v.case_id
),
other_ends AS (
    SELECT v.case_id, max(v.end_ts) AS exit_ts
    FROM flow_visits AS v
    JOIN flow_end_steps AS e USING (step)
    JOIN per_case AS p USING (case_id)
    WHERE NOT e.is_terminal AND v.end_ts >= p.last_work_start_ts
    GROUP BY v.case_id
),
exits AS (
    SELECT p.case_id, greatest(p.terminal_exit_ts, o.exit_ts) AS exit_ts, p.first_open_start_ts
    FROM per_case AS p LEFT JOIN other_ends AS o USING (case_id)
)
SELECT case_id, exit_ts
FROM exits
WHERE exit_ts IS NOT NULL
  AND (first_open_start_ts IS NULL OR first_open_start_ts >= exit_ts)
