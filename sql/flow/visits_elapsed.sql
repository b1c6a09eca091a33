-- name: flow_visits_elapsed
-- grain: visit
-- depends_on: flow_arrivals, flow_session_visits
-- materialise: view
-- flow_visits (grain: visit): sequenced visits with ready time and durations.
-- A visit may have several work sessions (interval logs, session_visits__interval.sql): its
-- process time is end - start less the time paused between sessions (paused_s), so that
-- queue + process + paused = elapsed.
-- seq orders a case's visits by start (end where no start is observed), then source line.
-- ready_ts = end of the case's earlier visits (the latest, capped at this visit's start so
-- that parallel work queues zero), or the case's arrival when it precedes the visit.
-- Besides the columns of `visits`, prev_step / prev_owner (the step and the team, else the
-- resource, of the visit before in the case, by seq) for transitions, handoffs and cases:
-- taken in the pass that numbers the visits, rather than in a window pass each. That pass is
-- session_visits__*.sql's (seq, prev_end_ts: the latest end of the case's earlier visits,
-- prev_step, prev_owner), which orders the visits anyway.
-- visit_no (the visit's number at its step, by seq) comes from there too (interval logs:
-- with the raw visits, from flow_turns' pass; other logs: a window of its own over the raw
-- visits' few columns) instead of a sort of every column here; so
-- this is a join and a projection, no sort, and a view (materialise: view) that
-- visits_built.sql reads once: no table of every visit between the two (10M events: 5M
-- visits). It was a table while its window ran here (as a view, that window ran inside
-- visits_built.sql's build with its inputs held: the 10M peak 4.36 GB).
WITH readied AS (  -- flow_session_visits is sequenced already (seq, prev_end_ts, prev_step,
    -- prev_owner: session_visits__*.sql, in the ordered pass that merges the sessions)
    SELECT v.* EXCLUDE (pauses),
        CASE
            WHEN v.prev_end_ts IS NOT NULL THEN least(v.prev_end_ts, coalesce(v.start_ts, v.end_ts))
            WHEN a.arrival_ts < coalesce(v.start_ts, v.end_ts) THEN a.arrival_ts
        END AS ready_ts
    FROM flow_session_visits AS v
    JOIN flow_arrivals AS a USING (case_id)
)
SELECT
    case_id,
    step,
    CAST(visit_no AS INTEGER) AS visit_no,
    CAST(seq AS INTEGER) AS seq,
    ready_ts,
    start_ts,
    end_ts,
    seconds_between(ready_ts, start_ts) AS queue_time_s,
    seconds_between(start_ts, end_ts) - paused_s AS process_time_s,  -- time worked
    seconds_between(ready_ts, end_ts) AS elapsed_s,
    sessions,     -- work sessions merged into the visit (1 normally)
    CASE WHEN start_ts IS NOT NULL THEN paused_s END AS paused_s,  -- between sessions; NULL: no start observed
    queue_internal_s,
    queue_external_s,
    resource,
    team,
    CAST(reassignments AS INTEGER) AS reassignments,
    visit_no > 1 AS is_rework,
    start_ts IS NOT NULL AND end_ts IS NULL AS in_process,
    prev_step,    -- step of the visit before (seq - 1), NULL for the first
    prev_owner,   -- team, else resource, of the visit before, NULL for the first
    visit_key,    -- for visits_built.sql, which drops them: the visit's pauses between sessions
    work_no,      -- and the visit's work period in status logs,
    team_queue_bh_s, team_queue_internal_bh_s, team_queue_external_bh_s  -- team visits' queue
FROM readied
