-- name: flow_case_bounds
-- grain: case
-- depends_on: flow_events
-- flow_boundary_markers (grain: marker activity and side) and flow_boundary_events (grain:
-- a case's boundary event of a marker): artificial start and end activities that a tool put
-- around every case ("Start" by resource "Start" at the instant of the first real event,
-- "End" at the last). They are no work: a handoff from "Start" into every case and one to
-- "End" out of it would be counted in every case. They are left out of the handoffs and
-- reassignments (handoff_pairs.sql) and reported (quality_findings.sql,
-- boundary_markers); the map keeps them as steps ([steps] drop takes them off).
--
-- An activity is a start marker (end marker: the same with last and previous) when
--   (a) it is the first event (by ord) of at least 90% of the stream's cases, and of at
--       least 3 (one or two cases are too few to tell a tool's marker from a habit),
--   (b) at least 90% of its events are such a first event (it occurs once per case, at the
--       boundary; in interval logs its lifecycle starts are not counted, its complete is
--       the one occurrence), and
--   (c) either it takes no time: in at least 90% of the cases it opens that end with another
--       activity, an event of another activity is at the same instant (so the next one is); or
--       its owner is a pseudo-name: on at least 90% of its boundary events the resource or
--       the team is the activity's own name, or Start, End, Begin, Finish or System
--       (case and surrounding blanks ignored).
-- Only events of mapped activities count (a dropped activity is off the map already), so at
-- most one activity per side can be a marker.
-- Speed: one plain aggregate over the events (a case's first and last ord and instant),
-- then the events at those two instants read back in one probe of the events, and grouped
-- by case: the first (last) event itself, the one with that ord, and whether an event of
-- another activity shares its instant ((c), `first_shared` / `last_shared`). arg_min /
-- arg_max of four columns by the 128-bit ord, and a second join of the events on (case,
-- instant) for (c), cost four times as much (10M events, 2 cores: 4.2 s against 0.9 s).
-- Events that share a case and an ord (the same instant, side and tie key: copies of one
-- row) give each column its least value. boundary_markers.sql then reads no events: (b)'s
-- counts come from flow_activities, (c)'s owner test runs on the owner names.
WITH bounds AS (  -- each case's first and last event, by ord
    SELECT case_id, min(ord) AS first_ord, max(ord) AS last_ord, min(ts) AS first_ts, max(ts) AS last_ts
    FROM flow_events
    WHERE step IS NOT NULL
    GROUP BY case_id
),
at_ends AS (  -- the mapped events at those two instants (one when all are at one)
    SELECT b.*, e.ts, e.activity, e.resource, e.team, e.ord = b.first_ord AS is_first, e.ord = b.last_ord AS is_last
    FROM flow_events AS e
    JOIN bounds AS b ON b.case_id = e.case_id AND (e.ts = b.first_ts OR e.ts = b.last_ts)
    WHERE e.step IS NOT NULL
)
SELECT case_id,
    first_ord, first_ts,
    min(activity) FILTER (WHERE is_first) AS first_activity,
    min(resource) FILTER (WHERE is_first) AS first_resource,
    min(team) FILTER (WHERE is_first) AS first_team,
    -- an event of another activity at the first event's instant
    min(activity) FILTER (WHERE ts = first_ts) <> max(activity) FILTER (WHERE ts = first_ts) AS first_shared,
    last_ord, last_ts,
    min(activity) FILTER (WHERE is_last) AS last_activity,
    min(resource) FILTER (WHERE is_last) AS last_resource,
    min(team) FILTER (WHERE is_last) AS last_team,
    min(activity) FILTER (WHERE ts = last_ts) <> max(activity) FILTER (WHERE ts = last_ts) AS last_shared
FROM at_ends
GROUP BY case_id, first_ord, first_ts, last_ord, last_ts
