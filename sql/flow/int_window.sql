-- flow_window (one row): the measurement window the aggregate tables cover ([flow] window
-- or --window, pipeline/windows.py), [from_ts, to_ts), with the compute's as_of. The whole
-- history ('all') is (-infinity, infinity): every predicate below is then true for every
-- row that has its timestamp, so the figures are those of no window at all.
-- A window that reaches as_of (to_ts >= as_of: 'last 14d', or one ending later) closes at
-- as_of inclusive, as the whole history does: what happens at the last event is in it.
-- The per-case relations (visits, cases, status periods) are not narrowed: only the
-- aggregates read these macros (int_wip.sql, fct_step_metrics.sql, ...).
-- The bounds are also session variables (bound here, read by getvariable): the macros'
-- constants, folded when a query is planned, where a subquery on flow_window would be
-- evaluated with every row (the WIP, step and batching queries took twice as long).
SET VARIABLE vsm_window_from = coalesce(CAST($window_start AS TIMESTAMPTZ), TIMESTAMPTZ '-infinity');

SET VARIABLE vsm_window_to = coalesce(CAST($window_end AS TIMESTAMPTZ), TIMESTAMPTZ 'infinity');

SET VARIABLE vsm_window_as_of = CAST($as_of AS TIMESTAMPTZ);

CREATE OR REPLACE TEMP TABLE flow_window AS
SELECT
    CAST($window_label AS VARCHAR) AS label,  -- the window's canonical text, 'all' for none
    getvariable('vsm_window_from') AS from_ts,
    getvariable('vsm_window_to') AS to_ts,
    getvariable('vsm_window_as_of') AS as_of;

-- window_reaches_as_of(): the window closes at as_of (the whole history, 'last N', ...).
CREATE OR REPLACE TEMP MACRO window_reaches_as_of() AS
    getvariable('vsm_window_to') >= getvariable('vsm_window_as_of');

-- window_close(): the instant the window closes: its end, or as_of when it reaches as_of.
CREATE OR REPLACE TEMP MACRO window_close() AS
    least(getvariable('vsm_window_to'), getvariable('vsm_window_as_of'));

-- in_window(ts): the instant falls inside the window (NULL for a NULL instant).
CREATE OR REPLACE TEMP MACRO in_window(ts) AS
    ts >= getvariable('vsm_window_from')
    AND (ts < getvariable('vsm_window_to') OR (window_reaches_as_of() AND ts <= getvariable('vsm_window_as_of')));

-- visit_in_window(end_ts): a visit counts in the window's step figures when it ended inside
-- it; a visit still in process (no end) when the window reaches as_of.
CREATE OR REPLACE TEMP MACRO visit_in_window(end_ts) AS
    CASE WHEN end_ts IS NULL THEN window_reaches_as_of() ELSE in_window(end_ts) END;

-- case_in_window(arrival_ts, exit_ts): the case was in the stream during the window: it
-- arrived before the window closed and had not exited before it opened.
CREATE OR REPLACE TEMP MACRO case_in_window(arrival_ts, exit_ts) AS
    (arrival_ts < getvariable('vsm_window_to') OR window_reaches_as_of())
    AND (exit_ts IS NULL OR exit_ts >= getvariable('vsm_window_from'));
