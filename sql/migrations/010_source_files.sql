-- Migration 010: the files a file-drop stream has loaded (issue 18). A stream whose
-- [source] path is a glob (exports/claims-*.csv) loads, each run, the files it matches that
-- are new or changed since the last run (pipeline/drops.py). One row per file load, written
-- in the same transaction as the events of that file (pipeline/ingest.py), so a row here
-- always means the file's events are stored.
--   stream        the value stream
--   name          the file, as the glob matched it (its resolved path)
--   size          its size in bytes when loaded
--   modified_at   its modification time when loaded
--   content_hash  sha256 of its bytes (hex): the same content under a new name is a repeat
--   run_id        the load that stored its events (runs.run_id)
--   loaded_at     when that load committed
CREATE TABLE source_files (
    stream VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    size BIGINT NOT NULL,
    modified_at TIMESTAMPTZ NOT NULL,
    content_hash VARCHAR NOT NULL,
    run_id BIGINT NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (stream, name, run_id)
);
