-- Report header and summary figures: one row, the stream's headline figures
-- (stream_summary, see there for each column) with the size of its log.
--   events: events of the stream in the store
--   steps:  steps on the map (rows of step_metrics)
SELECT
    s.*,
    (SELECT count(*) FROM events WHERE stream = $stream) AS events,
    (SELECT count(*) FROM step_metrics WHERE stream = $stream) AS steps
FROM stream_summary AS s
WHERE s.stream = $stream
