-- cmp_snapshot_figures (grain: figure and step of one snapshot): the figures a compute of
-- $stream kept in metric_history (migration 012) for run $run_id, to compare two snapshots.
--   window_label: the snapshot's window ('all' when it had none)
--   figure, step ('' for stream figures), value
SELECT
    coalesce(h."window", 'all') AS window_label,
    h.figure,
    coalesce(h.step, '') AS step,
    h.value
FROM metric_history AS h
WHERE h.stream = $stream AND h.run_id = $run_id
ORDER BY h.figure, step
