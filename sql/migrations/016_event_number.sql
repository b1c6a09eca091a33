-- Migration 016 (issue 23): events.event_id becomes a plain number (BIGINT), no longer the
-- md5 of the event's content; events.copy_no keeps what that md5 also held, the event's
-- ordinal among identical rows of its load.
--   event_id  the event's number in its stream: a load numbers its new events after the
--             stream's largest (load/insert_events.sql); here, existing events are numbered
--             1, 2, ... per stream in load order (run, line). Unique in its stream.
--   copy_no   1, or for the n-th of several identical rows of one load (same case,
--             activity, instant, lifecycle, resource, team, start) in file order, n.
-- A load recognises a stored event by its content and copy_no (load/fresh_events.sql):
-- exactly what the md5 id stood for, so re-loads, newer exports and event-key replacement
-- behave as before, without an md5 per row (10M events: about 3 CPU-seconds of the load).
--
-- Existing events: copy_no is read back from their md5 ids (the content's md5 is copy 1; for
-- the others the n whose md5 of content || n is the id); an id that is neither (not written
-- by a load) gets the next free copy_no of its content. Written as UPDATEs, which the
-- write-ahead log replays as the values they wrote, and an ALTER that only reads a column,
-- so a store killed before its first checkpoint reopens offline (see migration 004).
ALTER TABLE events ADD COLUMN copy_no INTEGER DEFAULT 1;

ALTER TABLE events ADD COLUMN event_no BIGINT;

UPDATE events SET copy_no = NULL
WHERE event_id <> md5_number(concat_ws(chr(31), case_id, activity, CAST(epoch_us(ts) AS VARCHAR),
                             coalesce(lifecycle, ''), coalesce(resource, ''), coalesce(team, ''),
                             coalesce(CAST(epoch_us(start_ts) AS VARCHAR), '')));

UPDATE events SET copy_no = found.copy_no
FROM (
    WITH others AS (
        SELECT rowid AS row_id, event_id,
            concat_ws(chr(31), case_id, activity, CAST(epoch_us(ts) AS VARCHAR),
                      coalesce(lifecycle, ''), coalesce(resource, ''), coalesce(team, ''),
                      coalesce(CAST(epoch_us(start_ts) AS VARCHAR), '')) AS content,
            count(*) OVER (PARTITION BY stream, case_id, activity, ts, lifecycle, resource, team, start_ts)
                AS copies
        FROM events
        WHERE copy_no IS NULL
    ),
    tried AS (
        SELECT row_id, event_id, content, unnest(range(2, copies + 2)) AS n FROM others
    )
    SELECT row_id, min(n) AS copy_no
    FROM tried
    WHERE md5_number(content || chr(31) || CAST(n AS VARCHAR)) = event_id
    GROUP BY row_id
) AS found
WHERE events.rowid = found.row_id;

UPDATE events SET copy_no = free.copy_no
FROM (
    SELECT u.rowid AS row_id,
        coalesce((
            SELECT max(k.copy_no) FROM events AS k
            WHERE k.stream = u.stream AND k.case_id = u.case_id AND k.activity = u.activity AND k.ts = u.ts
              AND k.lifecycle IS NOT DISTINCT FROM u.lifecycle AND k.resource IS NOT DISTINCT FROM u.resource
              AND k.team IS NOT DISTINCT FROM u.team AND k.start_ts IS NOT DISTINCT FROM u.start_ts
        ), 0) + row_number() OVER (
            PARTITION BY u.stream, u.case_id, u.activity, u.ts, u.lifecycle, u.resource, u.team, u.start_ts
            ORDER BY u.run_id, u.source_line, u.event_id
        ) AS copy_no
    FROM events AS u
    WHERE u.copy_no IS NULL
) AS free
WHERE events.rowid = free.row_id;

UPDATE events SET event_no = numbered.event_no
FROM (
    SELECT rowid AS row_id,
        row_number() OVER (PARTITION BY stream ORDER BY run_id, source_line, event_id) AS event_no
    FROM events
) AS numbered
WHERE events.rowid = numbered.row_id;

ALTER TABLE events ALTER event_id SET DATA TYPE BIGINT USING event_no;

ALTER TABLE events DROP COLUMN event_no;
