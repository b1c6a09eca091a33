-- name: flow_batching
-- grain: step
-- depends_on: flow_visits
-- params: as_of, window_end, window_start
-- flow_batching (grain: step): how much of a step's work is released in batches.
-- Among a step's visits that have an end and a resource, a batch is a chain of visits of the
-- same step by the same resource whose consecutive ends are at most 60 seconds apart, with at
-- least 2 visits in the chain (a lone visit is no batch). Chains, not fixed windows: ends at
-- 0 s, 50 s and 100 s are one batch of 3. Visits are ordered by end.
-- A visit is in a batch when it is chained to the visit before or after it; a batch begins at
-- a visit chained to the one after but not to the one before. So one window pass (lag and
-- lead share its sort) counts batches and their visits without numbering the chains.
-- Visits that end at the same instant need no further order: the flags of each position
-- depend on the sequence of ends alone, and only their counts per step are kept (sorting 5M
-- visits by end, case and position as well cost a third more).
WITH ended AS (
    SELECT step,
        coalesce(seconds_between(lag(end_ts) OVER w, end_ts) <= 60, FALSE) AS chained_before,
        coalesce(seconds_between(end_ts, lead(end_ts) OVER w) <= 60, FALSE) AS chained_after
    FROM flow_visits
    WHERE end_ts IS NOT NULL AND resource IS NOT NULL AND in_window(end_ts)  -- ended in the window
    WINDOW w AS (PARTITION BY step, resource ORDER BY end_ts)
),
per_step AS (
    SELECT step,
        count(*) AS visits,
        count(*) FILTER (WHERE chained_before OR chained_after) AS batched,
        count(*) FILTER (WHERE chained_after AND NOT chained_before) AS batches
    FROM ended
    GROUP BY step
)
SELECT
    step,
    -- visits in batches / visits with an end and a resource (0 when none is batched)
    CAST(batched AS DOUBLE) / visits AS batch_share,
    -- mean number of visits per batch; NULL when the step has no batch
    CAST(batched AS DOUBLE) / nullif(batches, 0) AS batch_size_mean
FROM per_step
