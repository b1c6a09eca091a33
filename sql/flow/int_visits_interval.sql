-- flow_lifecycle (grain: start/complete event of a started step; once paired, only the lone
-- completes are kept) and flow_raw_visits for interval logs (grain: visit, before sequencing).
-- Starts pair with completes of the same step in the same case, first in first out. With
-- x = starts - completes so far (in time order), the completes that find no open start
-- ("lone") are counted by L = -min(0, running min of x); the k-th paired complete closes
-- the k-th start. Steps never started in the stream are point visits (end only).
-- A start-time column (one row per visit) gives visits directly.
-- Speed: x and the counts take one window pass over the events. L is 0 wherever x never
-- drops below 0, which is every (case, step) of a well-formed log, so its two further
-- passes (running min, then its lag) run only over the (case, step)s where x does.
CREATE OR REPLACE TEMP TABLE flow_lifecycle AS
WITH started_steps AS (
    SELECT DISTINCT step FROM flow_events WHERE lifecycle = 'start' AND step IS NOT NULL
),
counted AS (
    SELECT e.case_id, e.step, e.ts, e.lifecycle, e.resource, e.team, e.source_line, e.ord,
        -- BIGINT, not sum()'s HUGEINT: ten million rows of counts weigh half as much
        CAST(sum(CASE WHEN lifecycle = 'start' THEN 1 ELSE -1 END) OVER w AS BIGINT) AS x,
        CAST(sum(CASE WHEN lifecycle = 'start' THEN 1 ELSE 0 END) OVER w AS BIGINT) AS starts_so_far,
        CAST(sum(CASE WHEN lifecycle = 'complete' THEN 1 ELSE 0 END) OVER w AS BIGINT) AS completes_so_far
    FROM flow_events AS e
    WHERE e.start_ts IS NULL AND e.step IN (SELECT step FROM started_steps)
      AND e.lifecycle IN ('start', 'complete')
    WINDOW w AS (PARTITION BY case_id, step ORDER BY ord ROWS UNBOUNDED PRECEDING)
)
SELECT *,
    CAST(0 AS BIGINT) AS lone_so_far,  -- L, for now as if no complete were lone
    FALSE AS is_lone,
    CASE WHEN lifecycle = 'start' THEN starts_so_far ELSE completes_so_far END AS k
FROM counted;

-- The (case, step)s where x drops below 0: L and what depends on it, done right.
CREATE OR REPLACE TEMP TABLE flow_lifecycle_unbalanced AS
WITH unbalanced AS (
    SELECT DISTINCT case_id, step FROM flow_lifecycle WHERE x < 0
),
with_lone AS (
    SELECT * EXCLUDE (lone_so_far, is_lone, k),
        -least(0, min(x) OVER (PARTITION BY case_id, step ORDER BY ord ROWS UNBOUNDED PRECEDING)) AS lone_so_far
    FROM flow_lifecycle
    SEMI JOIN unbalanced USING (case_id, step)
)
SELECT *,
    lifecycle = 'complete'
        AND lone_so_far > coalesce(lag(lone_so_far) OVER (PARTITION BY case_id, step ORDER BY ord), 0)
        AS is_lone,
    CASE WHEN lifecycle = 'start' THEN starts_so_far ELSE completes_so_far - lone_so_far END AS k
FROM with_lone;

DELETE FROM flow_lifecycle
WHERE (case_id, step) IN (SELECT DISTINCT (case_id, step) FROM flow_lifecycle_unbalanced);

INSERT INTO flow_lifecycle BY NAME SELECT * FROM flow_lifecycle_unbalanced;

DROP TABLE flow_lifecycle_unbalanced;

CREATE OR REPLACE TEMP TABLE flow_raw_visits AS
WITH starts AS (
    SELECT * FROM flow_lifecycle WHERE lifecycle = 'start'
),
completes AS (
    SELECT * FROM flow_lifecycle WHERE lifecycle = 'complete' AND NOT is_lone
),
paired AS (
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
      AND step NOT IN (SELECT DISTINCT step FROM flow_lifecycle)
      AND (lifecycle IS NULL OR lifecycle = 'complete')
),
start_column AS (  -- a start-time column: each row is a whole visit
    SELECT case_id, step, start_ts, ts AS end_ts, resource, team, 0 AS reassignments, source_line
    FROM flow_events WHERE step IS NOT NULL AND start_ts IS NOT NULL
)
SELECT * FROM paired
UNION ALL SELECT * FROM point_like
UNION ALL SELECT * FROM start_column;

-- Once paired, only the lone completes are read (quality findings): the rest is let go, as
-- it weighs as much as the events.
CREATE OR REPLACE TEMP TABLE flow_lifecycle AS
SELECT * FROM flow_lifecycle WHERE is_lone;
