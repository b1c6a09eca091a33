-- name: flow_quality_findings
-- grain: rule that fires
-- depends_on: flow_automatic_closes, flow_boundary_markers, flow_case_names, flow_cases, flow_end_steps, flow_event_findings, flow_exit_findings, flow_exits, flow_handoff_counter, flow_lifecycle, flow_placeholder_statuses, flow_stale_after, flow_status_classes, flow_visits, flow_window, rejects, runs
-- published_as: quality_findings
-- params: as_of, as_of_text, ends_inferred, log_shape, stale_after_s, stream, window_end, window_start
-- timezone_assumption, missing_values: a finding read off the stream's latest load whose runs
-- message holds a note matching a regular expression (a note that starts with its count,
-- e.g. '12 timestamp values have ...'): count = that number, detail = the note and its load
-- run; count 0 when no load said it (the rule does not fire). The load writes these notes
-- (pipeline/ingest.py LoadResult.message).
WITH reject_kinds AS (
    SELECT regexp_replace(reason, ':.*', '') AS kind, count(*) AS n
    FROM rejects WHERE stream = $stream GROUP BY kind
),
rejected_rows AS (
    SELECT 'rejected_rows' AS rule, 'error' AS severity,
        (SELECT count(*) FROM rejects WHERE stream = $stream) AS count,
        (SELECT 'line ' || arg_min(line, (run_id, line)) FROM rejects WHERE stream = $stream) AS example, CAST(NULL AS INTEGER) AS example_case,
        'rows not loaded (see the rejects table): '
            || string_agg(kind || ' (' || n || ')', ', ' ORDER BY n DESC, kind) AS detail
    FROM reject_kinds
),
complete_before_start AS (
    SELECT 'complete_before_start' AS rule, 'error' AS severity, count(*) AS count,
        CAST(NULL AS VARCHAR) AS example, arg_min(case_id, (start_ts, case_id)) AS example_case,
        'visits that end before they start (a start time later than the row''s timestamp); '
            || 'their process time is negative' AS detail
    FROM flow_visits WHERE end_ts < start_ts
),
negative_durations AS (
    SELECT 'negative_durations' AS rule, 'error' AS severity, count(*) AS count,
        CAST(NULL AS VARCHAR) AS example, arg_min(case_id, (coalesce(start_ts, end_ts), case_id)) AS example_case,
        'visits with a negative duration: ' || count(*) FILTER (WHERE queue_time_s < 0) || ' queue, '
            || count(*) FILTER (WHERE process_time_s < 0) || ' process, '
            || count(*) FILTER (WHERE elapsed_s < 0) || ' elapsed' AS detail
    FROM flow_visits WHERE queue_time_s < 0 OR process_time_s < 0 OR elapsed_s < 0
),
unmatched_completes AS (
    SELECT 'unmatched_completes' AS rule, 'warning' AS severity, count(*) AS count,
        CAST(NULL AS VARCHAR) AS example, arg_min(case_id, (ts, case_id)) AS example_case,
        'completes with no open start of the same step in the case; they make no visit and are '
            || 'left off the map' AS detail
    FROM flow_lifecycle WHERE is_lone
),
unmatched_starts AS (
    SELECT 'unmatched_starts' AS rule, 'info' AS severity, count(*) AS count,
        CAST(NULL AS VARCHAR) AS example, arg_min(case_id, (start_ts, case_id)) AS example_case,
        'visits started and not completed: counted as work in process, their cases stay open' AS detail
    FROM flow_visits WHERE in_process AND $log_shape = 'interval'
),
guessed_statuses AS (
    SELECT status, events, status_class || coalesce(' (' || wait_kind || ')', '')
            || CASE WHEN decided_by = 'fallback' THEN ' (no rule matched)' ELSE '' END AS guess
    FROM flow_status_classes WHERE decided_by IN ('default', 'fallback')
        AND CAST(status AS VARCHAR) NOT IN (SELECT status FROM flow_placeholder_statuses)  -- placeholder_statuses
),
unmapped_statuses AS (
    SELECT 'unmapped_statuses' AS rule, 'warning' AS severity, count(*) AS count,
        arg_max(status, (events, status)) AS example, CAST(NULL AS INTEGER) AS example_case,
        'status classes guessed from the name; confirm or correct them in [status_classes]: '
            -- the first 20 by events (a rank, then an ordered string_agg: portable)
            || string_agg(status || ' → ' || guess, ', ' ORDER BY events DESC, status) FILTER (WHERE shown <= 20)
            || CASE WHEN count(*) > 20 THEN ', … (' || (count(*) - 20) || ' more)' ELSE '' END AS detail
    FROM (SELECT *, row_number() OVER (ORDER BY events DESC, status) AS shown FROM guessed_statuses)
),
load_notes_timezone_assumption AS (  -- the latest load's note of this kind (pipeline/ingest.py LoadResult.message)
    SELECT regexp_extract(message, '[0-9,]+ timestamp values have no UTC offset and were read as [^;]+', 0) AS note, run_id
    FROM runs
    WHERE stream = $stream AND kind = 'ingest' AND regexp_matches(message, '[0-9,]+ timestamp values have no UTC offset and were read as [^;]+')
    ORDER BY run_id DESC LIMIT 1
),
timezone_assumption AS (
    SELECT 'timezone_assumption' AS rule, 'info' AS severity,
        coalesce(max(CAST(replace(regexp_extract(note, '^([0-9,]+)', 1), ',', '') AS BIGINT)), 0) AS count,
        CAST(NULL AS VARCHAR) AS example, CAST(NULL AS INTEGER) AS example_case,
        max(note || ' (load run ' || run_id || ')') AS detail
    FROM load_notes_timezone_assumption
),
placeholder_statuses AS (
    SELECT 'placeholder_statuses' AS rule, 'warning' AS severity, coalesce(sum(events), 0) AS count,
        arg_max(status, (events, status)) AS example, CAST(NULL AS INTEGER) AS example_case,
        'statuses that only hold a place, not drawn as a work step: '
            || string_agg('''' || status || ''' (' || events || ' events)', ', ' ORDER BY events DESC, status)
            || '; treated as dropped; name it in [status_classes] or [steps] to keep it' AS detail
    FROM flow_placeholder_statuses
),
load_notes_missing_values AS (  -- the latest load's note of this kind (pipeline/ingest.py LoadResult.message)
    SELECT regexp_extract(message, '[0-9,]+ values were missing-value tokens, read as missing: [^;]+', 0) AS note, run_id
    FROM runs
    WHERE stream = $stream AND kind = 'ingest' AND regexp_matches(message, '[0-9,]+ values were missing-value tokens, read as missing: [^;]+')
    ORDER BY run_id DESC LIMIT 1
),
missing_values AS (
    SELECT 'missing_values' AS rule, 'info' AS severity,
        coalesce(max(CAST(replace(regexp_extract(note, '^([0-9,]+)', 1), ',', '') AS BIGINT)), 0) AS count,
        CAST(NULL AS VARCHAR) AS example, CAST(NULL AS INTEGER) AS example_case,
        max(note || ' (load run ' || run_id || ')') AS detail
    FROM load_notes_missing_values
),
open_cases AS (
    SELECT 'open_cases' AS rule, 'info' AS severity, count(*) FILTER (WHERE is_open) AS count,
        CAST(NULL AS VARCHAR) AS example, arg_min(case_id, (arrival_ts, case_id)) FILTER (WHERE is_open) AS example_case,
        count(*) FILTER (WHERE is_open) || ' of ' || count(*) || ' cases ('
            || printf('%.1f%%', CAST(100 * count(*) FILTER (WHERE is_open) / count(*) AS DOUBLE)) || ') are open at '
            || $as_of_text || ': not yet at an end' AS detail
    FROM flow_cases
),
boundary_markers AS (
    SELECT 'boundary_markers' AS rule, 'info' AS severity, coalesce(sum(boundary_cases), 0) AS count,
        CAST(NULL AS VARCHAR) AS example, min(example_case) AS example_case,
        'artificial ' || string_agg(side, '/' ORDER BY side DESC) || ' activities left out of handoffs and '
            || 'reassignments: '
            || string_agg(CAST(activity AS VARCHAR) || ' (' || side || ': ' || CASE side WHEN 'start' THEN 'first'
                   ELSE 'last' END || ' event of ' || boundary_cases || ' of ' || cases || ' cases'
                   || CASE WHEN with_neighbour > 0 AND same_instant >= 0.9 * with_neighbour
                           THEN ', at the same instant as the ' || CASE side WHEN 'start' THEN 'next'
                                ELSE 'previous' END || ' event in ' || same_instant || ' of ' || with_neighbour
                           ELSE '' END
                   || CASE WHEN pseudo_owner >= 0.9 * boundary_cases
                           THEN ', by a pseudo-resource or team in ' || pseudo_owner ELSE '' END
                   || ')', ', ' ORDER BY side DESC, activity)
            || '; they stay on the map as steps ([steps] drop takes them off)' AS detail
    FROM flow_boundary_markers
),
counter_compared AS (  -- the log's own counter against the flow's handoffs, case by case
    SELECT any_value(k.source_column) AS source_column, count(*) AS cases,
        sum(k.counted) AS counted, sum(c.handoffs) AS handoffs, sum(c.reassignments) AS reassignments,
        min(k.case_id) AS example_case
    FROM flow_handoff_counter AS k
    JOIN flow_cases AS c USING (case_id)
),
handoff_crosscheck AS (
    SELECT 'handoff_crosscheck' AS rule,
        CASE WHEN abs(handoffs - counted) > 0.1 * counted THEN 'warning' ELSE 'info' END AS severity,
        coalesce(cases, 0) AS count,
        CAST(NULL AS VARCHAR) AS example, example_case AS example_case,
        'the log''s own column ' || source_column || ' counts ' || printf('%,d', CAST(counted AS BIGINT))
            || ' reassignments in ' || printf('%,d', cases) || ' cases (' || printf('%.2f', CAST(counted / cases AS DOUBLE))
            || ' per case); the flow counts ' || printf('%,d', handoffs) || ' handoffs ('
            || printf('%.2f', CAST(handoffs / cases AS DOUBLE)) || ' per case) and ' || printf('%,d', reassignments)
            || ' reassignments within a team in them: '
            || CASE WHEN abs(handoffs - counted) > 0.1 * counted
                    THEN 'they differ by more than 10%; check the team column, or whether the column '
                         || 'counts something else'
                    ELSE 'they agree within 10%' END AS detail
    FROM counter_compared
),
work_after_exit AS (
    SELECT 'work_after_exit' AS rule, 'warning' AS severity, count(*) AS count,
        CAST(NULL AS VARCHAR) AS example, arg_min(v.case_id, (coalesce(v.end_ts, v.start_ts), v.case_id)) AS example_case,
        count(*) || ' visits in ' || count(DISTINCT v.case_id) || ' completed cases end after the case''s '
            || 'exit (the end of its last end-step visit) or are in process since: the case counts as '
            || 'completed at its exit, and these visits are not in its lead time, path or process time' AS detail
    FROM flow_visits AS v
    JOIN flow_exits AS x USING (case_id)
    WHERE $log_shape <> 'status' AND (v.end_ts > x.exit_ts OR (v.in_process AND v.start_ts >= x.exit_ts))
      AND v.step NOT IN (SELECT step FROM flow_end_steps WHERE is_automatic_close)  -- automatic_close
),
-- automatic_close: the completed cases whose exit is an automatic close (automatic_closes.sql,
-- exits__end_steps.sql): they end when they became ready for it, and its visit, after their
-- exit, is not in their lead time. One row for all such steps; count = those cases.
closed_after_exit AS (
    SELECT CAST(v.step AS VARCHAR) AS step, v.case_id, v.end_ts, seconds_between(x.exit_ts, v.end_ts) AS wait_s
    FROM flow_visits AS v
    JOIN flow_exits AS x USING (case_id)
    WHERE v.end_ts > x.exit_ts AND v.step IN (SELECT step FROM flow_end_steps WHERE is_automatic_close)
),
closed_steps AS (
    SELECT c.step, count(DISTINCT c.case_id) AS cases, median(c.wait_s) AS wait_p50_s,
        any_value(a.visits) AS visits, any_value(a.delay_s) AS delay_s, any_value(a.at_delay) AS at_delay,
        any_value(a.clock_times) AS clock_times
    FROM closed_after_exit AS c JOIN flow_automatic_closes AS a USING (step)
    GROUP BY c.step
),
automatic_close AS (
    SELECT 'automatic_close' AS rule, 'info' AS severity,
        (SELECT count(DISTINCT case_id) FROM closed_after_exit) AS count,
        CAST(NULL AS VARCHAR) AS example,
        (SELECT arg_min(case_id, (end_ts, case_id)) FROM closed_after_exit) AS example_case,
        string_agg(
            '''' || step || ''' comes ' || printf('%.2f', CAST(delay_s / 86400 AS DOUBLE))
                || ' d (within the minute) after the case became ready for it in ' || printf('%,d', at_delay) || ' of its '
                || printf('%,d', visits) || ' visits (' || printf('%.0f', CAST(100 * at_delay / visits AS DOUBLE))
                || '%), ready at ' || printf('%,d', clock_times) || ' different times of day: a close the '
                || 'system makes by itself. ' || printf('%,d', cases) || ' completed cases end when they became '
                || 'ready for it (the end of the step before), so the wait for it (a median '
                || printf('%.1f', CAST(wait_p50_s / 86400 AS DOUBLE)) || ' d) is not in their lead time',
            '; ' ORDER BY step
        ) || '. To count the close, set [flow] end_activities (e.g. ["'
            || min(step) || '"])' AS detail
    FROM closed_steps
),
stale_cases AS (
    SELECT 'stale_cases' AS rule, 'warning' AS severity, count(*) AS count,
        CAST(NULL AS VARCHAR) AS example, arg_min(case_id, (last_event_ts, case_id)) AS example_case,
        count(*) || ' open cases have had no event for more than '
            || printf('%.1f', CAST((SELECT stale_after_s FROM flow_stale_after) / 86400 AS DOUBLE)) || ' days ('
            || CASE WHEN $stale_after_s IS NULL THEN 'the p99 lead time of completed cases; set [flow] stale_after'
                    ELSE '[flow] stale_after' END
            || ') before ' || $as_of_text
            || ': they are stale, counted apart from WIP and Little''s Law (aging WIP state ''stale'')' AS detail
    FROM flow_cases WHERE is_stale
),
case_endings AS (  -- each completed case's last visit: its step, the step before, the wait
    SELECT v.case_id, any_value(c.lead_time_s) AS lead_time_s,
        arg_max(v.step, v.seq) AS last_step, arg_max(v.prev_step, v.seq) AS before_step,
        arg_max(v.elapsed_s, v.seq) AS wait_s  -- from the step before's end to its end
    FROM flow_visits AS v
    JOIN flow_cases AS c ON c.case_id = v.case_id AND NOT c.is_open
    WHERE $ends_inferred AND $log_shape <> 'status'
    GROUP BY v.case_id
),
common_ending AS (  -- the most common (step before, last step) pair of completed cases
    SELECT before_step, last_step, count(*) AS cases, median(wait_s) AS wait_p50_s,
        min(case_id) AS example_case,
        (SELECT count(*) FROM case_endings) AS completed,
        (SELECT median(lead_time_s) FROM case_endings) AS lead_p50_s
    FROM case_endings
    WHERE before_step IS NOT NULL
      -- an automatic close is measured already (automatic_close), not a close to suggest
      AND last_step NOT IN (SELECT step FROM flow_end_steps WHERE is_automatic_close)
    GROUP BY before_step, last_step
    ORDER BY cases DESC, before_step, last_step
    LIMIT 1
),
late_close AS (
    SELECT 'late_close' AS rule, 'warning' AS severity, cases AS count,
        CAST(NULL AS VARCHAR) AS example, example_case AS example_case,
        '''' || CAST(last_step AS VARCHAR) || ''' follows ''' || CAST(before_step AS VARCHAR) || ''' in '
            || printf('%.0f', CAST(100 * cases / completed AS DOUBLE)) || '% of completed cases, a median '
            || printf('%.1f', CAST(wait_p50_s / 86400 AS DOUBLE)) || ' d later: '
            || printf('%.0f', CAST(100 * wait_p50_s / lead_p50_s AS DOUBLE)) || '% of the median lead time ('
            || printf('%.1f', CAST(lead_p50_s / 86400 AS DOUBLE)) || ' d). If the customer''s wait ends at '''
            || CAST(before_step AS VARCHAR) || ''' and the close follows by itself, set [flow] '
            || 'end_activities = ["' || CAST(before_step AS VARCHAR) || '"]' AS detail
    FROM common_ending
    WHERE cases >= 0.8 * completed AND wait_p50_s >= 0.5 * lead_p50_s AND lead_p50_s > 0
),
few_completed_cases AS (
    SELECT 'few_completed_cases' AS rule, 'warning' AS severity, count(c.case_id) AS count,
        CAST(NULL AS VARCHAR) AS example, arg_min(c.case_id, (c.exit_ts, c.case_id)) AS example_case,
        'only ' || count(c.case_id) || ' cases completed in the window ' || any_value(w.label)
            || ': fewer than 30, too few for a stable lead-time p85; widen the window ([flow] window, '
            || '--window) before comparing it' AS detail
    FROM flow_window AS w
    LEFT JOIN flow_cases AS c ON NOT c.is_open AND in_window(c.exit_ts)
    WHERE w.label <> 'all'
    HAVING any_value(w.label) <> 'all' AND count(c.case_id) < 30  -- no row at all for the whole history
),
all_rules AS (
    SELECT * FROM rejected_rows
    UNION ALL SELECT * FROM complete_before_start
    UNION ALL SELECT * FROM negative_durations
    UNION ALL SELECT * FROM unmatched_completes
    UNION ALL SELECT * FROM unmapped_statuses
    UNION ALL SELECT * FROM unmatched_starts
    UNION ALL SELECT * FROM timezone_assumption
    UNION ALL SELECT * FROM open_cases
    UNION ALL SELECT * FROM boundary_markers
    UNION ALL SELECT * FROM handoff_crosscheck
    UNION ALL SELECT * FROM placeholder_statuses
    UNION ALL SELECT * FROM missing_values
    UNION ALL SELECT * FROM work_after_exit
    UNION ALL SELECT * FROM automatic_close
    UNION ALL SELECT * FROM stale_cases
    UNION ALL SELECT * FROM few_completed_cases
    UNION ALL SELECT * FROM late_close
    UNION ALL SELECT * FROM flow_event_findings  -- event_findings.sql
    UNION ALL SELECT * FROM flow_exit_findings  -- exit_findings.sql
)
SELECT
    rule,                               -- snake_case rule name (see above)
    severity,                           -- error | warning | info
    CAST(count AS BIGINT) AS count,     -- rows, events, visits, statuses or cases found (see rule)
    -- a case id to look at (rejected_rows: 'line N'; unmapped_statuses: a status); the rules
    -- give a case as its number (example_case), named here by a join: a scalar subquery on an
    -- aggregate (case_name(arg_min(...))) is refused by Spark
    coalesce(CAST(a.example AS VARCHAR), k.case_id) AS example,
    detail                              -- what was found and what it means for the figures
FROM all_rules AS a
LEFT JOIN flow_case_names AS k ON k.case_no = a.example_case
WHERE count > 0 OR rule = 'few_completed_cases'
ORDER BY CASE severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, rule
