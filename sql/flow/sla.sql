-- name: flow_sla
-- grain: case and service level
-- depends_on: flow_calendar_hours, flow_calendar_intervals, flow_case_sla, flow_cases, flow_sla_defs, flow_sla_pauses, flow_status_periods, flow_visits
-- published_as: sla
-- params: as_of, calendar, first_response, log_shape
-- when: sla
-- flow_sla (grain: case and service level; issue 20): each case under the [[sla]] that picked
-- it (flow_case_sla: the first whose condition holds, pipeline/slas.py), its clock and its
-- state at $as_of. A case whose clock never started (its start status never entered) has no
-- row.
--   start_ts     arrival (flow_cases), or the first entry of the start status / activity
--                (status logs: a period's entered_ts; other logs: a visit's start, else end)
--   stop_ts      the exit, or the first entry of the stop status / activity at or after the
--                start (stop = "first_response": of any work status; other logs: of any
--                step), or the exit when that comes first (a case closed without it);
--                NULL while the clock runs (also when that happens after $as_of)
--   elapsed_s    stop (else as_of) - start
--   paused_s     the part of it in the SLA's pause statuses (flow_sla_pauses; status logs)
--   business_s   the clock: the business time of [start, stop or as_of] outside the pauses,
--                in the stream's calendar ($calendar, W as in visits_built.sql;
--                no calendar: elapsed_s - paused_s)
--   target_s     the SLA's target
--   state        met / breached when stopped (business_s over the target: breached); while
--                running: breached over the target, at_risk from warn_at of it, else running
--   breached_at  when the clock passed the target: the running stretches (between pauses)
--                add up in order; in the one where the sum passes the target, the instant
--                whose W is the stretch start's W plus what was left (inverse lookup)
WITH marks AS (  -- every status / activity entry a start or stop name may name
    SELECT case_id, CAST(status AS VARCHAR) AS name, entered_ts AS ts FROM flow_status_periods
    WHERE $log_shape = 'status'
    UNION ALL
    SELECT case_id, CAST(step AS VARCHAR), coalesce(start_ts, end_ts) FROM flow_visits
    WHERE $log_shape <> 'status'
    UNION ALL  -- stop = "first_response": the first work status entered (other logs: any step)
    SELECT case_id, 'first_response', entered_ts FROM flow_status_periods
    WHERE $log_shape = 'status' AND status_class = 'work' AND $first_response
    UNION ALL
    SELECT case_id, 'first_response', coalesce(start_ts, end_ts) FROM flow_visits
    WHERE $log_shape <> 'status' AND $first_response
),
picked AS (
    SELECT s.case_id, d.*, c.arrival_ts, c.exit_ts
    FROM flow_case_sla AS s
    JOIN flow_sla_defs AS d USING (sla_no)
    JOIN flow_cases AS c USING (case_id)
),
started AS (
    SELECT p.*, CASE WHEN p.start_name IS NULL THEN p.arrival_ts ELSE m.first_ts END AS start_ts
    FROM picked AS p
    LEFT JOIN (SELECT case_id, name, min(ts) AS first_ts FROM marks GROUP BY ALL) AS m
        ON m.case_id = p.case_id AND m.name = p.start_name
),
stopped AS (
    SELECT s.*, CASE WHEN s.stop_name IS NULL THEN s.exit_ts
                     ELSE least((SELECT min(m.ts) FROM marks AS m
                                 WHERE m.case_id = s.case_id AND m.name = s.stop_name AND m.ts >= s.start_ts),
                                CASE WHEN s.exit_ts >= s.start_ts THEN s.exit_ts END) END AS raw_stop_ts
    FROM started AS s
    WHERE s.start_ts IS NOT NULL
),
clocks AS (
    SELECT *,
        CASE WHEN raw_stop_ts <= CAST($as_of AS TIMESTAMPTZ) THEN raw_stop_ts END AS stop_ts,
        coalesce(CASE WHEN raw_stop_ts <= CAST($as_of AS TIMESTAMPTZ) THEN raw_stop_ts END,
                 greatest(CAST($as_of AS TIMESTAMPTZ), start_ts)) AS end_ts
    FROM stopped
),
pauses AS (  -- the pause periods within the clock, clipped to it (a case's periods never overlap)
    SELECT c.case_id, greatest(p.entered_ts, c.start_ts) AS from_ts,
        least(coalesce(p.left_ts, c.end_ts), c.end_ts) AS to_ts
    FROM clocks AS c
    JOIN flow_status_periods AS p ON p.case_id = c.case_id
    JOIN flow_sla_pauses AS z ON z.sla_no = c.sla_no AND z.status = CAST(p.status AS VARCHAR)
    WHERE p.entered_ts < c.end_ts AND coalesce(p.left_ts, c.end_ts) > c.start_ts
),
bounds AS (  -- the pauses, and the clock's end as a last, empty one
    SELECT case_id, from_ts, to_ts FROM pauses
    UNION ALL
    SELECT case_id, end_ts, end_ts FROM clocks
),
stretches AS (  -- the clock runs from the end of the pause before (or the start) to the next pause
    SELECT b.case_id, c.sla_no, c.target_s,
        row_number() OVER w AS stretch_no,
        coalesce(lag(b.to_ts) OVER w, c.start_ts) AS from_ts,
        b.from_ts AS to_ts
    FROM bounds AS b JOIN clocks AS c USING (case_id)
    WINDOW w AS (PARTITION BY b.case_id ORDER BY b.from_ts, b.to_ts)
),
timed AS (  -- W at both ends of each stretch in the stream's calendar; no calendar: the epoch
    SELECT s.*,
        CASE WHEN $calendar IS NULL THEN epoch(s.from_ts)
             ELSE calendar_w(f.cum_s, f.full_hour, f.spans, f.hour, s.from_ts) END AS w_from,
        CASE WHEN $calendar IS NULL THEN epoch(s.to_ts)
             ELSE calendar_w(t.cum_s, t.full_hour, t.spans, t.hour, s.to_ts) END AS w_to
    FROM stretches AS s
    LEFT JOIN flow_calendar_hours AS f ON f.calendar_no = $calendar AND f.hour = calendar_hour(s.from_ts)
    LEFT JOIN flow_calendar_hours AS t ON t.calendar_no = $calendar AND t.hour = calendar_hour(s.to_ts)
),
summed AS (
    SELECT *,
        greatest(w_to - w_from, 0) AS clock_s,
        coalesce(sum(greatest(w_to - w_from, 0)) OVER (PARTITION BY case_id ORDER BY stretch_no
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS clock_before_s,
        seconds_between(from_ts, to_ts) AS running_s
    FROM timed
),
per_case AS (
    SELECT case_id, sum(clock_s) AS business_s, sum(running_s) AS running_s,
        -- the W at which the target is passed, in the stretch where the sum passes it
        any_value(w_from + target_s - clock_before_s)
            FILTER (WHERE clock_before_s <= target_s AND clock_before_s + clock_s > target_s) AS breach_w
    FROM summed GROUP BY case_id
),
breach_points AS (  -- the breaches' W and the calendar's working intervals, in one ordered pass
    SELECT b.case_id, b.breach_w AS w, 1 AS is_breach, CAST(NULL AS TIMESTAMPTZ) AS start_ts,
        CAST(NULL AS DOUBLE) AS cum_before_s
    FROM per_case AS b WHERE b.breach_w IS NOT NULL
    UNION ALL
    SELECT NULL, c.cum_before_s, 0, c.start_ts, c.cum_before_s
    FROM flow_calendar_intervals AS c WHERE c.calendar_no = CAST($calendar AS INTEGER)
),
breach AS (  -- the instant of that W: the last working interval starting below it (what an ASOF
             -- join finds, portably: a breach sorts before an interval at the same W, `below`)
    SELECT case_id,
        CASE WHEN $calendar IS NULL THEN to_timestamp(breach_w)
             ELSE start_ts + to_microseconds(CAST(round((breach_w - cum_before_s) * 1e6) AS BIGINT)) END
            AS breached_at
    FROM (
        SELECT case_id, is_breach, w AS breach_w,
            last_value(start_ts IGNORE NULLS) OVER o AS start_ts,
            last_value(cum_before_s IGNORE NULLS) OVER o AS cum_before_s
        FROM breach_points
        WINDOW o AS (ORDER BY w, is_breach DESC ROWS UNBOUNDED PRECEDING)
    )
    WHERE is_breach = 1
)
SELECT c.case_id, c.sla_name AS sla, c.start_ts, c.stop_ts,
    seconds_between(c.start_ts, c.end_ts) AS elapsed_s,
    p.business_s,
    seconds_between(c.start_ts, c.end_ts) - p.running_s AS paused_s,
    c.target_s,
    CASE WHEN c.stop_ts IS NOT NULL THEN CASE WHEN p.business_s > c.target_s THEN 'breached' ELSE 'met' END
         WHEN p.business_s > c.target_s THEN 'breached'
         WHEN p.business_s >= c.warn_at * c.target_s THEN 'at_risk'
         ELSE 'running' END AS state,
    b.breached_at
FROM clocks AS c
JOIN per_case AS p USING (case_id)
LEFT JOIN breach AS b USING (case_id)
