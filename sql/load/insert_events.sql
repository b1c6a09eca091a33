-- Add the clean rows of load_checked to `events`, skipping those already stored.
-- event_id is stable across loads: md5 of the event's content (load/event_content.sql: case,
-- activity, instant, lifecycle, resource, team, start) plus its ordinal among identical
-- rows in file order, so a re-load adds nothing, a newer export adds only its new
-- events, and true duplicates in one export are kept (and reported later as a data-quality
-- finding), not merged. Identical rows are rare, so only they are ranked: a window over
-- every row of a large load cost more than everything else here. Equal contents have equal
-- content_hash, so grouping those 8-byte hashes finds every candidate cheaply; a rare hash
-- collision only ranks a few more rows, each in its own content_id.
INSERT INTO events
WITH contents AS NOT MATERIALIZED (  -- md5 streams into the insert: ten million ids are not kept twice
    SELECT *, md5(event_content(case_id, activity, ts, lifecycle, resource, team, start_ts)) AS content_id
    FROM load_checked
    WHERE reason IS NULL
),
repeated AS (
    SELECT content_hash FROM load_checked WHERE reason IS NULL GROUP BY content_hash HAVING count(*) > 1
),
ordinals AS (
    SELECT _line, row_number() OVER (PARTITION BY content_id ORDER BY _line) AS ordinal
    FROM contents
    WHERE content_hash IN (SELECT content_hash FROM repeated)
),
identified AS (
    SELECT c.*, c.content_id || '.' || coalesce(o.ordinal, 1) AS event_id
    FROM contents AS c
    LEFT JOIN ordinals AS o USING (_line)
)
SELECT $stream, i.event_id, i.case_id, i.activity, i.ts, i.lifecycle, i.resource, i.team, i.start_ts,
       i.attributes, $source, i._line, $run_id
FROM identified AS i
ANTI JOIN (SELECT event_id FROM events WHERE stream = $stream) AS known USING (event_id);
