-- flow_raw_visits for point logs (grain: visit = event): the visit ends at its event;
-- when it started is not observed.
CREATE OR REPLACE TEMP TABLE flow_raw_visits AS
SELECT case_id, step, CAST(NULL AS TIMESTAMPTZ) AS start_ts, ts AS end_ts, resource, team,
       0 AS reassignments, source_line,
       -- point logs have no statuses: no split of the queue (int_no_status_periods.sql)
       CAST(NULL AS DOUBLE) AS queue_internal_s, CAST(NULL AS DOUBLE) AS queue_external_s
FROM flow_events
WHERE step IS NOT NULL
  -- XES transitions that announce or pause work rather than record it make no visit
  -- (reported as ignored_lifecycle); unknown values stay visits
  AND (lifecycle IS NULL OR lifecycle NOT IN ('schedule', 'assign', 'reassign', 'suspend', 'resume',
                                              'withdraw', 'ate_abort', 'pi_abort', 'start'));

CREATE OR REPLACE TEMP TABLE flow_lifecycle AS
SELECT *, FALSE AS is_lone FROM flow_events WHERE FALSE;
