-- Aging WIP chart: open cases (aging_wip), at most $limit of them: a fixed sample (the
-- smallest hashes of the case id).
--   case_id, current_step, current_state: as in aging_wip
--   age_days: age at the measurement instant, in days
SELECT case_id, coalesce(current_step, '(none)') AS current_step, current_state, age_s / 86400.0 AS age_days
FROM aging_wip
WHERE stream = $stream
ORDER BY hash(case_id), case_id
LIMIT $limit
