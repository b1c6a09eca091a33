-- name: flow_handoffs
-- grain: pair of teams
-- depends_on: flow_handoff_pairs
-- published_as: handoffs
-- params: as_of, window_end, window_start
-- flow_handoffs (grain: pair of teams): how often work passed from one team to another
-- (resources where there is no team), over all cases: the handoffs of flow_handoff_pairs
-- (handoff_pairs.sql: between events in status logs, between visits otherwise). Measurement
-- window: the handoffs made inside it (the event, or the start of the visit, that took the case).
SELECT
    from_owner AS from_team,           -- team (else resource) that had the case
    to_owner AS to_team,               -- team (else resource) it passed to
    count(*) AS count,                 -- handoffs
    count(DISTINCT case_id) AS cases   -- cases with at least one
FROM flow_handoff_pairs
WHERE kind = 'handoff' AND in_window(ts)
GROUP BY from_owner, to_owner
