-- The stream's activities (grain: activity): events, lifecycle starts and rows with a
-- start-time column; the input of step mapping, status classes and the log-shape guess.
SELECT
    activity,
    count(*) AS events,
    count(*) FILTER (WHERE lifecycle = 'start') AS starts,
    count(start_ts) AS with_start
FROM events
WHERE stream = $stream
GROUP BY activity
ORDER BY activity
