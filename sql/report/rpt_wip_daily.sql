-- WIP over time and throughput: one row per day of the stream's window (wip_daily).
--   day:        calendar day in the stream's timezone
--   wip_end:    cases open when the day closes
--   wip_avg:    time-average WIP over the day
--   arrivals:   cases that arrived that day
--   departures: cases that completed that day
--   done:       cases completed from the window's start to the day's close
SELECT
    day,
    wip_end,
    wip_avg,
    arrivals,
    departures,
    CAST(sum(departures) OVER (ORDER BY day) AS BIGINT) AS done
FROM wip_daily
WHERE stream = $stream
ORDER BY day
