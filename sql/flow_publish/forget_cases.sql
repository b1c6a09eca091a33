-- The state of a compute that keeps no per-case state (the spark engine: its fingerprints are
-- not DuckDB's, and a Spark compute is always full): the stream's case, period and lifecycle
-- state goes, and its decisions (engine = spark) are recorded, so the next DuckDB compute
-- of the stream is full ("the last compute ran on another engine"), inside the
-- transaction that publishes the results (engine.py publish).
DELETE FROM flow_case_state WHERE stream = $stream;

DELETE FROM flow_period_state WHERE stream = $stream;

DELETE FROM flow_lifecycle_state WHERE stream = $stream;

DELETE FROM flow_stream_state WHERE stream = $stream;

INSERT INTO flow_stream_state VALUES ($stream, $decisions, $as_of, $run_id, $result);
