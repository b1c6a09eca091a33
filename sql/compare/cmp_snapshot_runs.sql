-- cmp_snapshot_runs (grain: snapshot): the latest runs of $stream that kept a snapshot, newest
-- first: what an unknown --before-snapshot / --after-snapshot is told to pick from.
--   run_id, computed_at
SELECT run_id, max(computed_at) AS computed_at
FROM metric_history
WHERE stream = $stream
GROUP BY run_id
ORDER BY run_id DESC
LIMIT 10
