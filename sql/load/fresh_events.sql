-- load_fresh (grain: clean row of load_checked not stored as it is): this load's rows that
-- no stored event of the stream has with the same content (case, activity, instant,
-- lifecycle, resource, team, start), copy_no (load/copy_numbers.sql) and version_hash: new
-- events, and newer versions of stored ones (load/replace_events.sql pairs those).
-- stored_id: the stream's event with this row's content and copy_no, if any (so only the
-- attributes or the sequence can differ, or its version_hash is not filled in: events loaded
-- before migration 008); load/unchanged_events.sql compares those by their values.
-- Content and copy_no are what event_id was the md5 of before migration 016: the same
-- events are recognised, without an md5 per row. A load's rows have distinct content and
-- copy_no, and so have a stream's events: each row matches one stored event at most.
-- Speed: one hash join; a re-load of ten million unchanged events leaves this empty.
CREATE OR REPLACE TEMP TABLE load_fresh AS
SELECT c._line, s.event_id AS stored_id, false AS unchanged
FROM (SELECT * FROM load_checked WHERE reason IS NULL) AS c
LEFT JOIN (
    SELECT event_id, case_id, activity, ts, lifecycle, resource, team, start_ts, copy_no, version_hash
    FROM events
    WHERE stream = $stream
) AS s
    ON s.case_id = c.case_id AND s.activity = c.activity AND s.ts = c.ts AND s.copy_no = c.copy_no
   AND s.lifecycle IS NOT DISTINCT FROM c.lifecycle AND s.resource IS NOT DISTINCT FROM c.resource
   AND s.team IS NOT DISTINCT FROM c.team AND s.start_ts IS NOT DISTINCT FROM c.start_ts
WHERE s.event_id IS NULL OR s.version_hash IS DISTINCT FROM c.version_hash;
