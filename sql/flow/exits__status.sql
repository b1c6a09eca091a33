-- name: flow_exits
-- grain: case
-- depends_on: flow_status_periods
-- when: log_shape = status
-- flow_exits (grain: case) for status logs: the customer's lead time ends at resolution.
-- A case's final stretch of done statuses (the periods after its last period that is not
-- done) ends it at the first entry into an exit status there (is_exit: a done status, or one
-- of [flow] end_activities when set): later done statuses (Resolved -> Closed) do not extend
-- it. A case that left a done status for another (reopened) continues; a case whose last
-- status is not done, or whose final done stretch holds no exit status, is open.
WITH per_case AS (
    SELECT case_id,
        max(period_no) FILTER (WHERE status_class <> 'done') AS last_not_done,
        arg_max(status_class, period_no) AS last_class
    FROM flow_status_periods
    GROUP BY case_id
)
SELECT p.case_id, arg_min(p.entered_ts, p.period_no) AS exit_ts
FROM flow_status_periods AS p
JOIN per_case AS c USING (case_id)
WHERE c.last_class = 'done' AND p.is_exit AND p.period_no > coalesce(c.last_not_done, 0)
GROUP BY p.case_id
