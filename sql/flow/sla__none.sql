-- name: flow_sla
-- grain: case and service level
-- depends_on: sla
-- published_as: sla
-- when: not sla
-- No service level ([[sla]] none): an empty flow_sla, the shape of `sla` (case_id a case number).
SELECT * EXCLUDE (stream) REPLACE (CAST(NULL AS INTEGER) AS case_id) FROM sla LIMIT 0
