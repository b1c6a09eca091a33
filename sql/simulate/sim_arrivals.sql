-- sim_arrivals (grain: stream x weekday x hour of the stream's timezone): how many cases
-- arrived in each hour of the week, and over how many such hours the stream was observed,
-- so rate = arrivals / hours_observed (the arrivals of vsm simulate's current-state model).
-- Only the cases that arrived in the stream's measurement window. $stream, $tz (the stream's
-- timezone).
WITH bounds AS (  -- the stream's measurement window (stream_summary: the whole history, or [flow] window)
    SELECT window_start AS ws, window_end AS we FROM stream_summary WHERE stream = $stream
),
windowed AS (
    SELECT arrival_ts FROM cases, bounds WHERE stream = $stream AND arrival_ts BETWEEN ws AND we
),
span AS (
    SELECT min(arrival_ts) AS first_ts, max(arrival_ts) AS last_ts FROM windowed
),
hours AS (  -- every hour the stream was observed, from the first arrival's hour to the last's
    SELECT unnest(generate_series(
        date_trunc('hour', timezone($tz, first_ts)), date_trunc('hour', timezone($tz, last_ts)),
        INTERVAL 1 HOUR)) AS local_hour
    FROM span
),
observed AS (
    SELECT isodow(local_hour) - 1 AS weekday, hour(local_hour) AS hour, count(*) AS hours_observed
    FROM hours GROUP BY ALL
),
arrived AS (
    SELECT isodow(timezone($tz, arrival_ts)) - 1 AS weekday, hour(timezone($tz, arrival_ts)) AS hour,
        count(*) AS arrivals
    FROM windowed GROUP BY ALL
)
SELECT
    o.weekday,                                  -- 0 = Monday
    o.hour,                                     -- 0..23, in the stream's timezone
    coalesce(a.arrivals, 0) AS arrivals,        -- cases that arrived in that hour of the week
    o.hours_observed                            -- such hours between the first and last arrival
FROM observed o LEFT JOIN arrived a USING (weekday, hour)
ORDER BY weekday, hour
