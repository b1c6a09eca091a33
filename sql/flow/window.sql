-- name: flow_window
-- grain: one row
-- params: as_of, window_end, window_label, window_start
-- flow_window (one row): the measurement window the aggregate tables cover ([flow] window
-- or --window, pipeline/windows.py), [from_ts, to_ts), with the compute's as_of. The whole
-- history ('all') is [0001-01-02, 9999-12-30] UTC (finite, macros.sql window_from): every
-- predicate below is then true for every row that has its timestamp, so the figures are those of no window at all.
-- A window that reaches as_of (to_ts >= as_of: 'last 14d', or one ending later) closes at
-- as_of inclusive, as the whole history does: what happens at the last event is in it.
-- The per-case relations (visits, cases, status periods) are not narrowed: only the
-- aggregates read these macros (wip_*.sql, step_metrics.sql, ...).
-- The macros of the window (macros.sql) read the same bounds as parameters.
SELECT
    CAST($window_label AS VARCHAR) AS label,  -- the window's canonical text, 'all' for none
    window_from() AS from_ts,
    window_to() AS to_ts,
    CAST($as_of AS TIMESTAMPTZ) AS as_of
