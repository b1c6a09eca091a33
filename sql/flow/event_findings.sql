-- name: flow_event_findings
-- grain: rule over the events
-- depends_on: flow_events, flow_step_map
-- params: log_shape, sequence_column
-- flow_event_findings (grain: rule over the events): the quality findings read off
-- flow_events alone, the rules future_timestamps, duplicate_events, same_time_ties,
-- ignored_lifecycle and dropped_steps (what they mean, and the columns: quality_findings.sql,
-- which lists them with the others; events_after_exit, which needs the exits, is
-- exit_findings.sql). Made before the visits are built (pipeline/flow.py): its grouping of
-- every (case, instant) is the flow's largest hash table, and then it is not held on top of
-- the visits (10M events: the process's peak 4.2 -> 3.9 GB).
WITH future_timestamps AS (
    SELECT 'future_timestamps' AS rule, 'warning' AS severity, count(*) AS count,
        CAST(NULL AS VARCHAR) AS example, arg_max(case_id, (ts, case_id)) AS example_case,
        'events later than the clock at this run (' || CAST(now() AS VARCHAR) || '); the latest is '
            || CAST(max(ts) AS VARCHAR) || ', and open cases are aged to the last event' AS detail
    FROM flow_events WHERE ts > now()
),
tie_candidates AS (  -- a case's instants (start-or-not) with several events: duplicates and
                     -- ties are among these few, so only their events are grouped further
    SELECT case_id, ts, lifecycle = 'start' AS is_start
    FROM flow_events
    GROUP BY case_id, ts, lifecycle = 'start'
    HAVING count(*) > 1
),
tied_events AS (
    SELECT e.*
    FROM flow_events AS e
    SEMI JOIN tie_candidates AS c
        ON e.case_id = c.case_id AND e.ts = c.ts AND (e.lifecycle = 'start') IS NOT DISTINCT FROM c.is_start
),
duplicate_groups AS (
    SELECT case_id, ts, count(*) AS n
    -- rows that differ in their sequence (an update number) are separate updates, not copies
    FROM tied_events GROUP BY case_id, activity, ts, lifecycle, resource, start_ts, sequence HAVING count(*) > 1
),
duplicate_events AS (
    SELECT 'duplicate_events' AS rule, 'warning' AS severity, coalesce(sum(n - 1), 0) AS count,
        CAST(NULL AS VARCHAR) AS example, arg_min(case_id, (ts, case_id)) AS example_case,
        count(*) || ' sets of identical events (same case, activity, time, lifecycle, resource); '
            || 'every copy is kept and counts as an event' AS detail
    FROM duplicate_groups
),
tie_groups AS (  -- by_sequence: every event of the tie has its own sequence value, which orders it
    SELECT case_id, ts, count(*) AS n,
        count(sequence) = count(*) AND count(DISTINCT sequence) = count(*) AS by_sequence
    FROM tied_events
    GROUP BY case_id, ts, lifecycle = 'start'
    HAVING count(*) > 1 AND count(DISTINCT (activity, lifecycle, resource)) > 1
),
same_time_ties AS (
    SELECT 'same_time_ties' AS rule,
        CASE WHEN $log_shape = 'interval' OR bool_and(by_sequence) THEN 'info' ELSE 'warning' END AS severity,
        coalesce(sum(n), 0) AS count,
        CAST(NULL AS VARCHAR) AS example, arg_min(case_id, (ts, case_id)) AS example_case,
        count(*) || ' times at which a case has several events; their order: '
            || coalesce(sum(n) FILTER (WHERE by_sequence), 0) || ' events by the sequence column '
            || $sequence_column || ', ' || coalesce(sum(n) FILTER (WHERE NOT by_sequence), 0)
            || ' by file order'
            || CASE WHEN $log_shape = 'interval' THEN ' (starts before completes)'
                    ELSE '; it decides the order of steps, with zero durations between them' END AS detail
    FROM tie_groups
),
ignored_lifecycle AS (
    SELECT 'ignored_lifecycle' AS rule, 'info' AS severity, count(*) AS count,
        CAST(NULL AS VARCHAR) AS example, arg_min(case_id, (ts, case_id)) AS example_case,
        'events whose lifecycle is neither start nor complete make no visit: '
            || string_agg(DISTINCT lifecycle, ', ' ORDER BY lifecycle) AS detail
    FROM flow_events
    WHERE ($log_shape = 'interval' AND lifecycle IS NOT NULL AND lifecycle NOT IN ('start', 'complete'))
       OR ($log_shape = 'point' AND lifecycle IN ('schedule', 'assign', 'reassign', 'suspend', 'resume',
                                                  'withdraw', 'ate_abort', 'pi_abort', 'start'))
),
dropped_activities AS (
    SELECT activity, count(*) AS n, arg_min(case_id, (ts, case_id)) AS first_case, min(ts) AS first_ts
    FROM flow_events WHERE step IS NULL
        AND activity NOT IN (SELECT activity FROM flow_step_map WHERE placeholder)  -- placeholder_statuses
    GROUP BY activity
),
dropped_steps AS (
    SELECT 'dropped_steps' AS rule, 'info' AS severity, coalesce(sum(n), 0) AS count,
        CAST(NULL AS VARCHAR) AS example, arg_min(first_case, (first_ts, first_case)) AS example_case,
        'events of activities dropped from the map by [steps]: '
            -- the first 20 by events (a rank, then an ordered string_agg: portable, where a
            -- list slice is not)
            || string_agg(activity || ' (' || n || ')', ', ' ORDER BY n DESC, activity) FILTER (WHERE shown <= 20)
            || CASE WHEN count(*) > 20 THEN ', … (' || (count(*) - 20) || ' more)' ELSE '' END AS detail
    FROM (SELECT *, row_number() OVER (ORDER BY n DESC, activity) AS shown FROM dropped_activities)
)
SELECT * FROM future_timestamps
UNION ALL SELECT * FROM duplicate_events
UNION ALL SELECT * FROM same_time_ties
UNION ALL SELECT * FROM ignored_lifecycle
UNION ALL SELECT * FROM dropped_steps
