-- name: flow_session_visits
-- grain: visit
-- depends_on: flow_raw_visits
-- when: log_shape != interval
-- flow_session_visits (grain: visit) for status and point logs: every visit is one session
-- (sessions = 1, nothing paused; session_visits__interval.sql merges the sessions of interval logs).
-- pauses: none. The raw visits of every shape carry work_no (the visit's work period, status
-- logs: raw_visits__status.sql) and team_queue_*_bh_s (team visits only), NULL where they
-- have none: both are read by visits_built.sql.
SELECT v.*, CAST(1 AS INTEGER) AS sessions, CAST(0 AS DOUBLE) AS paused_s,
    CAST(NULL AS STRUCT(from_ts TIMESTAMPTZ, to_ts TIMESTAMPTZ)[]) AS pauses,
    CAST(NULL AS BIGINT) AS visit_key
FROM flow_raw_visits AS v
