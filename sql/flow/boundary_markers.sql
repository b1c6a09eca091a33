-- name: flow_boundary_markers
-- grain: marker activity and side
-- depends_on: flow_case_bounds, flow_events, flow_owner_names
WITH sides AS (  -- each case's first and last event, and the activity at its other end
    SELECT case_id, 'start' AS side, first_ord AS ord, first_ts AS ts, first_activity AS activity,
        first_resource AS resource, first_team AS team, last_activity AS far_activity
    FROM flow_case_bounds
    UNION ALL
    SELECT case_id, 'end', last_ord, last_ts, last_activity, last_resource, last_team, first_activity
    FROM flow_case_bounds
),
candidates AS (  -- (a): at most one activity per side holds 90% of the cases
    SELECT side, activity, count(*) AS boundary_cases
    FROM sides
    GROUP BY side, activity
    HAVING count(*) >= 0.9 * (SELECT count(*) FROM flow_case_bounds) AND count(*) >= 3
),
occurrences AS (  -- (b): the candidates' events
    SELECT activity, count(*) AS events
    FROM flow_events
    WHERE activity IN (SELECT activity FROM candidates) AND step IS NOT NULL
      AND lifecycle IS DISTINCT FROM 'start'
    GROUP BY activity
),
once AS (  -- the candidates that pass (a) and (b), with their boundary events
    SELECT s.*
    FROM sides AS s
    JOIN candidates AS c USING (side, activity)
    JOIN occurrences AS o USING (activity)
    WHERE c.boundary_cases >= 0.9 * o.events
),
same_instant AS (  -- (c), time: boundary events with an event of another activity at their instant
    SELECT DISTINCT b.side, b.case_id
    FROM flow_events AS e
    JOIN once AS b ON b.case_id = e.case_id AND b.ts = e.ts
    WHERE e.activity <> b.activity AND e.step IS NOT NULL
),
evidence AS (  -- (c), per candidate: the time to its neighbour, and its owner's name
    SELECT b.side, b.activity,
        count(*) AS boundary_cases,
        count(*) FILTER (WHERE b.far_activity <> b.activity) AS with_neighbour,
        count(i.case_id) FILTER (WHERE b.far_activity <> b.activity) AS same_instant,
        count(*) FILTER (
            WHERE lower(trim(r.name)) IN ('start', 'end', 'begin', 'finish', 'system', lower(trim(CAST(b.activity AS VARCHAR))))
               OR lower(trim(t.name)) IN ('start', 'end', 'begin', 'finish', 'system', lower(trim(CAST(b.activity AS VARCHAR))))
        ) AS pseudo_owner,
        min(b.case_id) AS example_case
    FROM once AS b
    LEFT JOIN same_instant AS i USING (side, case_id)
    LEFT JOIN flow_owner_names AS r ON r.owner_no = b.resource
    LEFT JOIN flow_owner_names AS t ON t.owner_no = b.team
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
JOIN occurrences AS o USING (activity)
WHERE (e.with_neighbour > 0 AND e.same_instant >= 0.9 * e.with_neighbour)
   OR e.pseudo_owner >= 0.9 * e.boundary_cases
