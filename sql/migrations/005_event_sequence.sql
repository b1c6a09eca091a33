-- Migration 005: events.sequence, the source's own order of a case's events where it has
-- one (an update or event number such as ServiceNow's sys_mod_count, [columns] sequence):
-- events at the same instant are ordered by it before the file's order
-- (flow/int_flow_events.sql). NULL where the source has no such column.
ALTER TABLE events ADD COLUMN sequence BIGINT;
