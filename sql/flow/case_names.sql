-- name: flow_case_names
-- grain: case
-- depends_on: events
-- params: stream
-- flow_case_names (grain: case): each case's number, in the order of the case texts; the
-- flow carries the number, the text comes back where it is shown (events.sql explains why).
SELECT CAST(row_number() OVER (ORDER BY case_id) AS INTEGER) AS case_no, case_id
FROM (SELECT DISTINCT case_id FROM events WHERE stream = $stream)
