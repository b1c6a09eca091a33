-- name: flow_turns
-- grain: start or out-of-turn event
-- depends_on: flow_visit_events
-- params: started_steps
-- when: log_shape = interval
-- One ordered pass over each (case, step)'s events: the event after each one, and whether
-- the events take turns from a start (start, complete, start, ...: a start at every odd
-- place, a complete at every even one). Kept: the starts, and the events out of turn.
-- is_start: the event is a start (else a complete). A flag, not the lifecycle's text: every
-- column rides through the window's sort of the events (10M events: 0.4 s of CPU less).
-- visit_no: a start's number among the starts of its (case, step), (place + 1) // 2, for the
-- starts in turn. Where every event of a (case, step) takes its turn, each start comes after
-- the complete before it, strictly later (at one instant a start orders before a complete:
-- `ord`, events.sql), so the starts' times strictly increase and this is also the visit's
-- number at its step in the order visits are sequenced (start, end, source line:
-- visits_elapsed.sql's visit_no). raw_visits__interval.sql takes it from here instead of
-- sorting the visits of every (case, step) again (10M events: 5M visits, 0.7 s of CPU).
WITH lifecycle_events AS (  -- the starts and completes of the steps with lifecycle starts
    SELECT case_id, step, ts, lifecycle = 'start' AS is_start, resource, team, source_line, ord
    FROM flow_visit_events
    WHERE start_ts IS NULL AND list_contains(CAST($started_steps AS VARCHAR[]), step)
      AND lifecycle IN ('start', 'complete')
),
ordered AS (
    SELECT case_id, step, ts, is_start, resource, team, source_line,
        row_number() OVER w AS place,
        lead(ts) OVER w AS next_ts,
        lead(resource) OVER w AS next_resource,
        lead(team) OVER w AS next_team
    FROM lifecycle_events
    WINDOW w AS (PARTITION BY case_id, step ORDER BY ord)
)
SELECT case_id, step, ts, is_start, resource, team, source_line, in_turn, next_ts, next_resource, next_team,
    CASE WHEN in_turn AND is_start THEN CAST((place + 1) // 2 AS INTEGER) END AS visit_no
FROM (SELECT *, is_start = (place % 2 = 1) AS in_turn FROM ordered)
WHERE is_start OR NOT in_turn
