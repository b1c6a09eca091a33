-- name: flow_visit_pauses
-- grain: visit with pauses between its work sessions
-- depends_on: flow_session_visits
-- when: any_calendar
-- The pauses of the visits that have any (interval logs: a few; session_visits__interval.sql),
-- by (case, visit_key), for their business time in visits_built.sql. Apart from the visits:
-- a list column carried through the sequencing window and its join cost more than the rest
-- of it, and flow_session_visits can go as soon as the visits are sequenced.
-- Only where a calendar is (its one reader, visits_built.sql, the same `when`): a model
-- that may read flow_session_visits and is never built would hold it to the end.
SELECT case_id, visit_key, pauses
FROM flow_session_visits
WHERE pauses IS NOT NULL
