-- Cumulative flow by status (status logs, where the statuses, not the work steps, show
-- where cases wait): per band and day, the cases in the band's statuses when the day
-- closes, from status_periods. A period entered at midnight counts from that day, as in
-- wip_daily. Over the days of the measurement window (wip_daily's): periods entered before
-- its first day count from that day, changes after its last day on none. Bands: the $top not-done statuses with the most average WIP that hold at least
-- 1% of it; the others share one band (band NULL).
--   band:  status, or NULL for the other statuses together
--   day:   calendar day in the stream's timezone ($timezone)
--   cases: cases in the band at the day's close
WITH periods AS (
    SELECT
        status,
        CAST(timezone($timezone, entered_ts) AS DATE) AS entered_day,
        CAST(timezone($timezone, left_ts) AS DATE) AS left_day
    FROM status_periods
    WHERE stream = $stream AND status_class <> 'done'
),
changes AS (
    SELECT status, entered_day AS day, count(*) AS delta FROM periods GROUP BY ALL
    UNION ALL
    SELECT status, left_day AS day, -count(*) AS delta FROM periods WHERE left_day IS NOT NULL GROUP BY ALL
),
per_day AS (
    SELECT status, greatest(day, (SELECT min(day) FROM wip_daily WHERE stream = $stream)) AS day,
        sum(delta) AS delta
    FROM changes GROUP BY ALL
),
grid AS (
    SELECT s.status, w.day
    FROM (SELECT DISTINCT status FROM periods) AS s
    CROSS JOIN (SELECT day FROM wip_daily WHERE stream = $stream) AS w
),
levels AS (
    SELECT g.status, g.day, CAST(sum(coalesce(p.delta, 0)) OVER (PARTITION BY g.status ORDER BY g.day) AS BIGINT) AS cases
    FROM grid AS g
    LEFT JOIN per_day AS p USING (status, day)
),
ranked AS (
    SELECT
        status,
        row_number() OVER (ORDER BY avg(cases) DESC, status) AS wip_rank,
        avg(cases) >= 0.01 * sum(avg(cases)) OVER () AS sizeable
    FROM levels
    GROUP BY status
)
SELECT
    CASE WHEN r.wip_rank <= $top AND r.sizeable THEN l.status END AS band,
    l.day,
    CAST(sum(l.cases) AS BIGINT) AS cases
FROM levels AS l
JOIN ranked AS r USING (status)
GROUP BY ALL
ORDER BY band, l.day
