-- Read back the stored visits and lone lifecycle events of the cases kept
-- from the last compute (flow_kept_cases) into the flow's tables, which hold those of the
-- recomputed cases: cases, resources and teams get this compute's numbers
-- (int_flow_events.sql), steps the ENUM of this compute (the same activity set, else the
-- compute is full: pipeline/incremental.py).
INSERT INTO flow_visits BY NAME
SELECT k.case_no AS case_id, s.step, s.visit_no, s.seq, s.ready_ts, s.start_ts, s.end_ts,
    s.queue_time_s, s.process_time_s, s.elapsed_s, s.sessions, s.paused_s, s.queue_internal_s,
    s.queue_external_s, r.owner_no AS resource, t.owner_no AS team, s.reassignments, s.is_rework,
    s.in_process, s.prev_step, p.owner_no AS prev_owner
FROM flow_visit_state AS s
JOIN flow_kept_cases AS k USING (case_id)
LEFT JOIN flow_owner_names AS r ON r.name = s.resource
LEFT JOIN flow_owner_names AS t ON t.name = s.team
LEFT JOIN flow_owner_names AS p ON p.name = s.prev_owner
WHERE s.stream = $stream;

INSERT INTO flow_lifecycle BY NAME
SELECT k.case_no AS case_id, s.step, s.ts, s.lifecycle, r.owner_no AS resource, t.owner_no AS team,
    s.source_line, s.ord, s.is_lone
FROM flow_lifecycle_state AS s
JOIN flow_kept_cases AS k USING (case_id)
LEFT JOIN flow_owner_names AS r ON r.name = s.resource
LEFT JOIN flow_owner_names AS t ON t.name = s.team
WHERE s.stream = $stream;
