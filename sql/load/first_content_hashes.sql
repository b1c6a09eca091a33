-- The content hash of each event a stream's first load added (grain: event of the run), as
-- load/first_copy_numbers.sql hashes it: pipeline/ingest.py counts the distinct ones, and
-- numbers the repeated events only when some hash occurs twice (most logs repeat no event).
-- Fetched and counted by polars: 10M events, 0.45 CPU-seconds against 1.5 for grouping the
-- events by hash in DuckDB (first_copy_numbers.sql's first step). Returned by the insert
-- (RETURNING) instead, DuckDB would keep a copy of every inserted row until the end.
SELECT hash(case_id, activity, ts, lifecycle, resource, team, start_ts) AS content_hash
FROM events
WHERE stream = $stream AND run_id = $run_id;
