-- name: flow_status_periods
-- grain: status period
-- depends_on: flow_kept_cases, flow_owner_names, flow_period_state, flow_status_periods_built
-- published_as: status_periods
-- params: stream
-- when: incremental and log_shape = status
-- Read back the stored status periods of the cases kept from the last compute (as
-- visits__incremental.sql does the visits): status logs only, the others have no periods.
SELECT * FROM flow_status_periods_built
UNION ALL BY NAME
SELECT k.case_no AS case_id, s.period_no, s.status, s.step, s.status_class, s.wait_kind, s.is_exit,
    s.entered_ts, r.owner_no AS resource, t.owner_no AS team, s.reassignments, s.source_line, s.left_ts,
    s.work_no, s.duration_s
FROM flow_period_state AS s
JOIN flow_kept_cases AS k USING (case_id)
LEFT JOIN flow_owner_names AS r ON r.name = s.resource
LEFT JOIN flow_owner_names AS t ON t.name = s.team
WHERE s.stream = $stream
