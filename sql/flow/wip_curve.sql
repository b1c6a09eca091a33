-- name: flow_wip_curve
-- grain: instant where WIP changes
-- depends_on: flow_wip_spans
-- flow_wip_curve (grain: instant where WIP changes): WIP just after the instant, and the
-- running sum of delta x epoch_us(instant). The area under WIP(t) up to any instant b at or
-- after it is wip x epoch_us(b) - moment_us: each case in contributes (b - arrival), each
-- case gone (exit - arrival). Exact integer case-microseconds (DECIMAL(38, 0): 128-bit in
-- DuckDB, exact in Spark), one running pass.
WITH changes AS (
    SELECT ts, sum(delta) AS delta
    FROM (
        SELECT arrival_ts AS ts, 1 AS delta FROM flow_wip_spans
        UNION ALL
        SELECT exit_ts AS ts, -1 AS delta FROM flow_wip_spans WHERE exit_ts IS NOT NULL
    )
    GROUP BY ts
)
SELECT ts,
    CAST(sum(delta) OVER w AS BIGINT) AS wip,
    sum(CAST(delta AS DECIMAL(38, 0)) * epoch_us(ts)) OVER w AS moment_us
FROM changes
WINDOW w AS (ORDER BY ts ROWS UNBOUNDED PRECEDING)
