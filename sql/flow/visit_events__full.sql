-- name: flow_visit_events
-- grain: event
-- depends_on: flow_events
-- when: full
-- materialise: view
-- flow_visit_events: the events of the cases whose visits this compute builds (the per-case
-- models, raw_visits__*.sql to visits_built.sql, read them): a full compute's are all events.
SELECT * FROM flow_events
