-- flow_raw_visits (grain: visit) for status and point logs: every visit is one session
-- (sessions = 1, nothing paused; int_visit_sessions.sql merges the sessions of interval logs).
ALTER TABLE flow_raw_visits ADD COLUMN sessions INTEGER DEFAULT 1;
ALTER TABLE flow_raw_visits ADD COLUMN paused_s DOUBLE DEFAULT 0;
