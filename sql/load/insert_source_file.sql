-- Record a file of a file-drop stream, inside the load's transaction that stores its events
-- (pipeline/ingest.py `_insert`, pipeline/drops.py): the row exists only with the events.
INSERT INTO source_files (stream, name, size, modified_at, content_hash, run_id, loaded_at)
VALUES ($stream, $name, $size, $modified, $hash, $run_id, $loaded);
