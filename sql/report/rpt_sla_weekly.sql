-- SLA attainment per week (grain: service level and week): the clocks that stopped in the
-- week (by stop_ts, weeks from Monday in the stream's timezone $timezone).
--   sla, week (DATE: its Monday), stopped, met, attainment (met / stopped)
SELECT sla,
    CAST(date_trunc('week', timezone($timezone, stop_ts)) AS DATE) AS week,
    count(*) AS stopped,
    count(*) FILTER (WHERE state = 'met') AS met,
    count(*) FILTER (WHERE state = 'met') / count(*) AS attainment
FROM sla
WHERE stream = $stream AND stop_ts IS NOT NULL
GROUP BY ALL
ORDER BY sla, week
