-- name: flow_status_periods_built
-- grain: status period
-- depends_on: flow_status_keys, flow_visit_events
-- params: team_activity
-- when: log_shape = status
WITH keyed AS (  -- only the columns read below: every one rides along two sorts
    SELECT e.case_id, e.activity, e.ts, e.resource, e.team, e.source_line, e.ord, k.is_work,
        CAST(k.period_key AS BIGINT) * 4294967296 + CASE WHEN $team_activity THEN coalesce(e.team, 0) ELSE 0 END
            AS period_key  -- the status's key, and its team's number under team_activity
    FROM flow_visit_events AS e
    JOIN flow_status_keys AS k ON k.status = e.activity
),
marked AS (  -- one pass: where a period starts, and each row's predecessor in the case
    SELECT *,
        CASE WHEN period_key IS DISTINCT FROM lag(period_key) OVER w THEN 1 ELSE 0 END AS new_period,
        lag(resource) OVER w AS prev_row_resource
    FROM keyed
    WINDOW w AS (PARTITION BY case_id ORDER BY ord)
),
with_prev AS (  -- a second pass in the same order: everything a period needs from its rows
    SELECT *,
        CAST(sum(new_period) OVER w AS BIGINT) AS period_no,
        -- work periods so far, this one included; waits feed visit work_no + 1
        CAST(sum(CASE WHEN new_period = 1 AND is_work THEN 1 ELSE 0 END) OVER w AS BIGINT) AS work_no,
        -- the row after: whether it starts a new period (this row then ends its period), and
        -- when it happened (the instant this row's period is left)
        lead(new_period) OVER (PARTITION BY case_id ORDER BY ord) AS next_new_period,
        lead(ts) OVER (PARTITION BY case_id ORDER BY ord) AS next_ts,
        -- the resource of the row before in the same period (the row before in the case,
        -- unless this row starts the period)
        CASE WHEN new_period = 0 THEN prev_row_resource END AS prev_resource
    FROM marked
    WINDOW w AS (PARTITION BY case_id ORDER BY ord ROWS UNBOUNDED PRECEDING)
),
single_row AS (  -- most periods are one row: that row is the period, nothing to aggregate
    SELECT case_id, period_no, activity AS status, ts AS entered_ts,
        resource, team, CAST(0 AS BIGINT) AS reassignments, source_line, next_ts AS left_ts, work_no
    FROM with_prev
    WHERE new_period = 1 AND coalesce(next_new_period, 1) = 1
),
several_rows AS (  -- a period of several rows: first status (and so step), last resource and team
    SELECT
        case_id, period_no,
        arg_min(activity, ord) AS status,
        min(ts) AS entered_ts,
        arg_max(resource, ord) AS resource,
        arg_max(team, ord) AS team,
        count(*) FILTER (WHERE resource IS NOT NULL AND prev_resource IS NOT NULL
                         AND resource <> prev_resource) AS reassignments,
        min(source_line) AS source_line,
        max(next_ts) FILTER (WHERE coalesce(next_new_period, 1) = 1) AS left_ts,  -- at its last row
        any_value(work_no) AS work_no
    FROM with_prev
    WHERE new_period = 0 OR next_new_period = 0
    GROUP BY case_id, period_no
)
SELECT p.case_id, p.period_no, k.step AS status, k.step, k.status_class, k.wait_kind, k.is_exit,
    p.entered_ts, p.resource, p.team, p.reassignments, p.source_line, p.left_ts, p.work_no,
    seconds_between(p.entered_ts, p.left_ts) AS duration_s
FROM (SELECT * FROM single_row UNION ALL SELECT * FROM several_rows) AS p
JOIN flow_status_keys AS k USING (status)
