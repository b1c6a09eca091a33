-- event_content(...): an event's content as one text, what its stable event_id is the md5
-- of (load/insert_events.sql) and what load_checked.content_hash hashes to find repeated
-- contents. One definition for both, so that equal ids always mean equal hashes.
CREATE OR REPLACE TEMP MACRO event_content(case_id, activity, ts, lifecycle, resource, team, start_ts) AS
    concat_ws(chr(31), case_id, activity, CAST(epoch_us(ts) AS VARCHAR),
              coalesce(lifecycle, ''), coalesce(resource, ''), coalesce(team, ''),
              coalesce(CAST(epoch_us(start_ts) AS VARCHAR), ''));
