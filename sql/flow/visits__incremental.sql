-- name: flow_visits
-- grain: visit
-- depends_on: flow_kept_cases, flow_owner_names, flow_visits_built, visits
-- published_as: visits
-- params: stream
-- when: incremental
-- Read back the visits (the published ones: they are the flow's, less the step and owner
-- of the visit before) and the stored lone lifecycle events of the cases kept from the last
-- compute (flow_kept_cases) into the flow's tables, which hold those of the recomputed cases: cases, resources and teams get this compute's numbers
-- (events.sql), steps the ENUM of this compute (the same activity set, else the
-- compute is full: pipeline/incremental.py).
-- The visits built (of the recomputed cases), and those read back from the published visits
-- (the visit before's step and owner again).
SELECT * FROM flow_visits_built
UNION ALL BY NAME
SELECT k.case_no AS case_id, s.step, s.visit_no, s.seq, s.ready_ts, s.start_ts, s.end_ts,
    s.queue_time_s, s.process_time_s, s.elapsed_s, s.sessions, s.paused_s, s.queue_internal_s,
    s.queue_external_s, r.owner_no AS resource, t.owner_no AS team, s.reassignments, s.is_rework,
    s.in_process,
    s.queue_time_bh_s, s.process_time_bh_s, s.elapsed_bh_s, s.paused_bh_s, s.queue_internal_bh_s,
    s.queue_external_bh_s,  -- business twins (visits_built.sql): per visit, kept with it
    lag(s.step) OVER w AS prev_step,
    lag(coalesce(t.owner_no, r.owner_no)) OVER w AS prev_owner  -- visits_elapsed.sql: team, else resource
FROM visits AS s
JOIN flow_kept_cases AS k USING (case_id)
LEFT JOIN flow_owner_names AS r ON r.name = s.resource
LEFT JOIN flow_owner_names AS t ON t.name = s.team
WHERE s.stream = $stream
WINDOW w AS (PARTITION BY k.case_no ORDER BY s.seq)
