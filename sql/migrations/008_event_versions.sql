-- Migration 008: edited rows ([columns] event_key, load/replace_events.sql).
-- runs.events_replaced: how many stored events a load replaced by a newer version of the same
-- keyed event (NULL for loads before this migration, and for compute runs).
-- events.version_hash: hash(attributes, sequence), what a newer export may correct beside the
-- content that event_id is the md5 of, so a re-load finds its unchanged events by a number.
-- NULL for events loaded before this migration: a load compares those by their values and
-- fills it in (pipeline/ingest.py), never this file (a migration replays offline, without
-- functions).
ALTER TABLE runs ADD COLUMN events_replaced BIGINT;
ALTER TABLE events ADD COLUMN version_hash UBIGINT;
