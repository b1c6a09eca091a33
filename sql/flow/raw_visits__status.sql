-- name: flow_raw_visits
-- grain: visit
-- depends_on: flow_owner_names, flow_status_periods_built
-- params: team_activity
-- when: log_shape = status and step_by != team
WITH waits AS (
    SELECT case_id, work_no + 1 AS work_no,
        sum(duration_s) FILTER (WHERE wait_kind = 'internal') AS queue_internal_s,
        -- time in a done status before work resumed (a reopen) was time with the customer
        sum(duration_s) FILTER (WHERE wait_kind = 'external' OR status_class = 'done') AS queue_external_s
    FROM flow_status_periods_built
    WHERE status_class IN ('wait', 'done')
    GROUP BY ALL
)
SELECT p.case_id,
       CASE WHEN $team_activity THEN coalesce(o.name, '(no team)') || ' / ' || p.step ELSE p.step END AS step,
       p.entered_ts AS start_ts, p.left_ts AS end_ts, p.resource, p.team,
       p.reassignments, p.source_line,
       coalesce(w.queue_internal_s, 0) AS queue_internal_s,
       coalesce(w.queue_external_s, 0) AS queue_external_s,
       p.work_no,  -- its wait periods are those of work_no - 1 (visits_built.sql)
       CAST(NULL AS DOUBLE) AS team_queue_bh_s,  -- team visits only (raw_visits__team.sql)
       CAST(NULL AS DOUBLE) AS team_queue_internal_bh_s,
       CAST(NULL AS DOUBLE) AS team_queue_external_bh_s
FROM flow_status_periods_built AS p
LEFT JOIN waits AS w USING (case_id, work_no)
LEFT JOIN flow_owner_names AS o ON $team_activity AND o.owner_no = p.team
WHERE p.status_class = 'work' AND p.step IS NOT NULL
