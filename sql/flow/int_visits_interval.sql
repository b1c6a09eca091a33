-- flow_raw_visits for interval logs (grain: visit, before sequencing) and flow_lifecycle
-- (grain: lone complete, for the quality findings).
-- Starts pair with completes of the same step in the same case, first in first out. With
-- x = starts - completes so far (in time order), the completes that find no open start
-- ("lone") are counted by L = -min(0, running min of x); the k-th paired complete closes
-- the k-th start. Steps never started in the stream are point visits (end only).
-- A start-time column (one row per visit) gives visits directly.
-- Speed: where a (case, step)'s events take turns (start, complete, start, ...: every one of
-- a well-formed log), each start's complete is simply the event after it, which one ordered
-- pass gives (a lead over the events in order). Only the (case, step)s whose events do not
-- take turns (a lone complete, overlapping starts, ...) take the general rule, the running
-- sums over their events. Starts and completes numbered apart and joined on k cost the
-- same time and 0.6 GB more at 10M events (the join's table).

-- flow_lifecycle_events(started): the starts and completes of the steps with lifecycle
-- starts (the started_steps parameter, from the activities: pipeline/flow.py). A table
-- macro, not a copy: copying ten million events cost more than the scans that read them.
CREATE OR REPLACE TEMP MACRO flow_lifecycle_events(started) AS TABLE
SELECT case_id, step, ts, lifecycle, resource, team, source_line, ord
FROM flow_events
WHERE start_ts IS NULL AND list_contains(CAST(started AS VARCHAR[]), step)
  AND lifecycle IN ('start', 'complete');

-- One ordered pass over each (case, step)'s events: the event after each one, and whether
-- the events take turns from a start (start, complete, start, ...: a start at every odd
-- place, a complete at every even one). Kept: the starts, and the events out of turn.
CREATE OR REPLACE TEMP TABLE flow_turns AS
WITH ordered AS (
    SELECT case_id, step, ts, lifecycle, resource, team, source_line,
        (lifecycle = 'start') = (row_number() OVER w % 2 = 1) AS in_turn,
        lead(ts) OVER w AS next_ts,
        lead(resource) OVER w AS next_resource,
        lead(team) OVER w AS next_team
    FROM flow_lifecycle_events($started_steps)
    WINDOW w AS (PARTITION BY case_id, step ORDER BY ord)
)
SELECT * FROM ordered WHERE lifecycle = 'start' OR NOT in_turn;

-- The (case, step)s whose events do not take turns: only they need the general rule.
CREATE OR REPLACE TEMP TABLE flow_unbalanced AS
SELECT DISTINCT case_id, step FROM flow_turns WHERE NOT in_turn;

-- The general rule, over the events of those (case, step)s only.
CREATE OR REPLACE TEMP TABLE flow_lifecycle AS
WITH counted AS (
    SELECT e.*,
        CAST(sum(CASE WHEN lifecycle = 'start' THEN 1 ELSE -1 END) OVER w AS BIGINT) AS x,
        CAST(sum(CASE WHEN lifecycle = 'start' THEN 1 ELSE 0 END) OVER w AS BIGINT) AS starts_so_far,
        CAST(sum(CASE WHEN lifecycle = 'complete' THEN 1 ELSE 0 END) OVER w AS BIGINT) AS completes_so_far
    FROM flow_lifecycle_events($started_steps) AS e
    SEMI JOIN flow_unbalanced USING (case_id, step)
    WINDOW w AS (PARTITION BY case_id, step ORDER BY ord ROWS UNBOUNDED PRECEDING)
),
with_lone AS (
    SELECT *,
        -least(0, min(x) OVER (PARTITION BY case_id, step ORDER BY ord ROWS UNBOUNDED PRECEDING)) AS lone_so_far
    FROM counted
)
SELECT *,
    lifecycle = 'complete'
        AND lone_so_far > coalesce(lag(lone_so_far) OVER (PARTITION BY case_id, step ORDER BY ord), 0)
        AS is_lone,
    CASE WHEN lifecycle = 'start' THEN starts_so_far ELSE completes_so_far - lone_so_far END AS k
FROM with_lone;

CREATE OR REPLACE TEMP TABLE flow_raw_visits AS
WITH starts AS (
    SELECT * FROM flow_lifecycle WHERE lifecycle = 'start'
),
completes AS (
    SELECT * FROM flow_lifecycle WHERE lifecycle = 'complete' AND NOT is_lone
),
paired AS (  -- each start and its complete (NULL while in process), by either rule
    -- taking turns, a start's complete is the event after it (if any)
    SELECT case_id, step, ts AS start_ts, next_ts AS end_ts, resource AS start_resource,
           next_resource AS end_resource, team AS start_team, next_team AS end_team, source_line
    FROM flow_turns
    ANTI JOIN flow_unbalanced USING (case_id, step)
    WHERE lifecycle = 'start'
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
    FROM flow_events
    WHERE step IS NOT NULL AND start_ts IS NULL
      AND step NOT IN (SELECT DISTINCT step FROM flow_lifecycle_events($started_steps))
      AND (lifecycle IS NULL OR lifecycle = 'complete')
),
start_column AS (  -- a start-time column: each row is a whole visit
    SELECT case_id, step, start_ts, ts AS end_ts, resource, team, 0 AS reassignments, source_line
    FROM flow_events WHERE step IS NOT NULL AND start_ts IS NOT NULL
)
SELECT *,  -- interval logs have no statuses: no split of the queue (int_no_status_periods.sql)
    CAST(NULL AS DOUBLE) AS queue_internal_s, CAST(NULL AS DOUBLE) AS queue_external_s
FROM (
    SELECT * FROM interval_visits
    UNION ALL SELECT * FROM point_like
    UNION ALL SELECT * FROM start_column
);

-- Once paired, only the lone completes are read (quality findings).
CREATE OR REPLACE TEMP TABLE flow_lifecycle AS
SELECT case_id, step, ts, lifecycle, resource, team, source_line, ord, is_lone
FROM flow_lifecycle WHERE is_lone;

DROP TABLE flow_turns;
DROP TABLE flow_unbalanced;
DROP MACRO TABLE flow_lifecycle_events;
