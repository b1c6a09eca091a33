-- name: flow_raw_visits
-- grain: visit = event
-- depends_on: flow_visit_events
-- when: log_shape = point
-- materialise: view
-- flow_raw_visits for point logs (grain: visit = event): the visit ends at its event;
-- when it started is not observed. A view: a filter of the events that
-- session_visits__one.sql, its one reader, sequences as they come.
SELECT case_id, step, CAST(NULL AS TIMESTAMPTZ) AS start_ts, ts AS end_ts, resource, team,
       0 AS reassignments, source_line,
       -- point logs have no statuses: no split of the queue (status_periods_built__none.sql)
       CAST(NULL AS DOUBLE) AS queue_internal_s, CAST(NULL AS DOUBLE) AS queue_external_s,
       CAST(NULL AS BIGINT) AS work_no, CAST(NULL AS DOUBLE) AS team_queue_bh_s,
       CAST(NULL AS DOUBLE) AS team_queue_internal_bh_s, CAST(NULL AS DOUBLE) AS team_queue_external_bh_s
FROM flow_visit_events
WHERE step IS NOT NULL
  -- XES transitions that announce or pause work rather than record it make no visit
  -- (reported as ignored_lifecycle); unknown values stay visits
  AND (lifecycle IS NULL OR lifecycle NOT IN ('schedule', 'assign', 'reassign', 'suspend', 'resume',
                                              'withdraw', 'ate_abort', 'pi_abort', 'start'))
