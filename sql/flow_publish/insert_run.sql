-- The runs row of a compute (pipeline/engine.py publish), in its results' transaction.
INSERT INTO runs (run_id, stream, kind, source, started_at, finished_at, status, events_read,
    events_loaded, events_rejected, events_known, message)
SELECT $run_id, $stream, 'compute', NULL, $started, $finished, 'ok', $events, 0, 0, 0, $message
