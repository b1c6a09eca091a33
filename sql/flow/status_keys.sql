-- name: flow_status_keys
-- grain: status
-- depends_on: flow_status_classes, flow_step_map
-- when: log_shape = status
-- Status logs: flow_status_periods (grain: a period a case spent in one status) and
-- flow_raw_visits (grain: visit = a period in a work status).
-- A status's name is its name after [steps]: statuses merged into one name (or renamed onto
-- one) are one status, and a dropped status (step NULL: [steps] drop, or a placeholder such
-- as ServiceNow's "-100") has no period: its rows are skipped, so the time stays in the
-- status before. Consecutive rows in the same status (a reassignment, a field update) are
-- one period; consecutive work statuses mapped to the same step are one visit. The wait
-- periods between two work visits are the second visit's queue, split by wait kind; time in
-- a done status before a reopen counts as external (the customer had the case).
-- With [flow] step_by = "team_activity": a change of team also starts a new
-- period, and a visit's step is "team / work status" ("(no team)" for rows without one).
-- flow_status_keys (grain: status as loaded, dropped ones left out): what a status's rows
-- need to know, looked up once per status instead of riding along the sorts below: its name
-- after [steps] (`step`, for every class), class, wait kind, whether it ends a case, and its
-- period key (numbers: compared, not texts built per row): statuses of one name share one.
SELECT c.status, m.step, c.status_class, c.wait_kind, c.is_exit,
    c.status_class = 'work' AS is_work,
    CAST(dense_rank() OVER (ORDER BY m.step) AS INTEGER) AS period_key
FROM flow_status_classes AS c
JOIN flow_step_map AS m ON m.activity = c.status
WHERE m.step IS NOT NULL
