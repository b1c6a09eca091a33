-- flow_raw_visits (grain: visit) for status and point logs: every visit is one session
-- (sessions = 1, nothing paused; int_visit_sessions.sql merges the sessions of interval logs).
-- pauses: none; work_no: the visit's work period (status logs: int_visits_status.sql), read
-- by fct_visits_business.sql.
ALTER TABLE flow_raw_visits ADD COLUMN sessions INTEGER DEFAULT 1;
ALTER TABLE flow_raw_visits ADD COLUMN paused_s DOUBLE DEFAULT 0;
ALTER TABLE flow_raw_visits ADD COLUMN pauses STRUCT(from_ts TIMESTAMPTZ, to_ts TIMESTAMPTZ)[];
ALTER TABLE flow_raw_visits ADD COLUMN IF NOT EXISTS work_no BIGINT;
ALTER TABLE flow_raw_visits ADD COLUMN IF NOT EXISTS team_queue_bh_s DOUBLE;  -- team visits only
ALTER TABLE flow_raw_visits ADD COLUMN IF NOT EXISTS team_queue_internal_bh_s DOUBLE;
ALTER TABLE flow_raw_visits ADD COLUMN IF NOT EXISTS team_queue_external_bh_s DOUBLE;
