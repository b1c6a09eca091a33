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
)
SELECT g.quiet_from, g.quiet_to, c.wip
FROM gaps AS g
ASOF JOIN flow_wip_curve AS c ON g.quiet_from >= c.ts
WHERE epoch(g.quiet_to) - epoch(g.quiet_from) >= 7 * 86400 AND c.wip > 0
