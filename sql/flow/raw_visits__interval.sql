-- name: flow_raw_visits
-- grain: visit
-- depends_on: flow_lifecycle_all, flow_turns, flow_unbalanced, flow_visit_events
-- when: log_shape = interval
-- materialise: view
-- flow_raw_visits for interval logs (grain: visit): each start paired with its complete,
-- the visits of steps never started, and the rows of a start-time column. A view (no
-- parameters): session_visits__interval.sql, its one reader, sequences the union as it
-- comes, with no table of every raw visit in between (10M events: 5M visits).
WITH starts AS (
    SELECT * FROM flow_lifecycle_all WHERE lifecycle = 'start'
),
completes AS (
    SELECT * FROM flow_lifecycle_all WHERE lifecycle = 'complete' AND NOT is_lone
),
paired AS (  -- each start and its complete (NULL while in process), by either rule
    -- taking turns, a start's complete is the event after it (if any)
    SELECT case_id, step, ts AS start_ts, next_ts AS end_ts, resource AS start_resource,
           next_resource AS end_resource, team AS start_team, next_team AS end_team, source_line
    FROM flow_turns
    ANTI JOIN flow_unbalanced USING (case_id, step)
    WHERE is_start
    UNION ALL
    -- the general rule: the k-th paired complete closes the k-th start
    SELECT s.case_id, s.step, s.ts, c.ts, s.resource, c.resource, s.team, c.team, s.source_line
    FROM starts AS s
    LEFT JOIN completes AS c USING (case_id, step, k)
),
interval_visits AS (
    SELECT case_id, step, start_ts, end_ts,
           coalesce(end_resource, start_resource) AS resource,
           coalesce(end_team, start_team) AS team,
           CASE WHEN end_resource IS NOT NULL AND start_resource IS NOT NULL
                     AND end_resource <> start_resource THEN 1 ELSE 0 END AS reassignments,
           source_line
    FROM paired
),
point_like AS (  -- steps never started in this stream: the visit ends at its event
    SELECT case_id, step, CAST(NULL AS TIMESTAMPTZ) AS start_ts, ts AS end_ts, resource, team,
           0 AS reassignments, source_line
    FROM flow_visit_events
    WHERE step IS NOT NULL AND start_ts IS NULL
      -- the steps with lifecycle events (of $started_steps: turns.sql): each one's first
      -- event is in flow_turns, a start, or a complete out of turn
      AND step NOT IN (SELECT DISTINCT step FROM flow_turns)
      AND (lifecycle IS NULL OR lifecycle = 'complete')
),
start_column AS (  -- a start-time column: each row is a whole visit
    SELECT case_id, step, start_ts, ts AS end_ts, resource, team, 0 AS reassignments, source_line
    FROM flow_visit_events WHERE step IS NOT NULL AND start_ts IS NOT NULL
)
SELECT *,  -- interval logs have no statuses: no split of the queue (status_periods_built__none.sql)
    CAST(NULL AS DOUBLE) AS queue_internal_s, CAST(NULL AS DOUBLE) AS queue_external_s
FROM (
    SELECT * FROM interval_visits
    UNION ALL SELECT * FROM point_like
    UNION ALL SELECT * FROM start_column
)
