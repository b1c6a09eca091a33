-- The stream's latest successful load and recompute: one row per kind (ingest, compute).
--   kind, run_id, source, started_at, finished_at, message: as in runs
SELECT kind, run_id, source, started_at, finished_at, message
FROM runs
WHERE stream = $stream AND status = 'ok'
QUALIFY row_number() OVER (PARTITION BY kind ORDER BY run_id DESC) = 1
ORDER BY kind
