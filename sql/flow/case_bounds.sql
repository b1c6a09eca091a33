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
-- Speed: one plain aggregate over the events (first and last by ord); the events are read
-- once more, joined on (case, instant), only when an activity passes (a) and (b).
SELECT case_id,
    min(ord) AS first_ord, min(ts) AS first_ts,
    arg_min(activity, ord) AS first_activity,
    arg_min(resource, ord) AS first_resource,
    arg_min(team, ord) AS first_team,
    max(ord) AS last_ord, max(ts) AS last_ts,
    arg_max(activity, ord) AS last_activity,
    arg_max(resource, ord) AS last_resource,
    arg_max(team, ord) AS last_team
FROM flow_events
WHERE step IS NOT NULL
GROUP BY case_id
