-- cmp_cases_in_flight (grain: case): the cases in WIP at some moment of the span
-- [$span_start, $span_end) (a window within the observed span): arrived before its end, not
-- exited before its start (open cases are in WIP up to $as_of), stale cases left out as the
-- flow's WIP leaves them (docs/metrics.md). Their seconds inside the span, summed and divided
-- by its length, are the window's time-average WIP.
--   case_id
--   in_span_s: seconds of the case in WIP inside the span
--   open_at_end: still in WIP when the span ends (the map's "open" count)
SELECT
    case_id,
    coalesce(exit_ts, CAST($as_of AS TIMESTAMPTZ)) >= $span_end AS open_at_end,
    epoch(least(coalesce(exit_ts, CAST($as_of AS TIMESTAMPTZ)), CAST($span_end AS TIMESTAMPTZ)))
        - epoch(greatest(arrival_ts, CAST($span_start AS TIMESTAMPTZ))) AS in_span_s
FROM cases
WHERE stream = $stream
    AND NOT is_stale
    AND arrival_ts < $span_end
    AND coalesce(exit_ts, CAST($as_of AS TIMESTAMPTZ)) > $span_start
ORDER BY case_id
