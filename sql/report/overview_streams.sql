-- overview_streams (grain: stream with a recompute): the headline figures of the overview
-- page (reports/index.html), from stream_summary, and the stream's last successful load.
--   last_load: latest finished_at of an ingest run, as text in UTC
SELECT
    s.stream,
    s.lead_time_p50_s,
    s.lead_time_p85_s,
    s.wip_avg,
    s.throughput_per_day,
    s.first_pass_yield,
    s.open_cases,
    strftime(l.last_load AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M UTC') AS last_load
FROM stream_summary AS s
LEFT JOIN (
    SELECT stream, max(finished_at) AS last_load FROM runs WHERE kind = 'ingest' GROUP BY stream
) AS l USING (stream)
ORDER BY s.stream
