-- name: flow_wip_marks
-- grain: day or window boundary
-- depends_on: flow_wip_curve, flow_wip_days, flow_wip_window
-- flow_wip_marks (grain: day or window boundary): WIP and area under WIP(t) at the mark.
WITH marks AS (
    SELECT day_start AS mark_ts FROM flow_wip_days
    UNION SELECT day_end FROM flow_wip_days
    UNION SELECT window_start FROM flow_wip_window
)
SELECT
    m.mark_ts,
    coalesce(c.wip, 0) AS wip,
    coalesce(CAST(c.wip AS DECIMAL(38, 0)) * epoch_us(m.mark_ts) - c.moment_us, 0) AS area_us
FROM marks AS m
ASOF LEFT JOIN flow_wip_curve AS c ON m.mark_ts >= c.ts
