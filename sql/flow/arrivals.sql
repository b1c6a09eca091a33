-- name: flow_arrivals
-- grain: case
-- depends_on: flow_events
-- params: start_steps
-- flow_arrivals (grain: case): when each case arrived: its first event at a configured
-- start activity ($start_steps, activity or step names), else its first event. An event's
-- time is the earliest it tells: its start where a start-time column gives one (a row of
-- an interval log is a whole visit, which began at its start, not at its end), else its
-- timestamp. So in every interval log the arrival is the earliest of any event time and
-- any start, and no visit of the case begins before its arrival.
-- last_event_ts: the case's latest event (of any activity, dropped ones included): how long
-- it has been quiet, for the stale rule (cases_elapsed.sql).
SELECT
    case_id,
    coalesce(
        min(least(ts, start_ts)) FILTER (
            WHERE list_contains($start_steps, activity) OR list_contains($start_steps, step)),
        min(least(ts, start_ts))
    ) AS arrival_ts,
    max(ts) AS last_event_ts
FROM flow_events
GROUP BY case_id
