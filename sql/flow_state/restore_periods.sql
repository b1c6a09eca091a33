-- Read back the stored status periods of the cases kept from the last compute (as
-- restore_cases.sql does the visits): status logs only, the others have no periods.
INSERT INTO flow_status_periods BY NAME
SELECT k.case_no AS case_id, s.period_no, s.status, s.step, s.status_class, s.wait_kind, s.is_exit,
    s.entered_ts, r.owner_no AS resource, t.owner_no AS team, s.reassignments, s.source_line, s.left_ts,
    s.work_no, s.duration_s
FROM flow_period_state AS s
JOIN flow_kept_cases AS k USING (case_id)
LEFT JOIN flow_owner_names AS r ON r.name = s.resource
LEFT JOIN flow_owner_names AS t ON t.name = s.team
WHERE s.stream = $stream;
