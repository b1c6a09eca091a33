-- Migration 012: measurement windows and the history of a stream's figures and maps (issue 19).
--
-- stream_summary."window": the measurement window the stream's aggregate tables cover, as
-- its canonical text (pipeline/windows.py: '2026-03-01..2026-03-14', 'all' for the whole
-- history). Its span is the table's window_start / window_end (the window met with [first
-- arrival, as_of]). Existing rows were computed over the whole history: 'all'.
ALTER TABLE stream_summary ADD COLUMN "window" VARCHAR DEFAULT 'all';

-- metric_history (grain: compute x figure x step): each compute's headline figures, kept
-- after later computes (never deleted by a recompute), so an earlier map's numbers stay
-- queryable after the events change. Written in the transaction that publishes the
-- compute's results (pipeline/history.py); a compute that finds its results current writes
-- none.
--   stream, computed_at (when the compute published), run_id (runs.run_id of the compute)
--   "window", window_start, window_end: as in that compute's stream_summary
--   figure: a column name of stream_summary (step '') or of step_metrics (step set), e.g.
--           lead_time_p50_s, throughput_per_day, first_pass_yield, queue_time_p50_s
--   step:   the step of a step_metrics figure; '' for a stream figure
--   value:  the figure (NULL when not measured)
CREATE TABLE metric_history (
    stream VARCHAR NOT NULL,
    computed_at TIMESTAMPTZ NOT NULL,
    run_id BIGINT NOT NULL,
    "window" VARCHAR NOT NULL,
    window_start TIMESTAMPTZ,
    window_end TIMESTAMPTZ,
    figure VARCHAR NOT NULL,
    step VARCHAR NOT NULL DEFAULT '',
    value DOUBLE
);

-- map_history (grain: compute): each compute's value stream map, kept as history.
--   stream, computed_at, run_id, "window", window_start, window_end: as in metric_history
--   map_steps: JSON array of the map's boxes in position order (map_steps with their
--              step_metrics figures: step, position, on_main_path, anchor_step, case_share,
--              visits, queue_time_p50_s, process_time_p50_s, first_pass_yield, ...)
--   map_data:  JSON of everything the map is drawn from (pipeline/vsm_map.py MapData:
--              summary, steps, loops, branches, handoffs): pipeline/history.py
--              snapshot_map_svg() redraws the map from it alone
--   map_svg:   the map as drawn at that compute (an SVG document)
CREATE TABLE map_history (
    stream VARCHAR NOT NULL,
    computed_at TIMESTAMPTZ NOT NULL,
    run_id BIGINT NOT NULL,
    "window" VARCHAR NOT NULL,
    window_start TIMESTAMPTZ,
    window_end TIMESTAMPTZ,
    map_steps JSON NOT NULL,
    map_data JSON NOT NULL,
    map_svg VARCHAR NOT NULL
);
