-- flow_raw_visits for interval logs (grain: visit, before sequencing) and flow_lifecycle
-- (grain: lone complete, for the quality findings).
-- Starts pair with completes of the same step in the same case, first in first out. With
-- x = starts - completes so far (in time order), the completes that find no open start
-- ("lone") are counted by L = -min(0, running min of x); the k-th paired complete closes
-- the k-th start. Steps never started in the stream are point visits (end only).
-- A start-time column (one row per visit) gives visits directly.
-- Speed: in a (case, step) where x never drops below 0 (every one of a well-formed log),
-- L is 0 and the k-th complete closes the k-th start, so starts and completes are numbered
-- apart (two sorts of half the rows, not one of all) and joined on k. x drops below 0 at
-- the k-th complete exactly when the k-th start is missing or later; only those (case,
-- step)s take the general rule, the running sums over their events.
-- flow_lifecycle_events(started): the starts and completes of the steps with lifecycle
-- starts (the started_steps parameter, from the activities: pipeline/flow.py). A table
-- macro, not a copy: copying ten million events cost more than the scans that read them.
CREATE OR REPLACE TEMP MACRO flow_lifecycle_events(started) AS TABLE
SELECT case_id, step, ts, lifecycle, resource, team, source_line, ord
FROM flow_events
WHERE start_ts IS NULL AND list_contains(CAST(started AS VARCHAR[]), step)
  AND lifecycle IN ('start', 'complete');

CREATE OR REPLACE TEMP TABLE flow_pairs AS
WITH starts AS (
    SELECT *, row_number() OVER (PARTITION BY case_id, step ORDER BY ord) AS k
    FROM flow_lifecycle_events($started_steps) WHERE lifecycle = 'start'
),
completes AS (
    SELECT case_id, step, ts, resource, team, ord,
        row_number() OVER (PARTITION BY case_id, step ORDER BY ord) AS k
    FROM flow_lifecycle_events($started_steps) WHERE lifecycle = 'complete'
)
SELECT
    coalesce(s.case_id, c.case_id) AS case_id,
    coalesce(s.step, c.step) AS step,
    s.ts AS start_ts, c.ts AS end_ts,
    s.resource AS start_resource, c.resource AS end_resource,
    s.team AS start_team, c.team AS end_team,
    s.source_line, s.ord AS start_ord, c.ord AS end_ord
FROM starts AS s
FULL JOIN completes AS c ON c.case_id = s.case_id AND c.step = s.step AND c.k = s.k;

-- The (case, step)s where some complete finds no open start: x drops below 0 there.
CREATE OR REPLACE TEMP TABLE flow_unbalanced AS
SELECT DISTINCT case_id, step FROM flow_pairs
WHERE end_ord IS NOT NULL AND (start_ord IS NULL OR start_ord > end_ord);

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
WITH balanced AS (
    SELECT case_id, step, start_ts, end_ts,
           coalesce(end_resource, start_resource) AS resource,
           coalesce(end_team, start_team) AS team,
           CASE WHEN end_resource IS NOT NULL AND start_resource IS NOT NULL
                     AND end_resource <> start_resource THEN 1 ELSE 0 END AS reassignments,
           source_line
    FROM flow_pairs
    ANTI JOIN flow_unbalanced USING (case_id, step)
    WHERE start_ord IS NOT NULL
),
starts AS (
    SELECT * FROM flow_lifecycle WHERE lifecycle = 'start'
),
completes AS (
    SELECT * FROM flow_lifecycle WHERE lifecycle = 'complete' AND NOT is_lone
),
unbalanced AS (
    SELECT s.case_id, s.step, s.ts AS start_ts, c.ts AS end_ts,
           coalesce(c.resource, s.resource) AS resource,
           coalesce(c.team, s.team) AS team,
           CASE WHEN c.resource IS NOT NULL AND s.resource IS NOT NULL
                     AND c.resource <> s.resource THEN 1 ELSE 0 END AS reassignments,
           s.source_line
    FROM starts AS s
    LEFT JOIN completes AS c USING (case_id, step, k)
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
SELECT * FROM balanced
UNION ALL SELECT * FROM unbalanced
UNION ALL SELECT * FROM point_like
UNION ALL SELECT * FROM start_column;

-- Once paired, only the lone completes are read (quality findings).
CREATE OR REPLACE TEMP TABLE flow_lifecycle AS
SELECT case_id, step, ts, lifecycle, resource, team, source_line, ord, is_lone
FROM flow_lifecycle WHERE is_lone;

DROP TABLE flow_pairs;
DROP TABLE flow_unbalanced;
DROP MACRO TABLE flow_lifecycle_events;
