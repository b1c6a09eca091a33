-- name: flow_raw_visits
-- grain: visit
-- depends_on: flow_lifecycle_all, flow_step_map, flow_turns, flow_unbalanced, flow_visit_events
-- when: log_shape = interval
-- materialise: view
-- flow_raw_visits for interval logs (grain: visit): each start paired with its complete,
-- the visits of steps never started, and the rows of a start-time column. A view (no
-- parameters): session_visits__interval.sql, its one reader, sequences the union as it
-- comes, with no table of every raw visit in between (10M events: 5M visits).
-- visit_no: the visit's number at its step, by start, end, source line (visits_elapsed.sql).
-- A (case, step) whose events all take turns has its visits' numbers from flow_turns
-- (turns.sql says why they are the same) unless a start-time column gives it visits too;
-- only the other (case, step)s (the general rule, point-like steps, start-time columns:
-- none in most logs) are numbered by a window here.
WITH starts AS (
    SELECT * FROM flow_lifecycle_all WHERE lifecycle = 'start'
),
completes AS (
    SELECT * FROM flow_lifecycle_all WHERE lifecycle = 'complete' AND NOT is_lone
),
start_column AS (  -- a start-time column: each row is a whole visit
    SELECT case_id, step, start_ts, ts AS end_ts, resource, team, 0 AS reassignments, source_line
    FROM flow_visit_events WHERE step IS NOT NULL AND start_ts IS NOT NULL
),
start_column_steps AS (  -- the (case, step)s that have such visits
    SELECT DISTINCT case_id, step FROM start_column
),
in_turn AS (  -- taking turns, a start's complete is the event after it (if any)
    SELECT t.case_id, t.step, t.ts AS start_ts, t.next_ts AS end_ts, t.resource AS start_resource,
           t.next_resource AS end_resource, t.team AS start_team, t.next_team AS end_team, t.source_line,
           t.visit_no
    FROM flow_turns AS t
    ANTI JOIN flow_unbalanced AS u ON u.case_id = t.case_id AND u.step = t.step
    -- the (case, step)s with visits of a start-time column too are numbered below
    ANTI JOIN start_column_steps AS c ON c.case_id = t.case_id AND c.step = t.step
    WHERE t.is_start
),
paired AS (  -- each other start and its complete (NULL while in process), by either rule
    SELECT t.case_id, t.step, t.ts AS start_ts, t.next_ts AS end_ts, t.resource AS start_resource,
           t.next_resource AS end_resource, t.team AS start_team, t.next_team AS end_team, t.source_line
    FROM flow_turns AS t
    ANTI JOIN flow_unbalanced AS u ON u.case_id = t.case_id AND u.step = t.step
    SEMI JOIN start_column_steps AS c ON c.case_id = t.case_id AND c.step = t.step
    WHERE t.is_start
    UNION ALL
    -- the general rule: the k-th paired complete closes the k-th start
    SELECT s.case_id, s.step, s.ts, c.ts, s.resource, c.resource, s.team, c.team, s.source_line
    FROM starts AS s
    LEFT JOIN completes AS c USING (case_id, step, k)
),
point_like AS (  -- steps never started in this stream: the visit ends at its event
    SELECT e.case_id, e.step, CAST(NULL AS TIMESTAMPTZ) AS start_ts, e.ts AS end_ts, e.resource, e.team,
           0 AS reassignments, e.source_line
    FROM flow_visit_events AS e
    -- the steps with lifecycle events (of $started_steps: turns.sql): each one's first
    -- event is in flow_turns, a start, or a complete out of turn. A join to the few other
    -- steps (none in most interval logs), so that the events are read only for those.
    SEMI JOIN (
        SELECT step FROM flow_step_map WHERE step IS NOT NULL
        EXCEPT SELECT step FROM flow_turns
    ) AS p ON p.step = e.step
    WHERE e.start_ts IS NULL AND (e.lifecycle IS NULL OR e.lifecycle = 'complete')
),
others AS (  -- the visits numbered here
    SELECT case_id, step, start_ts, end_ts,
           coalesce(end_resource, start_resource) AS resource,
           coalesce(end_team, start_team) AS team,
           CASE WHEN end_resource IS NOT NULL AND start_resource IS NOT NULL
                     AND end_resource <> start_resource THEN 1 ELSE 0 END AS reassignments,
           source_line
    FROM paired
    UNION ALL SELECT * FROM point_like
    UNION ALL SELECT * FROM start_column
)
SELECT case_id, step, start_ts, end_ts,
    coalesce(end_resource, start_resource) AS resource,
    coalesce(end_team, start_team) AS team,
    CASE WHEN end_resource IS NOT NULL AND start_resource IS NOT NULL
              AND end_resource <> start_resource THEN 1 ELSE 0 END AS reassignments,
    source_line,
    -- interval logs have no statuses: no split of the queue (status_periods_built__none.sql)
    CAST(NULL AS DOUBLE) AS queue_internal_s, CAST(NULL AS DOUBLE) AS queue_external_s,
    visit_no
FROM in_turn
UNION ALL
SELECT *, CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE),
    row_number() OVER (
        PARTITION BY case_id, step ORDER BY coalesce(start_ts, end_ts), end_ts NULLS LAST, source_line
    )
FROM others
