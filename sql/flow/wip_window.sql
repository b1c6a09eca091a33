-- name: flow_wip_window
-- grain: one row
-- depends_on: flow_cases, flow_window, flow_wip_spans
-- params: as_of
-- flow_wip_window (one row, or none when as_of precedes every arrival): the measurement
-- window (flow_window: [flow] window or --window, else the whole history) met with
-- [first arrival, as_of]. It closes at as_of (inclusive) when the window reaches as_of,
-- else it is half-open at its end, whose day is the last (the day before a midnight end).
-- opening_wip: cases on hand when it opens (arrived before it, not exited before it).
WITH bounds AS (
    SELECT
        greatest(min(c.arrival_ts), any_value(w.from_ts)) AS window_start,
        least(CAST($as_of AS TIMESTAMPTZ), any_value(w.to_ts)) AS window_end,
        any_value(w.from_ts) AS from_ts,
        any_value(w.to_ts) >= CAST($as_of AS TIMESTAMPTZ) AS closes_at_as_of
    FROM flow_cases AS c CROSS JOIN flow_window AS w
)
SELECT
    window_start,
    window_end,
    from_ts,  -- the window's own start (0001-01-02 for the whole history): the first day starts there
    closes_at_as_of,
    CAST(window_start AS DATE) AS first_day,
    CASE WHEN closes_at_as_of THEN CAST(window_end AS DATE)
         ELSE CAST(window_end - INTERVAL 1 MICROSECOND AS DATE) END AS last_day,
    (SELECT count(*) FROM flow_wip_spans AS s
     WHERE s.arrival_ts < b.window_start AND (s.exit_ts IS NULL OR s.exit_ts >= b.window_start)) AS opening_wip
FROM bounds AS b
WHERE window_start <= CAST($as_of AS TIMESTAMPTZ) AND window_start <= window_end
