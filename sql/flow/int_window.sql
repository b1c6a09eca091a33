-- flow_window (one row): the measurement window the aggregate tables cover ([flow] window
-- or --window, pipeline/windows.py), [from_ts, to_ts), with the compute's as_of. The whole
-- history ('all') is (-infinity, infinity): every predicate below is then true for every
-- row that has its timestamp, so the figures are those of no window at all.
-- A window that reaches as_of (to_ts >= as_of: 'last 14d', or one ending later) closes at
-- as_of inclusive, as the whole history does: what happens at the last event is in it.
-- The per-case relations (visits, cases, status periods) are not narrowed: only the
-- aggregates read these macros (int_wip.sql, fct_step_metrics.sql, ...).
CREATE OR REPLACE TEMP TABLE flow_window AS
SELECT
    CAST($window_label AS VARCHAR) AS label,  -- the window's canonical text, 'all' for none
    coalesce(CAST($window_start AS TIMESTAMPTZ), TIMESTAMPTZ '-infinity') AS from_ts,
    coalesce(CAST($window_end AS TIMESTAMPTZ), TIMESTAMPTZ 'infinity') AS to_ts,
    CAST($as_of AS TIMESTAMPTZ) AS as_of;

-- in_window(ts): the instant falls inside the window (NULL for a NULL instant).
CREATE OR REPLACE TEMP MACRO in_window(ts) AS
    ts >= (SELECT from_ts FROM flow_window)
    AND (ts < (SELECT to_ts FROM flow_window)
         OR (ts <= (SELECT as_of FROM flow_window) AND (SELECT to_ts >= as_of FROM flow_window)));

-- window_reaches_as_of(): the window closes at as_of (the whole history, 'last N', ...).
CREATE OR REPLACE TEMP MACRO window_reaches_as_of() AS (SELECT to_ts >= as_of FROM flow_window);

-- window_close(): the instant the window closes: its end, or as_of when it reaches as_of.
CREATE OR REPLACE TEMP MACRO window_close() AS (SELECT least(to_ts, as_of) FROM flow_window);

-- visit_in_window(end_ts): a visit counts in the window's step figures when it ended inside
-- it; a visit still in process (no end) when the window reaches as_of.
CREATE OR REPLACE TEMP MACRO visit_in_window(end_ts) AS
    CASE WHEN end_ts IS NULL THEN window_reaches_as_of() ELSE in_window(end_ts) END;

-- case_in_window(arrival_ts, exit_ts): the case was in the stream during the window: it
-- arrived before the window closed and had not exited before it opened.
CREATE OR REPLACE TEMP MACRO case_in_window(arrival_ts, exit_ts) AS
    (arrival_ts < (SELECT to_ts FROM flow_window) OR window_reaches_as_of())
    AND (exit_ts IS NULL OR exit_ts >= (SELECT from_ts FROM flow_window));
