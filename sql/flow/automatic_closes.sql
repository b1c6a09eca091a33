-- name: flow_automatic_closes
-- grain: step
-- depends_on: flow_visits
-- params: ends_inferred, terminal_steps
-- flow_automatic_closes (grain: step): for each inferred terminal end step ($terminal_steps,
-- only when $ends_inferred), how long its visits come after the case became ready for them
-- (ready_ts: the end of the visit before), and how many come after the most common of
-- those delays, in whole minutes. A close that a system makes by itself, a fixed time after
-- the resolution (helpdesk: 'Closed' 15 d and 5 to 60 s after 'Resolve ticket' in 28% of
-- cases: the close job runs a few seconds), shows as one delay shared by many visits that
-- became ready at many different times of day. pipeline/variant_steps.py
-- (automatic_close_rule) decides which steps are automatic closes; a case then ends when it
-- became ready for one (exits__end_steps.sql).
--   visits        the step's visits
--   delay_s       the most common delay from ready_ts to end_ts in whole minutes (its
--                 seconds cut), the shortest when tied
--   at_delay      the visits that came after delay_s and less than a minute more
--   clock_times   the different times of day (UTC, to the second) at which those visits
--                 became ready: 1 or 2 in a log of dates only
--   before_step   the step those visits most often come after (helpdesk: 'Resolve ticket'):
--                 an automatic close's is an end step too (a case that reached it and went
--                 no further awaits only the close), one where a case may go on
--                 (exits__end_steps.sql)
WITH visits AS (
    SELECT step, prev_step, ready_ts, end_ts
    FROM flow_visits
    WHERE $ends_inferred AND list_contains($terminal_steps, step)
),
timed AS (
    SELECT step, prev_step, ready_ts,
        CAST(floor((epoch_us(end_ts) - epoch_us(ready_ts)) / 60000000.0) AS BIGINT) AS delay_min
    FROM visits
    WHERE ready_ts IS NOT NULL AND end_ts > ready_ts
),
delays AS (
    SELECT step, delay_min, count(*) AS n,
        count(DISTINCT epoch_us(ready_ts) % 86400000000) AS clock_times
    FROM timed
    GROUP BY step, delay_min
),
ranked AS (
    SELECT step, delay_min, n, clock_times,
        row_number() OVER (PARTITION BY step ORDER BY n DESC, delay_min) AS r
    FROM delays
),
befores AS (  -- the steps the visits at the most common delay come after
    SELECT t.step, t.prev_step, count(*) AS n
    FROM timed AS t JOIN ranked AS m ON m.step = t.step AND m.r = 1 AND m.delay_min = t.delay_min
    WHERE t.prev_step IS NOT NULL
    GROUP BY t.step, t.prev_step
),
top_before AS (
    SELECT step, prev_step, row_number() OVER (PARTITION BY step ORDER BY n DESC, prev_step) AS r
    FROM befores
),
totals AS (
    SELECT step, count(*) AS visits FROM visits GROUP BY step
)
SELECT CAST(t.step AS VARCHAR) AS step,
    CAST(t.visits AS BIGINT) AS visits,
    CAST(60 * r.delay_min AS DOUBLE) AS delay_s,
    CAST(coalesce(r.n, 0) AS BIGINT) AS at_delay,
    CAST(coalesce(r.clock_times, 0) AS BIGINT) AS clock_times,
    CAST(b.prev_step AS VARCHAR) AS before_step
FROM totals AS t
LEFT JOIN ranked AS r ON r.step = t.step AND r.r = 1
LEFT JOIN top_before AS b ON b.step = t.step AND b.r = 1
