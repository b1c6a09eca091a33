-- Migration 007: what a step is on the stream's map ([flow] step_by, as the run chose it):
-- activity (each activity, or each work status of a status log), team (each assignment
-- group: a visit is a stretch of the case with one team) or team_activity (team / work
-- status). NULL for results computed before this migration.
ALTER TABLE stream_summary ADD COLUMN step_by VARCHAR;
