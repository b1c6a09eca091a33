-- name: flow_sla
-- grain: case and service level
-- published_as: sla
-- when: not sla
-- No service level ([[sla]] none): an empty flow_sla, the columns of `sla` (migration 014; case_id a
-- case number), spelled out (EXCLUDE / REPLACE are DuckDB's).
SELECT
    CAST(NULL AS INTEGER) AS case_id,
    CAST(NULL AS VARCHAR) AS sla,
    CAST(NULL AS TIMESTAMPTZ) AS start_ts,
    CAST(NULL AS TIMESTAMPTZ) AS stop_ts,
    CAST(NULL AS DOUBLE) AS elapsed_s,
    CAST(NULL AS DOUBLE) AS business_s,
    CAST(NULL AS DOUBLE) AS paused_s,
    CAST(NULL AS DOUBLE) AS target_s,
    CAST(NULL AS VARCHAR) AS state,
    CAST(NULL AS TIMESTAMPTZ) AS breached_at
WHERE FALSE
