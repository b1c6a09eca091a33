-- flow_exits (grain: case) for interval and point logs: a case exits at the end of its LAST
-- visit to an end step, even when other visits end after it (a parallel step finishing
-- later, a trailing event): those are not in its lead time, path or process time and are
-- reported (quality finding work_after_exit). A visit still in process that started before
-- that exit keeps the case open (work on it is unfinished); one started at or after the exit
-- does not. A case with no ended visit to an end step is open.
CREATE OR REPLACE TEMP TABLE flow_exits AS
SELECT case_id, exit_ts
FROM (
    SELECT v.case_id,
        max(v.end_ts) FILTER (WHERE e.step IS NOT NULL) AS exit_ts,
        min(v.start_ts) FILTER (WHERE v.in_process) AS first_open_start_ts
    FROM flow_visits AS v
    LEFT JOIN flow_end_steps AS e USING (step)
    GROUP BY v.case_id
)
WHERE exit_ts IS NOT NULL
  AND (first_open_start_ts IS NULL OR first_open_start_ts >= exit_ts);
