-- flow_cases with the business twins of its durations (grain: case; issue 20):
--   lead_time_bh_s     W(exit) - W(arrival) in the stream's calendar ($calendar; W and
--                      flow_calendar_intervals as in fct_visits_business.sql); no calendar:
--                      lead_time_s itself
--   process_time_bh_s  the sum of its visits' process_time_bh_s, each in its visit's (team's)
--   queue_time_bh_s    calendar, over the visits fct_cases.sql sums (those ended by the exit)
-- A twin is NULL where its elapsed value is.
CREATE OR REPLACE TEMP TABLE flow_cases AS
WITH visit_sums AS (
    SELECT v.case_id, sum(v.process_time_bh_s) AS process_time_bh_s, sum(v.queue_time_bh_s) AS queue_time_bh_s
    FROM flow_visits AS v LEFT JOIN flow_exits AS x USING (case_id)
    WHERE x.exit_ts IS NULL OR v.end_ts <= x.exit_ts
    GROUP BY v.case_id
),
instants AS (
    SELECT case_id, CAST($calendar AS INTEGER) AS calendar_no, 'arrival' AS kind, arrival_ts AS ts
    FROM flow_cases WHERE $calendar IS NOT NULL AND exit_ts IS NOT NULL
    UNION ALL
    SELECT case_id, CAST($calendar AS INTEGER), 'exit', exit_ts
    FROM flow_cases WHERE $calendar IS NOT NULL AND exit_ts IS NOT NULL
),
worked AS (
    SELECT i.case_id, i.kind,
        coalesce(c.cum_before_s + least(epoch(i.ts) - epoch(c.start_ts), c.length_s), 0) AS w
    FROM instants AS i
    ASOF LEFT JOIN flow_calendar_intervals AS c ON c.calendar_no = i.calendar_no AND c.start_ts <= i.ts
),
lead AS (
    SELECT case_id,
        any_value(w) FILTER (WHERE kind = 'exit') - any_value(w) FILTER (WHERE kind = 'arrival') AS lead_bh
    FROM worked GROUP BY case_id
)
SELECT c.*,
    CASE WHEN $calendar IS NULL THEN c.lead_time_s ELSE l.lead_bh END AS lead_time_bh_s,
    CASE WHEN c.process_time_s IS NOT NULL THEN s.process_time_bh_s END AS process_time_bh_s,
    CASE WHEN c.queue_time_s IS NOT NULL THEN s.queue_time_bh_s END AS queue_time_bh_s
FROM flow_cases AS c
LEFT JOIN lead AS l USING (case_id)
LEFT JOIN visit_sums AS s USING (case_id);
