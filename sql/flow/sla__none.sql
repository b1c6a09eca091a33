-- name: flow_sla
-- grain: case and service level
-- depends_on: sla
-- published_as: sla
-- when: not sla
-- No service level ([[sla]] none): an empty flow_sla, the shape of `sla` (case_id a case number;
-- its columns named, as Spark has no * REPLACE: a column added to `sla` must be added here, or
-- the publish fails saying so).
SELECT CAST(NULL AS INTEGER) AS case_id, sla, start_ts, stop_ts, elapsed_s, business_s, paused_s, target_s,
    state, breached_at
FROM sla
LIMIT 0
