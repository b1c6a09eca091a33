-- name: flow_event_days
-- grain: UTC day with events up to $as_of
-- depends_on: flow_events
-- params: as_of
-- flow_event_days (grain: UTC day with events up to $as_of): the day's first and last event.
-- What the quiet stretches of wip_*.sql need of the events, taken before flow_events is
-- dropped (event_findings.sql says why).
SELECT epoch_us(ts) // 86400000000 AS day, min(ts) AS first_ts, max(ts) AS last_ts
FROM flow_events
WHERE ts <= $as_of
GROUP BY day
