-- name: flow_step_wip_daily
-- grain: step and day
-- depends_on: flow_cases, flow_visits, flow_wip_days, flow_wip_window
-- published_as: step_wip_daily
-- params: as_of
-- flow_step_wip_daily (grain: step and day; every day of the window for every step with
-- a visit). Change events per visit, summed per step and day, then a running sum. A
-- change before the window's start (before the first day: a visit before its case's
-- configured start activity; or work on hand when a window opens) counts on the first
-- day, a change after its end on none.
WITH spans AS (
    SELECT step, ready_ts, start_ts,
        -- greatest() skips NULLs, hence the CASEs: a span never ends before it starts (bad data)
        CASE WHEN ready_ts IS NOT NULL THEN greatest(coalesce(start_ts, end_ts), ready_ts) END
            AS queue_end_ts,  -- no start observed: the elapsed span
        CASE WHEN end_ts IS NOT NULL THEN greatest(end_ts, start_ts) END AS active_end_ts
    FROM flow_visits
    ANTI JOIN (SELECT case_id FROM flow_cases WHERE is_stale) USING (case_id)
),
changes AS (
    -- a visit's queue usually ends when its work starts: one change row for both (a quarter
    -- fewer rows to place in days and sum)
    SELECT step, ready_ts AS ts, 1 AS queue_delta, 0 AS active_delta FROM spans WHERE ready_ts IS NOT NULL
    UNION ALL
    SELECT step, queue_end_ts, -1, CASE WHEN start_ts = queue_end_ts THEN 1 ELSE 0 END
    FROM spans WHERE ready_ts IS NOT NULL
    UNION ALL
    SELECT step, start_ts, 0, 1 FROM spans
    WHERE start_ts IS NOT NULL AND (ready_ts IS NULL OR start_ts <> queue_end_ts)
    UNION ALL
    SELECT step, active_end_ts, 0, -1 FROM spans WHERE start_ts IS NOT NULL AND active_end_ts IS NOT NULL
),
lookup AS (  -- per UTC date D: when local days D and D + 1 start
    SELECT day AS utc_date, CAST(day AS TIMESTAMPTZ) AS day_start, CAST(day + 1 AS TIMESTAMPTZ) AS next_day_start
    FROM (SELECT CAST(g.day AS DATE) AS day
          FROM flow_wip_window AS w
          CROSS JOIN generate_series(w.first_day - 1, w.last_day + 1, INTERVAL 1 DAY) AS g(day))
),
located AS (
    -- The local day of each change without a timezone conversion per row (costly over tens
    -- of millions of changes): a local day is the UTC date, the one before or the one after.
    SELECT c.step, c.queue_delta, c.active_delta,
        CASE WHEN c.ts < w.window_start THEN w.first_day
             WHEN l.utc_date IS NULL THEN CAST(c.ts AS DATE)
             WHEN c.ts >= l.next_day_start THEN l.utc_date + 1
             WHEN c.ts >= l.day_start THEN l.utc_date
             ELSE l.utc_date - 1 END AS day
    FROM changes AS c
    CROSS JOIN flow_wip_window AS w
    LEFT JOIN lookup AS l ON l.utc_date = DATE '1970-01-01' + CAST(epoch_us(c.ts) // 86400000000 AS INTEGER)
    WHERE c.ts <= $as_of AND (c.ts < w.window_end OR w.closes_at_as_of)
),
per_day AS (
    SELECT step, greatest(c.day, w.first_day) AS day,
        sum(queue_delta) AS queue_delta, sum(active_delta) AS active_delta
    FROM located AS c CROSS JOIN flow_wip_window AS w
    GROUP BY ALL
),
grid AS (
    SELECT s.step, d.day
    FROM (SELECT DISTINCT step FROM flow_visits) AS s CROSS JOIN flow_wip_days AS d
)
SELECT
    g.step,
    g.day,
    CAST(sum(coalesce(p.queue_delta, 0)) OVER w AS BIGINT) AS queue_wip_end,  -- point logs: elapsed WIP
    CAST(sum(coalesce(p.active_delta, 0)) OVER w AS BIGINT) AS active_wip_end  -- 0 when no start is observed
FROM grid AS g
LEFT JOIN per_day AS p USING (step, day)
WINDOW w AS (PARTITION BY g.step ORDER BY g.day)
ORDER BY g.step, g.day
