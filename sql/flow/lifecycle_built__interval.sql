-- name: flow_lifecycle_built
-- grain: lone lifecycle event
-- depends_on: flow_lifecycle_all
-- when: log_shape = interval
-- Once paired, only the lone completes are read (quality findings).
SELECT case_id, step, ts, lifecycle, resource, team, source_line, ord, is_lone
FROM flow_lifecycle_all WHERE is_lone
