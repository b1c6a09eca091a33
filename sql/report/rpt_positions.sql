-- Where each step (or, in status logs, each status) sits in the process, to draw them in
-- process order: the mean position of its visits (periods) in their case, 1 = first.
--   name:     step, or status for status logs
--   position: mean position in the case
SELECT step AS name, avg(seq) AS position
FROM visits
WHERE stream = $stream AND $log_shape <> 'status'
GROUP BY step
UNION ALL
SELECT status AS name, avg(rn) AS position
FROM (
    SELECT status, row_number() OVER (PARTITION BY case_id ORDER BY entered_ts, status) AS rn
    FROM status_periods
    WHERE stream = $stream AND $log_shape = 'status'
)
GROUP BY status
