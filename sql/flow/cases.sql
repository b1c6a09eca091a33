-- name: flow_cases
-- grain: case
-- depends_on: flow_calendar_hours, flow_cases_elapsed, flow_exits, flow_visits
-- published_as: cases
-- params: any_calendar, calendar
-- flow_cases with the business twins of its durations (grain: case; issue 20):
--   lead_time_bh_s     W(exit) - W(arrival) in the stream's calendar ($calendar; W from
--                      flow_calendar_hours as in visits_built.sql); no calendar:
--                      lead_time_s itself
--   process_time_bh_s  the sum of its visits' process_time_bh_s, each in its visit's (team's)
--   queue_time_bh_s    calendar, over the visits cases_elapsed.sql sums (those ended by the exit)
-- A twin is NULL where its elapsed value is. No calendar at all ($any_calendar false: neither
-- the stream nor a team has one): each twin is its elapsed value, and no visit is read.
WITH visit_sums AS (
    SELECT v.case_id, sum(v.process_time_bh_s) AS process_time_bh_s, sum(v.queue_time_bh_s) AS queue_time_bh_s
    FROM flow_visits AS v LEFT JOIN flow_exits AS x USING (case_id)
    WHERE $any_calendar AND (x.exit_ts IS NULL OR v.end_ts <= x.exit_ts)
    GROUP BY v.case_id
),
lead AS (
    SELECT c.case_id,
        calendar_w(x.cum_s, x.full_hour, x.spans, x.hour, c.exit_ts)
            - calendar_w(a.cum_s, a.full_hour, a.spans, a.hour, c.arrival_ts) AS lead_bh
    FROM flow_cases_elapsed AS c
    JOIN flow_calendar_hours AS a ON a.calendar_no = $calendar AND a.hour = calendar_hour(c.arrival_ts)
    JOIN flow_calendar_hours AS x ON x.calendar_no = $calendar AND x.hour = calendar_hour(c.exit_ts)
    WHERE c.exit_ts IS NOT NULL
)
SELECT c.*,
    CASE WHEN $calendar IS NULL THEN c.lead_time_s ELSE l.lead_bh END AS lead_time_bh_s,
    CASE WHEN NOT $any_calendar THEN c.process_time_s
         WHEN c.process_time_s IS NOT NULL THEN s.process_time_bh_s END AS process_time_bh_s,
    CASE WHEN NOT $any_calendar THEN c.queue_time_s
         WHEN c.queue_time_s IS NOT NULL THEN s.queue_time_bh_s END AS queue_time_bh_s
FROM flow_cases_elapsed AS c
LEFT JOIN lead AS l USING (case_id)
LEFT JOIN visit_sums AS s USING (case_id)
