-- name: flow_owner_names
-- grain: resource or team name
-- depends_on: events
-- params: stream
SELECT CAST(row_number() OVER (ORDER BY name) AS INTEGER) AS owner_no, name
FROM (
    SELECT resource AS name FROM events WHERE stream = $stream AND resource IS NOT NULL
    UNION
    SELECT team FROM events WHERE stream = $stream AND team IS NOT NULL
)
