-- name: flow_visits_built
-- grain: visit
-- depends_on: flow_calendar_hours, flow_status_periods_built, flow_team_calendars, flow_visit_pauses, flow_visits_elapsed
-- params: calendar
-- when: any_calendar
-- flow_visits with the business twin of each duration (grain: visit; issue 20): *_bh_s is
-- the part of the duration inside the working intervals of the visit's calendar: its team's
-- ([calendars.teams], flow_team_calendars), else the stream's ($calendar; NULL: none).
-- A visit with no calendar is 24x7: each twin is the elapsed value itself. A stream with no
-- calendar at all (neither [flow] calendar nor [calendars.teams]) builds its visits with
-- visits_built__no_calendar.sql instead: the same rows, without the joins.
-- Set-wise: W(t), the calendar's working seconds up to instant t, comes from t's hour in
-- flow_calendar_hours (calendar_hours.sql: an equality join on the hour, and the macro
-- calendar_w), one join per instant of the visit; a business duration is W(end) - W(start).
--   queue_time_bh_s      W(start) - W(ready)
--   process_time_bh_s    W(end) - W(start) - paused_bh_s
--   elapsed_bh_s         W(end) - W(ready)
--   paused_bh_s          sum over the pauses between sessions of W(to) - W(from)
--   queue_internal_bh_s  status logs: sum over the visit's internal wait periods (those of its
--   queue_external_bh_s  work_no - 1, status_periods_built__status.sql) of W(left) - W(entered); external:
--                        external waits and done periods, as queue_external_s.
-- Team visits ([flow] step_by = "team", raw_visits__team.sql): start_ts is a bookkeeping
-- instant (entered + the stretch's waits), so the queue and its split come summed row by row
-- from raw_visits__team.sql (team_queue_*_bh_s), and process = W(end) - W(ready) - queue.
-- A twin is NULL where its elapsed value is.
-- Drops the columns visits_elapsed.sql passed on for this step only (visit_key, work_no). The
-- pauses come from flow_visit_pauses (visit_pauses.sql), by (case, visit_key).
WITH calendared AS (
    SELECT v.*, coalesce(t.calendar_no, CAST($calendar AS INTEGER)) AS calendar_no
    FROM flow_visits_elapsed AS v
    LEFT JOIN flow_team_calendars AS t ON t.team = v.team
),
paused AS (  -- the pauses between sessions (interval logs; few visits have any)
    SELECT v.case_id, v.seq, v.calendar_no, unnest(s.pauses) AS p
    FROM calendared AS v
    JOIN flow_visit_pauses AS s ON s.case_id = v.case_id AND s.visit_key = v.visit_key
    WHERE v.calendar_no IS NOT NULL
),
paused_bh AS (
    SELECT p.case_id, p.seq,
        sum(calendar_w(t.cum_s, t.full_hour, t.spans, t.hour, p.p.to_ts)
            - calendar_w(f.cum_s, f.full_hour, f.spans, f.hour, p.p.from_ts)) AS paused_bh_s
    FROM paused AS p
    JOIN flow_calendar_hours AS f ON f.calendar_no = p.calendar_no AND f.hour = calendar_hour(p.p.from_ts)
    JOIN flow_calendar_hours AS t ON t.calendar_no = p.calendar_no AND t.hour = calendar_hour(p.p.to_ts)
    GROUP BY p.case_id, p.seq
),
wait_periods AS (  -- a status log's wait periods before a work visit, in the visit's calendar
    SELECT v.case_id, v.seq, v.calendar_no, p.entered_ts, p.left_ts,
        CASE WHEN p.wait_kind = 'internal' THEN 'internal'
             WHEN p.wait_kind = 'external' OR p.status_class = 'done' THEN 'external' END AS kind
    FROM calendared AS v
    JOIN flow_status_periods_built AS p ON p.case_id = v.case_id AND p.work_no = v.work_no - 1
    WHERE v.calendar_no IS NOT NULL AND p.status_class IN ('wait', 'done')
),
waits_bh AS (
    SELECT w.case_id, w.seq,
        coalesce(sum(calendar_w(t.cum_s, t.full_hour, t.spans, t.hour, w.left_ts)
                     - calendar_w(f.cum_s, f.full_hour, f.spans, f.hour, w.entered_ts))
                 FILTER (WHERE w.kind = 'internal'), 0) AS internal_bh_s,
        coalesce(sum(calendar_w(t.cum_s, t.full_hour, t.spans, t.hour, w.left_ts)
                     - calendar_w(f.cum_s, f.full_hour, f.spans, f.hour, w.entered_ts))
                 FILTER (WHERE w.kind = 'external'), 0) AS external_bh_s
    FROM wait_periods AS w
    JOIN flow_calendar_hours AS f ON f.calendar_no = w.calendar_no AND f.hour = calendar_hour(w.entered_ts)
    JOIN flow_calendar_hours AS t ON t.calendar_no = w.calendar_no AND t.hour = calendar_hour(w.left_ts)
    GROUP BY w.case_id, w.seq
),
worked AS (
    SELECT v.*,
        calendar_w(r.cum_s, r.full_hour, r.spans, r.hour, v.ready_ts) AS w_ready,
        calendar_w(s.cum_s, s.full_hour, s.spans, s.hour, v.start_ts) AS w_start,
        calendar_w(e.cum_s, e.full_hour, e.spans, e.hour, v.end_ts) AS w_end
    FROM calendared AS v
    LEFT JOIN flow_calendar_hours AS r ON r.calendar_no = v.calendar_no AND r.hour = calendar_hour(v.ready_ts)
    LEFT JOIN flow_calendar_hours AS s ON s.calendar_no = v.calendar_no AND s.hour = calendar_hour(v.start_ts)
    LEFT JOIN flow_calendar_hours AS e ON e.calendar_no = v.calendar_no AND e.hour = calendar_hour(v.end_ts)
)
SELECT v.* EXCLUDE (visit_key, work_no, calendar_no, w_ready, w_start, w_end, team_queue_bh_s,
                    team_queue_internal_bh_s, team_queue_external_bh_s),
    CASE WHEN v.calendar_no IS NULL THEN v.queue_time_s
         WHEN v.team_queue_bh_s IS NOT NULL THEN CASE WHEN v.queue_time_s IS NOT NULL THEN v.team_queue_bh_s END
         ELSE v.w_start - v.w_ready END AS queue_time_bh_s,
    CASE WHEN v.calendar_no IS NULL THEN v.process_time_s
         WHEN v.team_queue_bh_s IS NOT NULL AND v.ready_ts IS NOT NULL THEN v.w_end - v.w_ready - v.team_queue_bh_s
         ELSE v.w_end - v.w_start - CASE WHEN v.start_ts IS NOT NULL THEN coalesce(p.paused_bh_s, 0) END
    END AS process_time_bh_s,
    CASE WHEN v.calendar_no IS NULL THEN v.elapsed_s ELSE v.w_end - v.w_ready END AS elapsed_bh_s,
    CASE WHEN v.calendar_no IS NULL THEN v.paused_s
         WHEN v.paused_s IS NOT NULL THEN coalesce(p.paused_bh_s, 0) END AS paused_bh_s,
    CASE WHEN v.calendar_no IS NULL OR v.queue_internal_s IS NULL THEN v.queue_internal_s
         WHEN v.work_no IS NOT NULL THEN coalesce(w.internal_bh_s, 0)
         ELSE coalesce(v.team_queue_internal_bh_s, 0) END AS queue_internal_bh_s,
    CASE WHEN v.calendar_no IS NULL OR v.queue_external_s IS NULL THEN v.queue_external_s
         WHEN v.work_no IS NOT NULL THEN coalesce(w.external_bh_s, 0)
         ELSE coalesce(v.team_queue_external_bh_s, 0) END AS queue_external_bh_s
FROM worked AS v
LEFT JOIN paused_bh AS p ON p.case_id = v.case_id AND p.seq = v.seq  -- ON, not USING: with v.*,
LEFT JOIN waits_bh AS w ON w.case_id = v.case_id AND w.seq = v.seq     -- Spark lists USING keys first
