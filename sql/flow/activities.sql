-- name: flow_activities
-- grain: activity
-- depends_on: events
-- params: stream
-- The stream's activities (grain: activity): events, lifecycle starts, rows with a
-- start-time column and rows with a team; the input of step mapping, status classes, the
-- log-shape guess and the [flow] step_by choice.
SELECT
    activity,
    count(*) AS events,
    count(*) FILTER (WHERE lifecycle = 'start') AS starts,
    count(start_ts) AS with_start,
    count(team) AS with_team
FROM events
WHERE stream = $stream
GROUP BY activity
ORDER BY activity
