-- flow_exits (grain: case) for interval and point logs: a case exits at the end of its
-- final visit when that visit is to an end step and no visit of the case is still in
-- process; otherwise it is open.
CREATE OR REPLACE TEMP TABLE flow_exits AS
SELECT case_id, max(end_ts) AS exit_ts
FROM flow_visits
GROUP BY case_id
HAVING bool_or(in_process) = FALSE
   AND arg_max(step, (end_ts, seq)) IN (SELECT step FROM flow_end_steps);
