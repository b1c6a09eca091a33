-- name: flow_handoff_pairs
-- grain: one handoff or reassignment in a case
-- depends_on: flow_boundary_events, flow_events, flow_step_map, flow_visits
-- params: log_shape
-- flow_handoff_pairs (grain: one handoff or reassignment in a case): the work changing hands,
-- by the rule of the log's shape; fct_cases (handoffs, reassignments per case) and
-- fct_handoffs (the team matrix) read it. Boundary markers (boundary_markers.sql) take
-- no part.
--
-- Status logs (each event: the case entered a status, with the assignment at that moment):
-- the case's mapped events (dropped activities aside) in `ord` order. An event with no team is skipped: its team is
-- the last known one (an export that blanks the group while it is changed does not count
-- two handoffs).
--   handoff       an event whose team differs from the case's last known team (the first
--                 team a case gets is no handoff).
--   reassignment  an event whose resource differs from the case's last known resource,
--                 when the team is the same at both events (a new assignee that comes with
--                 a new team is part of the handoff, not a reassignment).
--   A stream with no team at all: the resource is the owner (a change of resource is a
--   handoff, as in the visit rule), and there are no reassignments.
-- Interval and point logs (events record work): a visit (by seq) whose team differs from the
-- case's last known team, as for status events: a visit with no team keeps the team before
-- it (the WABO receipt log blanks a fifth of its groups: Group 1, blank, Group 1 is no
-- handoff, and a person's name never stands in for a team). A stream with no team at all:
-- the resource is the owner. A reassignment is a change of resource within one visit
-- (visits.reassignments: the complete's resource differs from the start's). A boundary
-- marker's visit takes no part: no pair into or out of it, none of its reassignments.
-- Speed: where every visit takes part and has an owner (no boundary marker, no visit without
-- a team, or without a resource when the stream has no team), the owner before a visit is
-- its prev_owner (the visit before's team, else resource: visits_elapsed.sql), and the sort
-- of every visit by case and seq is not made again (10M events, 5M visits: about 3x less CPU).
WITH status_events AS (
    SELECT e.case_id, e.ord, e.ts, e.resource, e.team
    FROM flow_events AS e
    ANTI JOIN flow_boundary_events AS b ON b.case_id = e.case_id AND b.ord = e.ord
    WHERE $log_shape = 'status' AND e.step IS NOT NULL
),
stream_owner AS (
    SELECT count(team) > 0 AS by_team FROM status_events
),
owned AS (
    SELECT s.case_id, s.ord, s.ts,
        CASE WHEN o.by_team THEN s.team ELSE s.resource END AS owner,
        CASE WHEN o.by_team THEN s.resource END AS assignee
    FROM status_events AS s, stream_owner AS o
),
known AS (  -- one sort: the owner known before the event, and at it
    SELECT *,
        last_value(owner IGNORE NULLS) OVER (
            PARTITION BY case_id ORDER BY ord ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS prev_owner,
        last_value(owner IGNORE NULLS) OVER (
            PARTITION BY case_id ORDER BY ord ROWS UNBOUNDED PRECEDING
        ) AS known_owner
    FROM owned
),
status_handoffs AS (
    SELECT case_id, 'handoff' AS kind, prev_owner AS from_owner, owner AS to_owner, ts
    FROM known
    WHERE owner <> prev_owner
),
assigned AS (  -- the events that name an assignee, each with the one before it and its team
    SELECT case_id, ts, assignee, known_owner,
        lag(assignee) OVER w AS prev_assignee,
        lag(known_owner) OVER w AS prev_known_owner
    FROM known
    WHERE assignee IS NOT NULL
    WINDOW w AS (PARTITION BY case_id ORDER BY ord)
),
status_reassignments AS (
    SELECT case_id, 'reassignment' AS kind, prev_assignee AS from_owner, assignee AS to_owner, ts
    FROM assigned
    WHERE assignee <> prev_assignee AND known_owner IS NOT DISTINCT FROM prev_known_owner
),
marker_visits AS (  -- the visit of a case's boundary marker: its first (last) visit to the step
    SELECT v.case_id, CASE WHEN b.side = 'start' THEN min(v.seq) ELSE max(v.seq) END AS seq
    FROM flow_visits AS v
    JOIN flow_boundary_events AS b USING (case_id)
    JOIN flow_step_map AS m ON m.activity = b.activity AND m.step = v.step
    WHERE $log_shape <> 'status'
    GROUP BY v.case_id, b.side
),
work_visits AS (  -- the visits that take part, with their owner
    SELECT v.case_id, v.seq, coalesce(v.start_ts, v.end_ts) AS ts, v.team, v.resource,
        v.prev_owner AS before_owner
    FROM flow_visits AS v
    ANTI JOIN marker_visits AS x ON x.case_id = v.case_id AND x.seq = v.seq
    WHERE $log_shape <> 'status'
),
visit_stream_owner AS (
    SELECT count(team) > 0 AS by_team FROM work_visits
),
visits_owned AS (
    SELECT w.*, CASE WHEN o.by_team THEN w.team ELSE w.resource END AS owner
    FROM work_visits AS w, visit_stream_owner AS o
),
visit_order AS (  -- every visit takes part and has an owner: the one known before a visit is
    -- the owner of the visit before it (seq - 1), which flow_visits holds already (prev_owner:
    -- its team, else resource), and no sort is needed
    SELECT count(*) FILTER (WHERE owner IS NULL) = 0 AND NOT EXISTS (SELECT 1 FROM marker_visits)
        AS from_visit_before
    FROM visits_owned
),
visits_known AS (  -- else one sort: the owner known before each visit
    SELECT case_id, ts, owner,
        last_value(owner IGNORE NULLS) OVER (
            PARTITION BY case_id ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS prev_owner
    FROM visits_owned
    WHERE NOT (SELECT from_visit_before FROM visit_order)
    UNION ALL
    SELECT case_id, ts, owner, before_owner
    FROM visits_owned
    WHERE (SELECT from_visit_before FROM visit_order)
),
visit_handoffs AS (
    SELECT case_id, 'handoff' AS kind, prev_owner AS from_owner, owner AS to_owner, ts
    FROM visits_known
    WHERE owner <> prev_owner
),
visit_reassignments AS (
    SELECT v.case_id, 'reassignment' AS kind, CAST(NULL AS INTEGER) AS from_owner,
        v.resource AS to_owner, v.end_ts AS ts
    FROM (SELECT f.* FROM flow_visits AS f CROSS JOIN range(f.reassignments) AS r(i)
          WHERE $log_shape <> 'status' AND f.reassignments > 0) AS v
    ANTI JOIN marker_visits AS x ON x.case_id = v.case_id AND x.seq = v.seq
)
SELECT
    case_id,      -- the case's number (flow_case_names)
    kind,         -- handoff | reassignment
    from_owner,   -- team (else resource) before; reassignments: resource before (interval
                  -- and point logs: NULL, visits keep only the resource at the end)
    to_owner,     -- team (else resource) after; reassignments: resource after
    ts            -- when it happened: the event, or the start (else end) of the visit
FROM (
    SELECT * FROM status_handoffs
    UNION ALL SELECT * FROM status_reassignments
    UNION ALL SELECT * FROM visit_handoffs
    UNION ALL SELECT * FROM visit_reassignments
)
