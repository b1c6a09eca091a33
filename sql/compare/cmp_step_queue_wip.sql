-- cmp_step_queue_wip (grain: step): the time-average queue WIP of each step over the span
-- [$span_start, $span_end): visits waiting from ready_ts until their start (their end where
-- no start is observed, as in point logs; $as_of while neither came), summed over the span and
-- divided by its length (step_wip_daily's queue WIP; stale cases left out, as there).
--   step
--   queue_wip_avg: cases waiting before the step, on average over the span
SELECT
    step,
    sum(greatest(
        epoch(least(coalesce(start_ts, end_ts, CAST($as_of AS TIMESTAMPTZ)), CAST($span_end AS TIMESTAMPTZ)))
            - epoch(greatest(ready_ts, CAST($span_start AS TIMESTAMPTZ))),
        0
    )) / (epoch(CAST($span_end AS TIMESTAMPTZ)) - epoch(CAST($span_start AS TIMESTAMPTZ))) AS queue_wip_avg
FROM visits
WHERE stream = $stream
    AND ready_ts IS NOT NULL
    AND ready_ts < $span_end
    AND coalesce(start_ts, end_ts, CAST($as_of AS TIMESTAMPTZ)) > $span_start
    AND case_id NOT IN (SELECT case_id FROM cases WHERE stream = $stream AND is_stale)
GROUP BY step
ORDER BY step
