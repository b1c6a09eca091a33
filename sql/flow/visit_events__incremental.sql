-- name: flow_visit_events
-- grain: event
-- depends_on: flow_events, flow_recompute
-- when: incremental
-- flow_visit_events for an incremental compute (pipeline/incremental.py): the events of the
-- changed cases only (flow_recompute); the kept cases' visits are read back from the store.
SELECT e.*
FROM flow_events AS e
SEMI JOIN flow_recompute AS r ON r.case_no = e.case_id
