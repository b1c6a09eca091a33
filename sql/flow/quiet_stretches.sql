-- name: flow_quiet_stretches
-- grain: quiet stretch
-- depends_on: flow_event_days, flow_wip_curve
-- params: as_of
-- flow_quiet_stretches (grain: stretch of 7 days or more between consecutive events, or
-- between the last event and as_of, with WIP > 0 during it). Events are first bucketed
-- per UTC day (first and last instant, flow_event_days): a silence of a week cannot lie
-- inside one day, so consecutive buckets are enough, and no sort of every event is needed.
WITH buckets AS (
    SELECT min(first_ts) AS first_ts, max(last_ts) AS last_ts
    FROM (
        SELECT day, first_ts, last_ts FROM flow_event_days
        UNION ALL SELECT epoch_us(CAST($as_of AS TIMESTAMPTZ)) // 86400000000, CAST($as_of AS TIMESTAMPTZ),
            CAST($as_of AS TIMESTAMPTZ)
    )
    GROUP BY day
),
gaps AS (
    SELECT last_ts AS quiet_from, lead(first_ts) OVER (ORDER BY first_ts) AS quiet_to FROM buckets
),
-- WIP at each stretch's start: the last curve point at or before it (as an ASOF join, portably:
-- one ordered pass over stretches and curve points, a point before a stretch at one instant)
points AS (
    SELECT quiet_from AS ts, 1 AS is_stretch, quiet_to, CAST(NULL AS BIGINT) AS wip
    FROM gaps WHERE epoch(quiet_to) - epoch(quiet_from) >= 7 * 86400
    UNION ALL
    SELECT ts, 0 AS is_stretch, NULL, wip FROM flow_wip_curve
),
carried AS (
    SELECT ts, is_stretch, quiet_to,
        last_value(wip IGNORE NULLS) OVER (ORDER BY ts, is_stretch ROWS UNBOUNDED PRECEDING) AS wip
    FROM points
)
SELECT ts AS quiet_from, quiet_to, wip
FROM carried
WHERE is_stretch = 1 AND wip > 0
