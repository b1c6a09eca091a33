-- flow_visits with the business twin of each duration (grain: visit; issue 20): *_bh_s is
-- the part of the duration inside the working intervals of the visit's calendar: its team's
-- ([calendars.teams], flow_team_calendars), else the stream's ($calendar; NULL: none).
-- A visit with no calendar is 24x7: each twin is the elapsed value itself.
-- Set-wise, two joins: every instant a duration starts or ends at is looked up once in
-- flow_calendar_intervals (pipeline/calendars.py: the calendar's working intervals in UTC,
-- each with the working seconds before it) by an ASOF join, giving W(t), the calendar's
-- working seconds up to t; a business duration is W(end) - W(start); the instants' W go
-- back to their visit by a GROUP BY and a join.
--   queue_time_bh_s      W(start) - W(ready)
--   process_time_bh_s    W(end) - W(start) - paused_bh_s
--   elapsed_bh_s         W(end) - W(ready)
--   paused_bh_s          sum over the pauses between sessions of W(to) - W(from)
--   queue_internal_bh_s  status logs: sum over the visit's internal wait periods (those of its
--   queue_external_bh_s  work_no - 1, int_visits_status.sql) of W(left) - W(entered); external:
--                        external waits and done periods, as queue_external_s. Team visits
--                        ([flow] step_by = "team") have no work_no: their split is the queue's
--                        business time shared in the elapsed split's proportions.
-- A twin is NULL where its elapsed value is.
-- Drops the columns fct_visits.sql passed on for this step only (pauses, work_no).
CREATE OR REPLACE TEMP TABLE flow_visits AS
WITH calendared AS (
    SELECT v.case_id, v.seq, v.ready_ts, v.start_ts, v.end_ts, v.pauses, v.work_no,
        coalesce(t.calendar_no, CAST($calendar AS INTEGER)) AS calendar_no
    FROM flow_visits AS v
    LEFT JOIN flow_team_calendars AS t ON t.team = v.team
),
timed AS (SELECT * FROM calendared WHERE calendar_no IS NOT NULL),
paused AS (SELECT case_id, seq, calendar_no, unnest(pauses) AS p FROM timed WHERE pauses IS NOT NULL),
waits AS (  -- the wait periods before a status log's work visit
    SELECT t.case_id, t.seq, t.calendar_no, p.entered_ts, p.left_ts,
        CASE WHEN p.wait_kind = 'internal' THEN 'internal'
             WHEN p.wait_kind = 'external' OR p.status_class = 'done' THEN 'external' END AS kind
    FROM timed AS t
    JOIN flow_status_periods AS p ON p.case_id = t.case_id AND p.work_no = t.work_no - 1
    WHERE p.status_class IN ('wait', 'done')
),
instants AS (  -- kind: which W it is; several rows of one kind add up (pauses, waits)
    SELECT case_id, seq, calendar_no, 'ready' AS kind, ready_ts AS ts FROM timed WHERE ready_ts IS NOT NULL
    UNION ALL
    SELECT case_id, seq, calendar_no, 'start', start_ts FROM timed WHERE start_ts IS NOT NULL
    UNION ALL
    SELECT case_id, seq, calendar_no, 'end', end_ts FROM timed WHERE end_ts IS NOT NULL
    UNION ALL
    SELECT case_id, seq, calendar_no, 'pause_from', p.from_ts FROM paused
    UNION ALL
    SELECT case_id, seq, calendar_no, 'pause_to', p.to_ts FROM paused
    UNION ALL
    SELECT case_id, seq, calendar_no, kind || '_from', entered_ts FROM waits WHERE kind IS NOT NULL
    UNION ALL
    SELECT case_id, seq, calendar_no, kind || '_to', left_ts FROM waits WHERE kind IS NOT NULL
),
worked AS (  -- W(t): working seconds of the calendar up to t
    SELECT i.case_id, i.seq, i.kind,
        coalesce(c.cum_before_s + least(epoch(i.ts) - epoch(c.start_ts), c.length_s), 0) AS w
    FROM instants AS i
    ASOF LEFT JOIN flow_calendar_intervals AS c ON c.calendar_no = i.calendar_no AND c.start_ts <= i.ts
),
per_visit AS (
    SELECT case_id, seq,
        any_value(w) FILTER (WHERE kind = 'ready') AS w_ready,
        any_value(w) FILTER (WHERE kind = 'start') AS w_start,
        any_value(w) FILTER (WHERE kind = 'end') AS w_end,
        coalesce(sum(w) FILTER (WHERE kind = 'pause_to'), 0)
            - coalesce(sum(w) FILTER (WHERE kind = 'pause_from'), 0) AS paused_bh_s,
        coalesce(sum(w) FILTER (WHERE kind = 'internal_to'), 0)
            - coalesce(sum(w) FILTER (WHERE kind = 'internal_from'), 0) AS internal_bh_s,
        coalesce(sum(w) FILTER (WHERE kind = 'external_to'), 0)
            - coalesce(sum(w) FILTER (WHERE kind = 'external_from'), 0) AS external_bh_s
    FROM worked
    GROUP BY case_id, seq
),
twins AS (
    SELECT v.* EXCLUDE (pauses, work_no),
        b.case_id IS NOT NULL AS timed,
        v.work_no IS NOT NULL AS has_periods,
        b.w_start - b.w_ready AS queue_bh,
        b.w_end - b.w_start - CASE WHEN v.start_ts IS NOT NULL THEN b.paused_bh_s END AS process_bh,
        b.w_end - b.w_ready AS elapsed_bh,
        b.paused_bh_s, b.internal_bh_s, b.external_bh_s
    FROM flow_visits AS v
    LEFT JOIN per_visit AS b USING (case_id, seq)
)
SELECT * EXCLUDE (timed, has_periods, queue_bh, process_bh, elapsed_bh, paused_bh_s, internal_bh_s, external_bh_s),
    CASE WHEN timed THEN queue_bh ELSE queue_time_s END AS queue_time_bh_s,
    CASE WHEN timed THEN process_bh ELSE process_time_s END AS process_time_bh_s,
    CASE WHEN timed THEN elapsed_bh ELSE elapsed_s END AS elapsed_bh_s,
    CASE WHEN NOT timed THEN paused_s WHEN paused_s IS NOT NULL THEN paused_bh_s END AS paused_bh_s,
    CASE WHEN NOT timed OR queue_internal_s IS NULL THEN queue_internal_s
         WHEN has_periods THEN internal_bh_s
         WHEN queue_time_s > 0 THEN queue_bh * queue_internal_s / queue_time_s
         ELSE 0 END AS queue_internal_bh_s,
    CASE WHEN NOT timed OR queue_external_s IS NULL THEN queue_external_s
         WHEN has_periods THEN external_bh_s
         WHEN queue_time_s > 0 THEN queue_bh * queue_external_s / queue_time_s
         ELSE 0 END AS queue_external_bh_s
FROM twins;
