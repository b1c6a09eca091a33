-- name: flow_littles_law
-- grain: window or calendar month
-- depends_on: flow_quiet_stretches, flow_wip_daily, flow_wip_marks, flow_wip_spans, flow_wip_window
-- published_as: littles_law
-- params: as_of, window_end, window_start
-- flow_littles_law (grain: window: 'all', then one per calendar month).
WITH months AS (
    SELECT CAST(g.month_day AS DATE) AS month_day
    FROM flow_wip_window AS w
    CROSS JOIN generate_series(CAST(date_trunc('month', w.first_day) AS DATE), w.last_day, INTERVAL 1 MONTH)
        AS g(month_day)
),
windows AS (
    SELECT 'all' AS window_kind, window_start, window_end, first_day, last_day FROM flow_wip_window
    UNION ALL
    SELECT 'month',
        greatest(CAST(m.month_day AS TIMESTAMPTZ), w.window_start),
        least(CAST(CAST(m.month_day + INTERVAL 1 MONTH AS DATE) AS TIMESTAMPTZ), w.window_end),
        greatest(m.month_day, w.first_day),
        least(CAST(m.month_day + INTERVAL 1 MONTH AS DATE) - 1, w.last_day)
    -- when as_of is exactly a month's first midnight, that month's window has no length but
    -- is kept: it holds the arrivals and departures at as_of, so the months tile the days
    FROM months AS m CROSS JOIN flow_wip_window AS w
),
flows AS (
    SELECT wn.window_kind, wn.window_start,
        sum(d.arrivals) AS arrivals,
        sum(d.departures) AS departures,
        arg_max(d.wip_end, d.day) AS wip_end
    FROM windows AS wn JOIN flow_wip_daily AS d ON d.day BETWEEN wn.first_day AND wn.last_day
    GROUP BY ALL
),
opening AS (  -- WIP when the window opens: the close of the day before it (the first: on hand)
    SELECT wn.window_kind, wn.window_start,
        CASE WHEN wn.first_day = w.first_day THEN w.opening_wip ELSE coalesce(d.wip_end, 0) END AS wip_start
    FROM windows AS wn
    CROSS JOIN flow_wip_window AS w
    LEFT JOIN flow_wip_daily AS d ON d.day = wn.first_day - 1
),
exit_days AS (
    SELECT CAST(exit_ts AS DATE) AS day, sum(lead_time_s) AS lead_time_s, count(lead_time_s) AS exits
    FROM flow_wip_spans WHERE in_window(exit_ts) GROUP BY ALL
),
lead_times AS (
    SELECT wn.window_kind, wn.window_start, sum(x.lead_time_s) / sum(x.exits) AS lead_time_mean_s
    FROM windows AS wn
    JOIN exit_days AS x ON x.day BETWEEN wn.first_day AND wn.last_day
    GROUP BY ALL
),
quiet_all AS (  -- the quiet stretches inside each window, clipped to it
    SELECT window_kind, window_start, wip, quiet_from, quiet_s
    FROM (
        SELECT wn.window_kind, wn.window_start, q.wip,
            greatest(q.quiet_from, wn.window_start) AS quiet_from,
            epoch(least(q.quiet_to, wn.window_end)) - epoch(greatest(q.quiet_from, wn.window_start)) AS quiet_s
        FROM windows AS wn CROSS JOIN flow_quiet_stretches AS q
    )
    WHERE quiet_s >= 7 * 86400
),
measured AS (
    SELECT
        wn.window_kind, wn.window_start, wn.window_end,
        (epoch(wn.window_end) - epoch(wn.window_start)) / 86400 AS window_days,
        CAST(e.area_us - s.area_us AS DOUBLE) / 1e6 / nullif(epoch(wn.window_end) - epoch(wn.window_start), 0)
            AS wip_avg,
        o.wip_start, f.wip_end, f.arrivals, f.departures,
        f.departures / nullif((epoch(wn.window_end) - epoch(wn.window_start)) / 86400, 0) AS throughput_per_day,
        l.lead_time_mean_s
    FROM windows AS wn
    JOIN flow_wip_marks AS s ON s.mark_ts = wn.window_start
    JOIN flow_wip_marks AS e ON e.mark_ts = wn.window_end
    JOIN flows AS f USING (window_kind, window_start)
    JOIN opening AS o USING (window_kind, window_start)
    LEFT JOIN lead_times AS l USING (window_kind, window_start)
),
quiet_judged AS (  -- material: it held a tenth of the average WIP and 1% of the window's case-time
    SELECT q.*,
        q.wip >= 0.1 * m.wip_avg AND q.wip * q.quiet_s >= 0.01 * m.wip_avg * m.window_days * 86400 AS material
    FROM measured AS m JOIN quiet_all AS q USING (window_kind, window_start)
),
quiet AS (  -- per window, the longest material quiet stretch and the longest minor one
    SELECT window_kind, window_start,
        arg_max(quiet_from, quiet_s) FILTER (WHERE material) AS quiet_from,
        max(quiet_s) FILTER (WHERE material) AS quiet_s,
        arg_max(wip, quiet_s) FILTER (WHERE material) AS quiet_wip,
        arg_max(quiet_from, quiet_s) FILTER (WHERE NOT material) AS minor_from,
        max(quiet_s) FILTER (WHERE NOT material) AS minor_s,
        arg_max(wip, quiet_s) FILTER (WHERE NOT material) AS minor_wip
    FROM quiet_judged
    GROUP BY ALL
),
predicted AS (
    SELECT m.*, q.quiet_from, q.quiet_s, q.quiet_wip, q.minor_from, q.minor_s, q.minor_wip,
        throughput_per_day * lead_time_mean_s / 86400 AS predicted_wip,
        wip_avg / nullif(throughput_per_day * lead_time_mean_s / 86400, 0) AS ratio
    FROM measured AS m
    LEFT JOIN quiet AS q USING (window_kind, window_start)
),
judged AS (
    SELECT *,
        CASE
            WHEN window_days = 0 OR departures = 0 OR quiet_s IS NOT NULL THEN 'data gap'
            WHEN abs(ratio - 1) <= 0.2 OR (predicted_wip = 0 AND wip_avg = 0) THEN 'consistent'
            WHEN wip_end > wip_start AND (ratio > 1.2 OR ratio IS NULL) THEN 'WIP growing'
            WHEN wip_end < wip_start AND ratio < 0.8 THEN 'WIP shrinking'
            ELSE 'data gap'
        END AS verdict,
        printf('average WIP %.2f vs %.2f predicted (throughput %.2f/day x mean lead time %.2f days), ratio %s',
            wip_avg, predicted_wip, throughput_per_day, lead_time_mean_s / 86400,
            coalesce(printf('%.2f', ratio), 'undefined'))
        || CASE WHEN minor_s IS NOT NULL THEN printf(
            ' (no event for %.1f days from %s, while only %d cases were in progress, too little of the window''s work to be a gap in the log: a lull)',
            minor_s / 86400, strftime(minor_from, '%Y-%m-%d %H:%M'), minor_wip) ELSE '' END AS numbers
    FROM predicted
)
SELECT
    window_kind,         -- all | month
    window_start,        -- first arrival, or the month's first midnight
    window_end,          -- as_of, or the next month's first midnight
    wip_avg,             -- time-average WIP over the window
    CAST(wip_start AS BIGINT) AS wip_start,  -- WIP when the window opens
    CAST(wip_end AS BIGINT) AS wip_end,      -- WIP when it closes
    CAST(arrivals AS BIGINT) AS arrivals,
    CAST(departures AS BIGINT) AS departures,
    throughput_per_day,  -- departures per day of the window
    lead_time_mean_s,    -- of the cases that exited in the window
    predicted_wip,       -- throughput_per_day x lead_time_mean (days)
    ratio,               -- wip_avg / predicted_wip
    verdict,
    CASE
        WHEN window_days = 0 THEN
            'the window has no length (the first arrival is the measurement instant): nothing to average'
        WHEN departures = 0 THEN printf(
            'no case exited in this window (%d arrivals, average WIP %.2f), so throughput and lead time are unknown',
            arrivals, wip_avg)
        WHEN quiet_s IS NOT NULL THEN printf(
            'no event at all for %.1f days from %s while %d cases were in progress: the log probably misses events; %s',
            quiet_s / 86400, strftime(quiet_from, '%Y-%m-%d %H:%M'), quiet_wip, numbers)
        WHEN verdict = 'consistent' THEN numbers || ': within 20 %, Little''s Law holds'
        WHEN verdict = 'WIP growing' THEN printf(
            '%s: WIP rose from %d to %d over the window, and cases still in progress hold time that no departure''s lead time reflects yet',
            numbers, wip_start, wip_end)
        WHEN verdict = 'WIP shrinking' THEN printf(
            '%s: WIP fell from %d to %d over the window, and the departures carry lead time spent before it',
            numbers, wip_start, wip_end)
        ELSE printf(
            '%s, but WIP went from %d to %d, which does not explain it: look for long cases that started before the window or events missing from the log',
            numbers, wip_start, wip_end)
    END AS why
FROM judged
ORDER BY window_kind = 'month', window_start
