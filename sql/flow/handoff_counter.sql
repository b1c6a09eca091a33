-- name: flow_handoff_counter
-- grain: case
-- depends_on: events, flow_case_names
-- params: stream
-- flow_handoff_counter (grain: case): the log's own count of the case's reassignments, where
-- the source has such a column (kept in events.attributes, as every unmapped column is):
-- ServiceNow's reassignment_count, or a column named reassignments, reassign_count,
-- reassignment_counter, group_changes, assignment_group_changes, handoffs or handoff_count
-- (compared in lower case, with runs of other characters read as '_'; the first of these
-- names found wins). Such a counter counts changes of assignment group; per case its
-- largest value is taken (a counter only rises: it is the last value, whatever the order of
-- the rows). quality_findings.sql (handoff_crosscheck) compares its total with the
-- flow's handoffs. Empty when the log has no such column.
WITH sample_columns AS (  -- every row carries every unmapped column: a sample names them all
    SELECT DISTINCT unnest(json_keys(attributes)) AS source_column
    FROM (SELECT attributes FROM events WHERE stream = $stream AND attributes IS NOT NULL LIMIT 1000)
),
known_names AS (
    SELECT * FROM (VALUES
        (1, 'reassignment_count'), (2, 'reassign_count'), (3, 'reassignments'),
        (4, 'reassignment_counter'), (5, 'group_changes'), (6, 'assignment_group_changes'),
        (7, 'handoff_count'), (8, 'handoffs')
    ) AS n(priority, name)
),
chosen AS (
    SELECT c.source_column
    FROM sample_columns AS c
    JOIN known_names AS n
        ON n.name = trim(regexp_replace(lower(c.source_column), '[^a-z0-9]+', '_', 'g'), '_')
    ORDER BY n.priority, c.source_column
    LIMIT 1
)
SELECT
    k.case_no AS case_id,       -- the case's number (flow_case_names)
    c.source_column,            -- the source column read
    -- JSON pointer to the key: '~' and '/' escaped as RFC 6901 says
    max(TRY_CAST(json_extract_string(e.attributes,
        '/' || replace(replace(c.source_column, '~', '~0'), '/', '~1')) AS DOUBLE)) AS counted
FROM events AS e
JOIN chosen AS c ON TRUE
JOIN flow_case_names AS k USING (case_id)
WHERE e.stream = $stream
GROUP BY k.case_no, c.source_column
HAVING counted IS NOT NULL
