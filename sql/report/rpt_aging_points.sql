-- Aging WIP chart: open cases (aging_wip), at most $limit of them: a fixed sample (the
-- smallest hashes of the case id).
--   case_id, current_step, current_state: as in aging_wip
--   age_days: age at the measurement instant, in days
--   sla_state: its service level's state when at_risk or breached ([[sla]], table sla), else NULL
SELECT a.case_id, coalesce(a.current_step, '(none)') AS current_step, a.current_state,
    a.age_s / 86400.0 AS age_days,
    CASE WHEN s.state IN ('at_risk', 'breached') THEN s.state END AS sla_state
FROM aging_wip AS a
LEFT JOIN sla AS s ON s.stream = a.stream AND s.case_id = a.case_id
WHERE a.stream = $stream
ORDER BY hash(a.case_id), a.case_id
LIMIT $limit
