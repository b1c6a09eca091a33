-- load_fresh (grain: clean row of load_checked not stored as it is): this load's rows whose
-- event_id and version_hash (load/identify_events.sql) no stored event of the stream has:
-- new events, and newer versions of stored ones (load/replace_events.sql pairs those).
-- id_stored: an event of the stream has this row's event_id (same content, so only the
-- attributes or the sequence can differ; or a version_hash not filled in: events loaded
-- before migration 008); load/unchanged_events.sql compares those by their values.
-- Speed: two joins on numbers; a re-load of ten million unchanged events leaves this empty.
CREATE OR REPLACE TEMP TABLE load_fresh AS
WITH stored AS (
    SELECT event_id, version_hash FROM events WHERE stream = $stream
)
SELECT i._line, i.event_id, i.version_hash, s.event_id IS NOT NULL AS id_stored, false AS unchanged
FROM (
    SELECT * FROM load_identified ANTI JOIN stored USING (event_id, version_hash)
) AS i
LEFT JOIN (SELECT event_id FROM stored) AS s USING (event_id);
