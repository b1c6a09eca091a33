-- name: flow_aging_wip
-- grain: open case at $as_of
-- depends_on: flow_cases, flow_status_periods, flow_visits
-- published_as: aging_wip
-- params: as_of, step_by, window_end
-- flow_aging_wip (grain: open case at $as_of): where each open case is now, how long it has
-- been in the stream and in its current place, and how its age compares with the lead times
-- of completed cases.
-- Current place, first that applies:
--   stale:      the case is stale (flow_cases.is_stale: no event for longer than
--               stale_after); current_step and time_in_step_s as below. Not in WIP.
--   waiting:    (status logs) its current status is a wait status; current_step is that
--               status's name, entered when the case entered the status. With steps by
--               team ([flow] step_by = "team") the case is waiting AT its current team: the
--               step is the team's visit still open, entered when the team got the case.
--   in process: it has a visit started and not ended; the latest-started such visit is its
--               current step, entered at that start (steps by team: when the team got it;
--               a team visit's start_ts is a bookkeeping instant, raw_visits__team.sql).
--   queued:     otherwise it is between steps: current_step is the step it left last (the
--               visit that ended last), i.e. "queued after <current_step>", entered at that
--               visit's end; a case with no ended visit is queued since its arrival, with no
--               current step.
-- age_percentile: one sort over completed lead times and open ages together (opens first at
-- equal values, so a lead time equal to the age does not count as below); no per-case scan.
-- Speed: the visits are grouped for the open cases only (SEMI JOIN open_cases), not for every
-- case and then joined to the few open ones (10M events: 775k cases grouped for the 8.4k open).
-- Measurement window (window.sql): a window that closes before as_of takes the picture
-- at its close (window_close()): the cases open then (arrived before it, exit at or after
-- it), each where it was then (a visit started before and not ended by then, a wait status
-- entered before and not left, the visit that ended last before), aged to then, against
-- the lead times of the cases completed before then. 'stale' stays as judged at as_of (a
-- stale case is out of WIP throughout). With no window, or one reaching as_of: at as_of.
WITH open_cases AS (
    SELECT case_id, arrival_ts, is_stale, seconds_between(arrival_ts, window_close()) AS age_s
    FROM flow_cases
    WHERE CASE WHEN window_reaches_as_of() THEN is_open
               ELSE arrival_ts < window_close() AND (exit_ts IS NULL OR exit_ts >= window_close()) END
),
in_process AS (
    SELECT case_id, arg_max(step, (start_ts, seq)) AS step,
        CASE WHEN $step_by = 'team' THEN arg_max(coalesce(ready_ts, start_ts), (start_ts, seq))
             ELSE max(start_ts) END AS entered_ts
    FROM flow_visits
    SEMI JOIN open_cases USING (case_id)
    WHERE CASE WHEN window_reaches_as_of() THEN in_process
               ELSE start_ts < window_close() AND (end_ts IS NULL OR end_ts >= window_close()) END
    GROUP BY case_id
),
waiting AS (  -- status logs only: the current (not yet left) period, when it is a wait status
    SELECT case_id, status AS step, entered_ts
    FROM flow_status_periods
    WHERE status_class = 'wait'
        AND CASE WHEN window_reaches_as_of() THEN left_ts IS NULL
                 ELSE entered_ts < window_close() AND (left_ts IS NULL OR left_ts >= window_close()) END
),
last_ended AS (
    SELECT case_id, arg_max(step, (end_ts, seq)) AS step, max(end_ts) AS entered_ts
    FROM flow_visits
    SEMI JOIN open_cases USING (case_id)
    WHERE end_ts IS NOT NULL AND (window_reaches_as_of() OR end_ts < window_close())
    GROUP BY case_id
),
ages_and_leads AS (
    SELECT case_id, age_s AS t, 0 AS is_completed FROM open_cases
    UNION ALL
    SELECT NULL, lead_time_s, 1 FROM flow_cases
    WHERE NOT is_open AND lead_time_s IS NOT NULL AND (window_reaches_as_of() OR exit_ts < window_close())
),
ranked AS (
    SELECT case_id,
        sum(is_completed) OVER (ORDER BY t, is_completed ROWS UNBOUNDED PRECEDING) AS completed_below
    FROM ages_and_leads
)
SELECT
    o.case_id,
    -- step in process (or the team the case waits at), wait status, or the step it is queued after
    CASE WHEN p.case_id IS NOT NULL THEN p.step
         WHEN w.case_id IS NOT NULL THEN w.step
         ELSE d.step END AS current_step,
    -- stale | waiting | in process | queued (a work-status visit in process has no current
    -- wait status: both apply only to a team's visit, where the case waits inside it)
    CASE WHEN o.is_stale THEN 'stale'
         WHEN w.case_id IS NOT NULL THEN 'waiting'
         WHEN p.case_id IS NOT NULL THEN 'in process'
         ELSE 'queued' END AS current_state,
    o.arrival_ts,
    -- window_close() (as_of, or the window's close) - arrival
    o.age_s,
    -- window_close() - when it entered its current step / status / queue
    seconds_between(CASE WHEN p.case_id IS NOT NULL THEN p.entered_ts
                         WHEN w.case_id IS NOT NULL THEN w.entered_ts
                         ELSE coalesce(d.entered_ts, o.arrival_ts) END,
                    window_close()) AS time_in_step_s,
    -- share of completed cases whose lead time is below this age; NULL when none completed
    CAST(r.completed_below AS DOUBLE)
        / nullif((SELECT count(*) FROM ages_and_leads WHERE is_completed = 1), 0)
        AS age_percentile
FROM open_cases AS o
JOIN ranked AS r ON r.case_id = o.case_id
LEFT JOIN in_process AS p ON p.case_id = o.case_id
LEFT JOIN waiting AS w ON w.case_id = o.case_id
LEFT JOIN last_ended AS d ON d.case_id = o.case_id
