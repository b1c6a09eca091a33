-- name: flow_boundary_markers
-- grain: marker activity and side
-- depends_on: flow_activities, flow_case_bounds, flow_owner_names, flow_step_map
WITH sides AS (  -- each case's first and last event, and the activity at its other end
    SELECT case_id, 'start' AS side, first_ord AS ord, first_ts AS ts, first_activity AS activity,
        first_resource AS resource, first_team AS team, last_activity AS far_activity, first_shared AS shared
    FROM flow_case_bounds
    UNION ALL
    SELECT case_id, 'end', last_ord, last_ts, last_activity, last_resource, last_team, first_activity,
        last_shared
    FROM flow_case_bounds
),
candidates AS (  -- (a): at most one activity per side holds 90% of the cases
    SELECT side, activity, count(*) AS boundary_cases
    FROM sides
    GROUP BY side, activity
    HAVING count(*) >= 0.9 * (SELECT count(*) FROM flow_case_bounds) AND count(*) >= 3
),
occurrences AS (  -- (b): the candidates' events (flow_activities: every event of the stream)
    SELECT CAST(a.activity AS VARCHAR) AS activity, a.events - a.starts AS events
    FROM flow_activities AS a
    JOIN flow_step_map AS m ON CAST(m.activity AS VARCHAR) = a.activity
    WHERE m.step IS NOT NULL AND a.activity IN (SELECT CAST(activity AS VARCHAR) FROM candidates)
),
once AS (  -- the candidates that pass (a) and (b), with their boundary events
    SELECT s.*
    FROM sides AS s
    JOIN candidates AS c USING (side, activity)
    JOIN occurrences AS o ON o.activity = CAST(s.activity AS VARCHAR)
    WHERE c.boundary_cases >= 0.9 * o.events
),
pseudo AS (  -- (c), owner: the names that are a pseudo-name for a candidate (a few rows)
    SELECT c.side, c.activity, n.owner_no
    FROM candidates AS c
    CROSS JOIN flow_owner_names AS n
    WHERE lower(trim(n.name)) IN ('start', 'end', 'begin', 'finish', 'system', lower(trim(CAST(c.activity AS VARCHAR))))
),
evidence AS (  -- (c), per candidate: the time to its neighbour, and its owner's name
    SELECT b.side, b.activity,
        count(*) AS boundary_cases,
        count(*) FILTER (WHERE b.far_activity <> b.activity) AS with_neighbour,
        count(*) FILTER (WHERE b.far_activity <> b.activity AND b.shared) AS same_instant,
        count(*) FILTER (WHERE r.owner_no IS NOT NULL OR t.owner_no IS NOT NULL) AS pseudo_owner,
        min(b.case_id) AS example_case
    FROM once AS b
    LEFT JOIN pseudo AS r ON r.side = b.side AND r.activity = b.activity AND r.owner_no = b.resource
    LEFT JOIN pseudo AS t ON t.side = b.side AND t.activity = b.activity AND t.owner_no = b.team
    GROUP BY b.side, b.activity
)
SELECT
    e.side,                                  -- start | end
    e.activity,                              -- the marker activity
    e.boundary_cases,                        -- cases it opens (closes)
    (SELECT count(*) FROM flow_case_bounds) AS cases,  -- cases with a mapped event
    o.events,                                -- its events (lifecycle starts aside)
    e.with_neighbour,                        -- of boundary_cases, those ending (starting) with another activity
    e.same_instant,                          -- of those, the ones with another activity at its instant
    e.pseudo_owner,                          -- boundary events whose resource or team is a pseudo-name
    e.example_case
FROM evidence AS e
JOIN occurrences AS o ON o.activity = CAST(e.activity AS VARCHAR)
WHERE (e.with_neighbour > 0 AND e.same_instant >= 0.9 * e.with_neighbour)
   OR e.pseudo_owner >= 0.9 * e.boundary_cases
