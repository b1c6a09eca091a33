-- name: flow_boundary_events
-- grain: boundary event
-- depends_on: flow_boundary_markers, flow_case_bounds
SELECT s.case_id, s.ord, s.side, s.activity
FROM (
    SELECT case_id, 'start' AS side, first_ord AS ord, first_activity AS activity FROM flow_case_bounds
    UNION ALL
    SELECT case_id, 'end', last_ord, last_activity FROM flow_case_bounds
) AS s
SEMI JOIN flow_boundary_markers AS m ON m.side = s.side AND m.activity = s.activity
