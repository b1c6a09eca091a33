-- name: flow_status_periods
-- grain: status period
-- depends_on: flow_status_periods_built
-- published_as: status_periods
-- when: full or log_shape != status
-- materialise: view
-- flow_status_periods: a full compute's are the periods it built (status_periods_built__*.sql).
SELECT * FROM flow_status_periods_built
