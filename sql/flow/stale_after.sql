-- name: flow_stale_after
-- grain: one row
-- depends_on: flow_arrivals, flow_exits
-- params: stale_after_s
-- flow_stale_after (one row): how long an open case may go without an event before it is
-- stale: [flow] stale_after ($stale_after_s), else the p99 lead time of the completed cases
-- (NULL when none completed: then no case is stale).
SELECT coalesce(CAST($stale_after_s AS DOUBLE),
                quantile_cont(seconds_between(a.arrival_ts, x.exit_ts), 0.99)) AS stale_after_s
FROM flow_exits AS x JOIN flow_arrivals AS a USING (case_id)
