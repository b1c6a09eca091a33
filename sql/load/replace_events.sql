-- load_replaced (grain: stored event that this load replaces): a newer version of a keyed
-- event ([columns] event_key; default case, activity, timestamp, lifecycle) replaces the
-- stored one: pipeline/ingest.py deletes the stored event (event_id) and inserts this load's
-- row (_line) in the same transaction, so the newer resource, team, attributes... win.
-- {key}: the event key's columns (load_checked and events name them alike, e.g.
-- "case_id, activity, ts, lifecycle"); {key_match}: "f.case_id IS NOT DISTINCT FROM
-- s.case_id AND ..."; both built by pipeline/ingest.py from the role names, never user text.
-- Pairing: only the events that changed take part: this load's fresh rows (load_fresh, not
-- unchanged) and the stream's stored events that this load does not have as they are (same
-- content, copy_no and version_hash). Among those, the n-th fresh row of a key in file order
-- replaces the n-th stored event of that key in load order (run, then line). So two rows of
-- one export that share a key and differ (two people at the same instant on the same step of
-- a case) are both kept, and a later export that corrects one of them replaces that one: the
-- unchanged one is matched as it is and takes no part. A fresh row with no stored partner is
-- a new event; a stored event with no fresh partner stays.
-- A pair is left alone (the fresh row skipped as today, the stored event kept) when another
-- stored event has the fresh row's content and copy_no (its stored_id): deleting would lose
-- an event.
-- Speed: stored events are first narrowed to the cases of the fresh rows (a key always holds
-- the case); a load with no fresh rows reads nothing here.
CREATE OR REPLACE TEMP TABLE load_replaced AS
WITH fresh AS (
    SELECT f._line, f.stored_id, c.case_id, c.activity, c.ts, c.lifecycle, c.resource, c.team, c.start_ts,
        c.sequence
    FROM load_fresh AS f
    JOIN load_checked AS c USING (_line)
    WHERE NOT f.unchanged
),
stored AS (  -- the stream's events in the cases of the fresh rows
    SELECT e.event_id, e.version_hash, e.copy_no, e.run_id, e.source_line, e.case_id, e.activity, e.ts,
        e.lifecycle, e.resource, e.team, e.start_ts, e.sequence
    FROM events AS e
    WHERE e.stream = $stream AND e.case_id IN (SELECT case_id FROM fresh)
),
stale AS (  -- ... that this load does not have as they are
    SELECT * FROM stored AS s
    ANTI JOIN (SELECT * FROM load_checked WHERE reason IS NULL) AS c
        ON s.case_id = c.case_id AND s.activity = c.activity AND s.ts = c.ts AND s.copy_no = c.copy_no
       AND s.lifecycle IS NOT DISTINCT FROM c.lifecycle AND s.resource IS NOT DISTINCT FROM c.resource
       AND s.team IS NOT DISTINCT FROM c.team AND s.start_ts IS NOT DISTINCT FROM c.start_ts
       AND s.version_hash = c.version_hash
),
fresh_ranked AS (
    SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY _line) AS key_ordinal FROM fresh
),
stale_ranked AS (
    SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY run_id, source_line, event_id) AS key_ordinal
    FROM stale
)
SELECT s.event_id, f._line
FROM fresh_ranked AS f
JOIN stale_ranked AS s ON {key_match} AND f.key_ordinal = s.key_ordinal
WHERE f.stored_id = s.event_id OR f.stored_id IS NULL;
