-- PLACEHOLDER (being written): flow_aging_wip.
CREATE OR REPLACE TEMP TABLE flow_aging_wip AS
SELECT case_id, CAST(NULL AS VARCHAR) AS current_step, 'queued' AS current_state, arrival_ts,
       CAST(0 AS DOUBLE) AS age_s, CAST(NULL AS DOUBLE) AS time_in_step_s, CAST(NULL AS DOUBLE) AS age_percentile
FROM flow_cases WHERE FALSE;
