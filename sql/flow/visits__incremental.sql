-- name: flow_visits
-- grain: visit
-- depends_on: flow_kept_cases, flow_kept_steps, flow_owner_names, flow_visits_built, visits
-- published_as: visits
-- params: stream
-- when: incremental
-- Read back the visits (the published ones: they are the flow's, less the step and owner
-- of the visit before) of the cases kept from the last compute (flow_kept_cases) into the
-- flow's tables, which hold those of the recomputed cases (flow_visits_built): cases,
-- resources and teams get this compute's numbers (events.sql), steps the type the built
-- visits hold them in (flow_kept_steps: the step map's ENUM where steps are activities; the
-- same activity set, else the compute is full: pipeline/incremental.py). A text step would
-- make the union, and every model after it, sort and group text (10M events, 1% new: the
-- union's window alone took 5.3 s, the step metrics twice as long).
-- The step and owner of the visit before come from the visit with seq - 1 (seq numbers a
-- case's visits 1, 2, ...: visits_elapsed.sql), a join on the narrow (case, seq) rather than
-- a window that sorts every kept visit with all its columns (4.9M visits: 1.3 s against 2.6).
WITH kept AS (
    SELECT k.case_no AS case_id, m.step, s.visit_no, s.seq, s.ready_ts, s.start_ts, s.end_ts,
        s.queue_time_s, s.process_time_s, s.elapsed_s, s.sessions, s.paused_s, s.queue_internal_s,
        s.queue_external_s, r.owner_no AS resource, t.owner_no AS team, s.reassignments, s.is_rework,
        s.in_process,
        s.queue_time_bh_s, s.process_time_bh_s, s.elapsed_bh_s, s.paused_bh_s, s.queue_internal_bh_s,
        s.queue_external_bh_s  -- business twins (visits_built.sql): per visit, kept with it
    FROM visits AS s
    JOIN flow_kept_cases AS k USING (case_id)
    JOIN flow_kept_steps AS m ON CAST(m.step AS VARCHAR) = s.step
    LEFT JOIN flow_owner_names AS r ON r.name = s.resource
    LEFT JOIN flow_owner_names AS t ON t.name = s.team
    WHERE s.stream = $stream
),
before AS (  -- what the visit after each one sees as the visit before
    SELECT case_id, seq + 1 AS seq, step AS prev_step,
        coalesce(team, resource) AS prev_owner  -- visits_elapsed.sql: team, else resource
    FROM kept
)
SELECT * FROM flow_visits_built
UNION ALL BY NAME
SELECT kept.*, b.prev_step, b.prev_owner
FROM kept LEFT JOIN before AS b ON b.case_id = kept.case_id AND b.seq = kept.seq
