-- name: flow_wip_days
-- grain: day of the window
-- depends_on: flow_wip_window
-- flow_wip_days (grain: day of the window): the instants the day's span starts and ends
-- (the first day from the window's start when that is later than its midnight).
WITH days AS (
    SELECT CAST(g.day AS DATE) AS day  -- the series in FROM: portable (a series as a value is not)
    FROM flow_wip_window AS w CROSS JOIN generate_series(w.first_day, w.last_day, INTERVAL 1 DAY) AS g(day)
)
SELECT
    d.day,
    greatest(CAST(d.day AS TIMESTAMPTZ), w.from_ts) AS day_start,  -- local midnight
    CASE WHEN d.day = w.last_day THEN w.window_end ELSE CAST(d.day + 1 AS TIMESTAMPTZ) END AS day_end
FROM days AS d CROSS JOIN flow_wip_window AS w
