-- name: flow_wip_daily
-- grain: day of the window
-- depends_on: flow_wip_days, flow_wip_marks, flow_wip_spans, flow_wip_window
-- published_as: wip_daily
-- params: as_of, window_end, window_start
-- flow_wip_daily (grain: day, every day of the window: from the first arrival's to as_of's
-- for the whole history). Arrivals and departures inside the window; the cases on hand
-- when it opens (flow_wip_window.opening_wip) carry into every wip_end.
WITH arrivals AS (
    SELECT CAST(arrival_ts AS DATE) AS day, count(*) AS n FROM flow_wip_spans
    WHERE in_window(arrival_ts) GROUP BY ALL
),
departures AS (
    SELECT CAST(exit_ts AS DATE) AS day, count(*) AS n FROM flow_wip_spans
    WHERE in_window(exit_ts) GROUP BY ALL
),
counted AS (
    SELECT
        d.day, d.day_start, d.day_end,
        coalesce(a.n, 0) AS arrivals,
        coalesce(x.n, 0) AS departures,
        (SELECT opening_wip FROM flow_wip_window)
            + sum(coalesce(a.n, 0) - coalesce(x.n, 0)) OVER (ORDER BY d.day) AS wip_end,
        e.area_us - s.area_us AS area_us
    FROM flow_wip_days AS d
    LEFT JOIN arrivals AS a USING (day)
    LEFT JOIN departures AS x USING (day)
    JOIN flow_wip_marks AS s ON s.mark_ts = d.day_start
    JOIN flow_wip_marks AS e ON e.mark_ts = d.day_end
)
SELECT
    day,                                    -- calendar day in the stream's timezone
    CAST(wip_end AS BIGINT) AS wip_end,     -- WIP when the day closes (last day: at as_of)
    CASE WHEN day_end > day_start
         THEN CAST(area_us AS DOUBLE) / (epoch_us(day_end) - epoch_us(day_start))
         ELSE CAST(wip_end AS DOUBLE) END AS wip_avg,  -- time-average WIP over the day
    CAST(arrivals AS BIGINT) AS arrivals,   -- cases whose arrival falls on the day
    CAST(departures AS BIGINT) AS departures  -- cases whose exit falls on the day
FROM counted
ORDER BY day
