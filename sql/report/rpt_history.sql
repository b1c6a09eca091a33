-- A stream's snapshots (metric_history), newest first: the $limit latest computes, and of
-- each the headline figures (pipeline/history.py HEADLINE), or the one $figure asked for
-- (then a step figure gives a row per step).
--   computed_at, window, run_id: the snapshot (as in metric_history)
--   step:   (with $figure) the step of a step figure, '' for a stream figure
--   figure: (without $figure) the figure's name; value: its value
WITH snapshots AS (
    SELECT DISTINCT computed_at, run_id FROM metric_history
    WHERE stream = $stream
    ORDER BY computed_at DESC, run_id DESC
    LIMIT $limit
)
SELECT h.computed_at, h."window", h.run_id,
    CASE WHEN $figure IS NOT NULL THEN h.step END AS step,
    h.figure, h.value
FROM metric_history AS h
SEMI JOIN snapshots AS s USING (computed_at, run_id)
WHERE h.stream = $stream
    AND CASE WHEN $figure IS NULL
             THEN h.step = '' AND h.figure IN ('completed_cases', 'lead_time_p50_s', 'lead_time_p85_s',
                                               'throughput_per_day', 'wip_avg', 'first_pass_yield')
             ELSE h.figure = $figure END
ORDER BY h.computed_at DESC, h.run_id DESC, h.step, h.figure
