-- flow_cases (grain: case): arrival, exit, lead time, variant, rework, handoffs.
-- Handoff: two consecutive visits whose teams differ (resources, where a visit has no team);
-- flow_visits.prev_owner is the visit before's.
CREATE OR REPLACE TEMP TABLE flow_cases AS
WITH per_case_visits AS (
    SELECT case_id,
        count(*) AS visits,
        count(*) FILTER (WHERE is_rework) AS rework_visits,
        count(*) FILTER (WHERE coalesce(team, resource) <> prev_owner) AS handoffs,
        sum(reassignments) AS reassignments,
        sum(process_time_s) AS process_time_s,
        sum(queue_time_s) AS queue_time_s,
        arg_max(step, seq) AS last_step,
        string_agg(step, ' > ' ORDER BY seq) AS steps
    FROM flow_visits GROUP BY case_id
)
SELECT
    a.case_id,
    a.arrival_ts,
    x.exit_ts,
    x.exit_ts IS NULL AS is_open,
    seconds_between(a.arrival_ts, x.exit_ts) AS lead_time_s,
    CASE WHEN x.exit_ts IS NOT NULL THEN left(md5(coalesce(v.steps, '')), 12) END AS variant_id,
    CASE WHEN x.exit_ts IS NOT NULL THEN coalesce(v.steps, '') END AS steps,
    CAST(coalesce(v.visits, 0) AS INTEGER) AS visits,
    CAST(coalesce(v.rework_visits, 0) AS INTEGER) AS rework_visits,
    coalesce(v.rework_visits, 0) = 0 AS is_first_pass,
    CAST(coalesce(v.handoffs, 0) AS INTEGER) AS handoffs,
    CAST(coalesce(v.reassignments, 0) AS INTEGER) AS reassignments,
    v.process_time_s,
    v.queue_time_s,
    CASE WHEN $target_s IS NULL THEN NULL
         WHEN x.exit_ts IS NOT NULL THEN seconds_between(a.arrival_ts, x.exit_ts) > $target_s
         ELSE seconds_between(a.arrival_ts, CAST($as_of AS TIMESTAMPTZ)) > $target_s END AS target_breached,
    v.last_step,
    a.last_event_ts
FROM flow_arrivals AS a
LEFT JOIN flow_exits AS x USING (case_id)
LEFT JOIN per_case_visits AS v USING (case_id);
