-- flow_batching (grain: step): how much of a step's work is released in batches.
-- Among a step's visits that have an end and a resource, a batch is a chain of visits of the
-- same step by the same resource whose consecutive ends are at most 60 seconds apart, with at
-- least 2 visits in the chain (a lone visit is no batch). Chains, not fixed windows: ends at
-- 0 s, 50 s and 100 s are one batch of 3. Visits are ordered by end, then case and position
-- (ties must break the same way for the gap flag and the running sum of batch ids).
CREATE OR REPLACE TEMP TABLE flow_batching AS
WITH ended AS (
    SELECT step, resource, end_ts, case_id, seq,
        CASE WHEN seconds_between(lag(end_ts) OVER w, end_ts) <= 60 THEN 0 ELSE 1 END AS starts_chain
    FROM flow_visits
    WHERE end_ts IS NOT NULL AND resource IS NOT NULL
    WINDOW w AS (PARTITION BY step, resource ORDER BY end_ts, case_id, seq)
),
chained AS (
    SELECT step, resource,
        sum(starts_chain) OVER (PARTITION BY step, resource ORDER BY end_ts, case_id, seq
                                ROWS UNBOUNDED PRECEDING) AS chain_no
    FROM ended
),
chains AS (
    SELECT step, resource, chain_no, count(*) AS size FROM chained GROUP BY step, resource, chain_no
)
SELECT
    step,
    -- visits in batches / visits with an end and a resource (0 when none is batched)
    CAST(coalesce(sum(size) FILTER (WHERE size >= 2), 0) AS DOUBLE) / sum(size) AS batch_share,
    -- mean number of visits per batch; NULL when the step has no batch
    avg(size) FILTER (WHERE size >= 2) AS batch_size_mean
FROM chains
GROUP BY step;
