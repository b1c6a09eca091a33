-- cmp_observed_span (grain: stream): what a stream's events observe, the span a window is
-- measured within: from its first arrival (stale cases left out, as the flow's WIP does) to
-- its last event (as_of, when the flow was computed). NULL as_of: the flow was never computed.
--   first_arrival_ts: the earliest arrival of a case that counts in WIP
--   as_of: stream_summary.as_of
--   log_shape: stream_summary.log_shape
SELECT
    (SELECT min(arrival_ts) FROM cases WHERE stream = $stream AND NOT is_stale) AS first_arrival_ts,
    s.as_of,
    s.log_shape
FROM (SELECT 1) AS one
LEFT JOIN stream_summary AS s ON s.stream = $stream
