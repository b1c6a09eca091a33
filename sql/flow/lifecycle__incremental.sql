-- name: flow_lifecycle
-- grain: lone lifecycle event
-- depends_on: flow_kept_cases, flow_lifecycle_built, flow_lifecycle_state, flow_owner_names
-- params: stream
-- when: incremental
-- flow_lifecycle of an incremental compute: those of the recomputed cases, and the stored
-- ones of the kept cases (flow_kept_cases).
SELECT * FROM flow_lifecycle_built
UNION ALL BY NAME
SELECT k.case_no AS case_id, s.step, s.ts, s.lifecycle, r.owner_no AS resource, t.owner_no AS team,
    s.source_line, s.ord, s.is_lone
FROM flow_lifecycle_state AS s
JOIN flow_kept_cases AS k USING (case_id)
LEFT JOIN flow_owner_names AS r ON r.name = s.resource
LEFT JOIN flow_owner_names AS t ON t.name = s.team
WHERE s.stream = $stream
