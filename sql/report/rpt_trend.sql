-- The trend section: the stream's latest $limit snapshots (metric_history, one per compute
-- that published results), oldest first, with the headline figures of each.
--   computed_at, run_id, window: the snapshot (as in metric_history)
--   lead_time_p50_s, lead_time_p85_s, throughput_per_day, wip_avg, first_pass_yield,
--   completed_cases: the stream_summary figures of that compute (NULL: not measured)
WITH latest AS (
    SELECT computed_at, run_id, any_value("window") AS "window"
    FROM metric_history
    WHERE stream = $stream
    GROUP BY computed_at, run_id
    ORDER BY computed_at DESC, run_id DESC
    LIMIT $limit
)
SELECT
    l.computed_at,
    l.run_id,
    l."window",
    max(h.value) FILTER (WHERE h.figure = 'lead_time_p50_s') AS lead_time_p50_s,
    max(h.value) FILTER (WHERE h.figure = 'lead_time_p85_s') AS lead_time_p85_s,
    max(h.value) FILTER (WHERE h.figure = 'throughput_per_day') AS throughput_per_day,
    max(h.value) FILTER (WHERE h.figure = 'wip_avg') AS wip_avg,
    max(h.value) FILTER (WHERE h.figure = 'first_pass_yield') AS first_pass_yield,
    max(h.value) FILTER (WHERE h.figure = 'completed_cases') AS completed_cases
FROM latest AS l
JOIN metric_history AS h ON h.stream = $stream AND h.computed_at = l.computed_at AND h.run_id = l.run_id
WHERE h.step = ''
GROUP BY ALL
ORDER BY l.computed_at, l.run_id
