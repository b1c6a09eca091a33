-- name: flow_kept_steps
-- grain: step
-- depends_on: visits
-- params: stream
-- when: incremental and log_shape = status or incremental and step_by = team
-- flow_kept_steps (kept_steps__map.sql): a status log's steps (statuses merged by
-- [status_classes]) and a team's steps are text in the built visits, as in the store.
SELECT DISTINCT step FROM visits WHERE stream = $stream
