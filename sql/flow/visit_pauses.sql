-- name: flow_visit_pauses
-- grain: visit with pauses between its work sessions
-- depends_on: flow_session_visits
-- The pauses of the visits that have any (interval logs: a few; session_visits__interval.sql),
-- by (case, visit_key), for their business time in visits_built.sql. Apart from the visits:
-- a list column carried through the sequencing window and its join cost more than the rest
-- of it, and flow_session_visits can go as soon as the visits are sequenced.
SELECT case_id, visit_key, pauses
FROM flow_session_visits
WHERE pauses IS NOT NULL
