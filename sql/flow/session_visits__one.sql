-- name: flow_session_visits
-- grain: visit
-- depends_on: flow_raw_visits
-- when: log_shape != interval
-- flow_session_visits (grain: visit) for status and point logs: every visit is one session
-- (sessions = 1, nothing paused; session_visits__interval.sql merges the sessions of interval logs),
-- sequenced for visits_elapsed.sql (seq, prev_end_ts, prev_step, prev_owner, visit_no).
-- pauses: none. The raw visits of every shape carry work_no (the visit's work period, status
-- logs: raw_visits__status.sql) and team_queue_*_bh_s (team visits only), NULL where they
-- have none: both are read by visits_built.sql.
SELECT v.*, CAST(1 AS INTEGER) AS sessions, CAST(0 AS DOUBLE) AS paused_s,
    CAST(NULL AS STRUCT(from_ts TIMESTAMPTZ, to_ts TIMESTAMPTZ)[]) AS pauses,
    CAST(NULL AS BIGINT) AS visit_key,
    -- the sequencing that visits_elapsed.sql describes, one ordered pass
    row_number() OVER w AS seq,
    max(v.end_ts) OVER (
        PARTITION BY v.case_id ORDER BY coalesce(v.start_ts, v.end_ts), v.end_ts NULLS LAST, v.source_line
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) AS prev_end_ts,
    lag(v.step) OVER w AS prev_step,
    lag(coalesce(v.team, v.resource)) OVER w AS prev_owner
FROM (  -- the visit's number at its step, in that order (visits_elapsed.sql's visit_no): its own
        -- sort, before the case's window adds its columns
    SELECT *, row_number() OVER (
        PARTITION BY case_id, step ORDER BY coalesce(start_ts, end_ts), end_ts NULLS LAST, source_line
    ) AS visit_no
    FROM flow_raw_visits
) AS v
WINDOW w AS (PARTITION BY v.case_id ORDER BY coalesce(v.start_ts, v.end_ts), v.end_ts NULLS LAST, v.source_line)
