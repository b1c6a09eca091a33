-- Migration 006: work sessions of a visit, and stale cases (docs/metrics.md).
-- Plain ADD COLUMNs: a store made before this keeps its rows; the next compute fills them.

-- visits: consecutive work sessions of one step by a case are one visit (interval logs).
ALTER TABLE visits ADD COLUMN sessions INTEGER;  -- work sessions merged into the visit (1 normally)
ALTER TABLE visits ADD COLUMN paused_s DOUBLE;   -- time between its sessions: queue + process + paused = elapsed

-- cases: an open case with no event for longer than stale_after before as_of.
ALTER TABLE cases ADD COLUMN is_stale BOOLEAN;   -- open and quiet too long: left out of WIP and Little's Law

-- stream_summary: the stale cases and the limit that made them so.
ALTER TABLE stream_summary ADD COLUMN stale_cases BIGINT;   -- open cases that are stale (in open_cases too)
ALTER TABLE stream_summary ADD COLUMN stale_after_s DOUBLE; -- [flow] stale_after, or the p99 lead time of completed cases
