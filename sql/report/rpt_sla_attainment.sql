-- SLA attainment (grain: service level and priority): the stream's `sla` rows counted by
-- state, per [[sla]] and the case's priority (its latest non-empty `priority` attribute, any
-- capitalisation of the source column's name; '(none)' without one).
--   sla, priority, cases, met, breached, at_risk, running
--   attainment: met / (met + breached) over the stopped clocks; NULL when none stopped
WITH priorities AS (
    SELECT case_id,
        arg_max(p, ts) FILTER (WHERE nullif(p, '') IS NOT NULL) AS priority
    FROM (
        SELECT case_id, ts,
            coalesce(json_extract_string(attributes, '$.priority'), json_extract_string(attributes, '$.Priority'),
                     json_extract_string(attributes, '$.PRIORITY')) AS p
        FROM events
        WHERE stream = $stream AND attributes IS NOT NULL
          AND case_id IN (SELECT case_id FROM sla WHERE stream = $stream)
    )
    GROUP BY case_id
)
SELECT s.sla, coalesce(p.priority, '(none)') AS priority,
    count(*) AS cases,
    count(*) FILTER (WHERE s.state = 'met') AS met,
    count(*) FILTER (WHERE s.state = 'breached' AND s.stop_ts IS NOT NULL) AS breached,
    count(*) FILTER (WHERE s.state = 'breached' AND s.stop_ts IS NULL) AS breached_open,
    count(*) FILTER (WHERE s.state = 'at_risk') AS at_risk,
    count(*) FILTER (WHERE s.state = 'running') AS running,
    count(*) FILTER (WHERE s.state = 'met')
        / nullif(count(*) FILTER (WHERE s.stop_ts IS NOT NULL), 0) AS attainment
FROM sla AS s
LEFT JOIN priorities AS p USING (case_id)
WHERE s.stream = $stream
GROUP BY ALL
ORDER BY min(s.target_s), s.sla, priority
