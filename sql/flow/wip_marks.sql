-- name: flow_wip_marks
-- grain: day or window boundary
-- depends_on: flow_wip_curve, flow_wip_days, flow_wip_window
-- flow_wip_marks (grain: day or window boundary): WIP and area under WIP(t) at the mark.
-- The curve point at or before each mark (what an ASOF join finds, portably): marks and curve
-- points in one ordered pass, each mark carrying the last curve point's values (a curve
-- point sorts before a mark at the same instant: `at or before`).
WITH marks AS (
    SELECT day_start AS mark_ts FROM flow_wip_days
    UNION SELECT day_end FROM flow_wip_days
    UNION SELECT window_start FROM flow_wip_window
),
points AS (
    SELECT mark_ts AS ts, 1 AS is_mark, CAST(NULL AS BIGINT) AS wip, CAST(NULL AS DECIMAL(38, 0)) AS moment_us
    FROM marks
    UNION ALL
    SELECT ts, 0 AS is_mark, wip, moment_us FROM flow_wip_curve
),
carried AS (
    SELECT ts, is_mark,
        last_value(wip IGNORE NULLS) OVER w AS wip,
        last_value(moment_us IGNORE NULLS) OVER w AS moment_us
    FROM points
    WINDOW w AS (ORDER BY ts, is_mark ROWS UNBOUNDED PRECEDING)
)
SELECT
    ts AS mark_ts,
    coalesce(wip, 0) AS wip,
    coalesce(CAST(wip AS DECIMAL(38, 0)) * epoch_us(ts) - moment_us, 0) AS area_us
FROM carried
WHERE is_mark = 1
