-- Store a system stream's new cursor, inside the load's transaction (pipeline/ingest.py
-- `_insert`): it moves only together with the events it covers.
INSERT OR REPLACE INTO source_cursors (stream, kind, scope, cursor, run_id, updated_at)
VALUES ($stream, $kind, $scope, $cursor, $run_id, $updated_at);
