-- name: flow_lifecycle_built
-- grain: lone lifecycle event
-- depends_on: flow_visit_events
-- when: log_shape = status
-- Status logs have no lifecycle pairing: no lone completes.
SELECT *, FALSE AS is_lone FROM flow_visit_events WHERE FALSE
