-- name: flow_unbalanced
-- grain: case and step
-- depends_on: flow_turns
-- when: log_shape = interval
-- The (case, step)s whose events do not take turns: only they need the general rule.
SELECT DISTINCT case_id, step FROM flow_turns WHERE NOT in_turn
