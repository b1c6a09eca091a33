-- flow_exits (grain: case) for status logs: a case exits at its last entry into a done
-- status when no other status follows it; a case that left a done status again (reopened)
-- and has not come back to one is open.
CREATE OR REPLACE TEMP TABLE flow_exits AS
SELECT case_id, arg_max(entered_ts, period_no) AS exit_ts
FROM flow_status_periods
GROUP BY case_id
HAVING arg_max(status_class, period_no) = 'done';
