-- name: flow_status_periods_built
-- grain: status period
-- when: log_shape != status
-- Interval and point logs have no statuses: flow_status_periods is empty (same columns as
-- status_periods_built__status.sql makes), and their raw visits come with empty queue splits
-- (queue_internal_s, queue_external_s NULL: raw_visits__interval.sql, raw_visits__point.sql).
SELECT
    CAST(NULL AS INTEGER) AS case_id,  -- a case number (flow_case_names)
    CAST(NULL AS VARCHAR) AS status,
    CAST(NULL AS VARCHAR) AS status_class,
    CAST(NULL AS VARCHAR) AS wait_kind,
    CAST(NULL AS TIMESTAMPTZ) AS entered_ts,
    CAST(NULL AS TIMESTAMPTZ) AS left_ts,
    CAST(NULL AS DOUBLE) AS duration_s,
    CAST(NULL AS INTEGER) AS resource,  -- numbers of flow_owner_names
    CAST(NULL AS INTEGER) AS team,
    0 AS period_no,
    CAST(NULL AS BIGINT) AS work_no  -- read by visits_built.sql
WHERE FALSE
