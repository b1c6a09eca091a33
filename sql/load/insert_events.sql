-- Add the clean rows of load_checked to `events`, skipping those already stored.
-- event_id is stable across loads: md5 of the event's content (case, activity, instant,
-- lifecycle, resource, team, start) plus its ordinal among identical rows in file order, so
-- a re-load adds nothing, a newer export adds only its new events, and true duplicates in
-- one export are kept (and reported later as a data-quality finding), not merged.
INSERT INTO events
WITH clean AS (
    SELECT
        *,
        md5(concat_ws(chr(31), case_id, activity, CAST(epoch_us(ts) AS VARCHAR),
                      coalesce(lifecycle, ''), coalesce(resource, ''), coalesce(team, ''),
                      coalesce(CAST(epoch_us(start_ts) AS VARCHAR), ''))) AS content_id
    FROM load_checked
    WHERE reason IS NULL
),
identified AS (
    SELECT *, content_id || '.' || row_number() OVER (PARTITION BY content_id ORDER BY _line) AS event_id
    FROM clean
)
SELECT $stream, i.event_id, i.case_id, i.activity, i.ts, i.lifecycle, i.resource, i.team, i.start_ts,
       i.attributes, $source, i._line, $run_id
FROM identified AS i
ANTI JOIN (SELECT event_id FROM events WHERE stream = $stream) AS known USING (event_id);
