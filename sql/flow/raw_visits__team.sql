-- name: flow_raw_visits
-- grain: team visit
-- depends_on: flow_calendar_hours, flow_owner_names, flow_status_keys, flow_team_calendars, flow_visit_events
-- params: calendar
-- when: step_by = team
-- flow_raw_visits for [flow] step_by = "team" on status logs (grain: visit = a stretch of a
-- case with one team): the steps are the teams (assignment groups) a case passes through.
-- Replaces the work-status visits status_periods_built__status.sql made; flow_status_periods stays.
-- A stretch is a run of the case's rows (dropped statuses skipped, as for periods) with the
-- same team; rows without a team are the team "(no team)". Rows in a done status belong to
-- no team: they end the stretch before them (the case is resolved; see exits__status.sql)
-- and a later row (a reopen) starts a new one, a second visit to its team if it had the
-- case before (rework). Each row lasts until the case's next row; the stretch's rows in wait
-- statuses are its queue, those in work statuses its process time:
--   start_ts = entered_ts + the stretch's wait time, end_ts = left_ts (the next stretch's,
--   or the done status's, first row; NULL while the case is still with the team),
-- so that visits_elapsed.sql gives queue_time_s = the waits inside the stretch (plus, after a
-- reopen, the time in done before it, as for work-status visits) and process_time_s = the
-- work inside it. start_ts is a bookkeeping instant, not one anything happened at: waits
-- and work may alternate inside a stretch. A stretch the case is still in counts the waits
-- of its rows so far.
-- team_queue_bh_s, team_queue_internal_bh_s, team_queue_external_bh_s: the queue and its
-- split in business time (issue 20), summed over the rows (each in its team's calendar);
-- they stand in for W(start) - W(ready), start_ts being a bookkeeping instant.
WITH keyed AS (
    SELECT e.case_id, e.ts, e.ord, e.resource, e.team, e.source_line, k.status_class, k.wait_kind,
        CASE WHEN k.status_class <> 'done' THEN coalesce(e.team, 0) END AS team_key  -- NULL: done
    FROM flow_visit_events AS e
    JOIN flow_status_keys AS k ON k.status = e.activity
),
marked AS (
    SELECT *,
        CASE WHEN team_key IS DISTINCT FROM lag(team_key) OVER w THEN 1 ELSE 0 END AS new_stretch,
        lead(ts) OVER w AS next_ts,
        lag(resource) OVER w AS prev_row_resource
    FROM keyed
    WINDOW w AS (PARTITION BY case_id ORDER BY ord)
),
numbered AS (
    SELECT *,
        sum(new_stretch) OVER (PARTITION BY case_id ORDER BY ord ROWS UNBOUNDED PRECEDING) AS stretch_no,
        seconds_between(ts, next_ts) AS row_s
    FROM marked
),
worked AS (  -- each row's business seconds (issue 20), in its team's calendar, else the stream's
    -- ($calendar; NULL without one): the stretch's waits in business time, row by row
    SELECT n.*,
        calendar_w(x.cum_s, x.full_hour, x.spans, x.hour, n.next_ts)
            - calendar_w(a.cum_s, a.full_hour, a.spans, a.hour, n.ts) AS row_bh_s
    FROM (
        SELECT n.*, coalesce(c.calendar_no, CAST($calendar AS INTEGER)) AS calendar_no
        FROM numbered AS n LEFT JOIN flow_team_calendars AS c ON c.team = n.team
    ) AS n
    LEFT JOIN flow_calendar_hours AS a ON a.calendar_no = n.calendar_no AND a.hour = calendar_hour(n.ts)
    LEFT JOIN flow_calendar_hours AS x ON x.calendar_no = n.calendar_no AND x.hour = calendar_hour(n.next_ts)
),
stretches AS (
    SELECT case_id, stretch_no,
        any_value(team_key) AS team_key,
        min(ts) AS entered_ts,
        CASE WHEN count(next_ts) = count(*) THEN max(next_ts) END AS left_ts,  -- NULL: still in it
        coalesce(sum(row_s) FILTER (WHERE status_class = 'wait'), 0) AS wait_s,
        coalesce(sum(row_s) FILTER (WHERE wait_kind = 'internal'), 0) AS internal_s,
        coalesce(sum(row_s) FILTER (WHERE wait_kind = 'external'), 0) AS external_s,
        coalesce(sum(row_bh_s) FILTER (WHERE status_class = 'wait'), 0) AS wait_bh_s,
        coalesce(sum(row_bh_s) FILTER (WHERE wait_kind = 'internal'), 0) AS internal_bh_s,
        coalesce(sum(row_bh_s) FILTER (WHERE wait_kind = 'external'), 0) AS external_bh_s,
        sum(row_bh_s) AS stretch_bh_s,
        arg_max(resource, ord) AS resource,
        arg_max(team, ord) AS team,
        count(*) FILTER (WHERE new_stretch = 0 AND resource IS NOT NULL AND prev_row_resource IS NOT NULL
                         AND resource <> prev_row_resource) AS reassignments,
        min(source_line) AS source_line
    FROM worked
    GROUP BY case_id, stretch_no
),
with_done AS (  -- the time in done statuses just before a stretch (a reopen): external queue
    SELECT *,
        lag(CASE WHEN team_key IS NULL THEN seconds_between(entered_ts, left_ts) END)
            OVER (PARTITION BY case_id ORDER BY stretch_no) AS done_before_s,
        lag(CASE WHEN team_key IS NULL THEN stretch_bh_s END)
            OVER (PARTITION BY case_id ORDER BY stretch_no) AS done_before_bh_s
    FROM stretches
)
SELECT s.case_id,
    coalesce(o.name, '(no team)') AS step,
    s.entered_ts + to_microseconds(CAST(round(s.wait_s * 1e6) AS BIGINT)) AS start_ts,
    s.left_ts AS end_ts,
    s.resource, s.team, s.reassignments, s.source_line,
    s.internal_s AS queue_internal_s,
    s.external_s + coalesce(s.done_before_s, 0) AS queue_external_s,
    -- the same in business time, row by row (start_ts is no instant to measure from):
    -- visits_built.sql takes them as the visit's queue and its split
    s.wait_bh_s + coalesce(s.done_before_bh_s, 0) AS team_queue_bh_s,
    s.internal_bh_s AS team_queue_internal_bh_s,
    s.external_bh_s + coalesce(s.done_before_bh_s, 0) AS team_queue_external_bh_s,
    CAST(NULL AS BIGINT) AS work_no  -- status-visit work periods: none here
FROM with_done AS s
LEFT JOIN flow_owner_names AS o ON o.owner_no = s.team
WHERE s.team_key IS NOT NULL
