-- stream_overview (grain: stream in the store): events, cases, rejected rows, last run.
SELECT
    s.stream,
    s.events,
    s.cases,
    coalesce(r.rejected, 0) AS rejected,
    strftime(l.last_load, '%Y-%m-%d %H:%M UTC') AS last_load
FROM (SELECT stream, count(*) AS events, count(DISTINCT case_id) AS cases FROM events GROUP BY stream) AS s
LEFT JOIN (SELECT stream, count(*) AS rejected FROM rejects GROUP BY stream) AS r USING (stream)
LEFT JOIN (SELECT stream, max(finished_at) AS last_load FROM runs GROUP BY stream) AS l USING (stream)
