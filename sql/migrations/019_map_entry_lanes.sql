-- Migration 019: entry lanes of the value stream map (pipeline/stream_map.py entry_lanes).
-- A routing process (incidents by resolver team) starts cases at several steps; the map draws
-- them as parallel lanes fed by one entry, not as side steps hanging after the first box.
-- Rows written before this migration keep NULL here until the stream is computed again (the
-- map then draws them as before: no lanes).

-- completed cases whose first step it is
ALTER TABLE map_steps ADD COLUMN starts BIGINT;
-- starts / completed cases
ALTER TABLE map_steps ADD COLUMN start_share DOUBLE;
-- completed cases whose last step it is
ALTER TABLE map_steps ADD COLUMN ends BIGINT;
-- ends / completed cases
ALTER TABLE map_steps ADD COLUMN end_share DOUBLE;
-- drawn as an entry lane in the first column: the main path's first step and every step off
-- the main path starting >= 5% of completed cases, when there is at least one such step
ALTER TABLE map_steps ADD COLUMN entry_lane BOOLEAN;
