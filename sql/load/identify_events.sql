-- load_identities() (grain: clean row of load_checked): each loadable row with its stable
-- event_id and version_hash. A table macro: load/identified_events.sql materialises its
-- numbers once per load for load/fresh_events.sql and load/replace_events.sql, and load/insert_first_events.sql inserts from it directly into a
-- stream with no events (a first load: no join of ten million rows back to load_checked).
-- event_id is stable across loads: the md5 (as a 128-bit number) of the event's content
-- (load/event_content.sql: case, activity, instant, lifecycle, resource, team, start), and
-- for the n-th of several identical rows in file order (n >= 2), of that content and n. So
-- a re-load adds nothing, a newer export adds only its new events, and true duplicates in
-- one export are kept (and reported later as a data-quality finding), not merged.
-- version_hash: hash(attributes, sequence), what a newer export may correct beside that
-- content; a stored event with the same event_id and version_hash is this row, unchanged.
-- Speed: a number, not the md5's 32 hex digits, because ten million unique texts cost
-- seconds to store and to compare; identical rows are rare, so only they are ranked (a
-- window over every row cost more than everything else here). Equal contents have equal
-- content_hash, so grouping those 8-byte hashes finds every candidate cheaply; a rare hash
-- collision only ranks a few more rows, each among its own content.
CREATE OR REPLACE TEMP MACRO load_identities() AS TABLE
WITH repeated AS (
    SELECT content_hash FROM load_checked WHERE reason IS NULL GROUP BY content_hash HAVING count(*) > 1
),
ordinals AS (
    SELECT _line, row_number() OVER (
        PARTITION BY event_content(case_id, activity, ts, lifecycle, resource, team, start_ts) ORDER BY _line
    ) AS ordinal
    FROM load_checked
    WHERE reason IS NULL AND content_hash IN (SELECT content_hash FROM repeated)
)
SELECT c.*,
    CASE WHEN coalesce(o.ordinal, 1) = 1
        THEN md5_number(event_content(c.case_id, c.activity, c.ts, c.lifecycle, c.resource, c.team, c.start_ts))
        ELSE md5_number(event_content(c.case_id, c.activity, c.ts, c.lifecycle, c.resource, c.team, c.start_ts)
                        || chr(31) || o.ordinal)
    END AS event_id,
    hash(c.attributes, c.sequence) AS version_hash
FROM load_checked AS c
LEFT JOIN ordinals AS o USING (_line)
WHERE c.reason IS NULL;
