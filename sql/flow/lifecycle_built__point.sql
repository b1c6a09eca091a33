-- name: flow_lifecycle_built
-- grain: lone lifecycle event
-- depends_on: flow_visit_events
-- when: log_shape = point
SELECT *, FALSE AS is_lone FROM flow_visit_events WHERE FALSE
