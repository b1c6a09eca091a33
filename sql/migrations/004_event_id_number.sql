-- Migration 004: events.event_id becomes a number (UHUGEINT): the md5 of the event's
-- content as a 128-bit number, not its 32 hex digits and an ordinal. Ten million unique
-- texts cost seconds to store and to compare on every load; the number carries the same
-- identity (load/insert_events.sql). Existing ids are recomputed from the stored columns
-- the way a load computes them (the content as in load/event_content.sql), keeping each
-- event's ordinal among identical rows (the text after the '.'), so a store made before
-- this migration still recognises the events of a re-load.
--
-- Written so that it replays from the write-ahead log without any extension: DuckDB replays
-- an ALTER ... USING by evaluating its expression again before its built-in functions are
-- loaded (chr and epoch_us are in 'core_functions', which it then tries to download), so a
-- store killed before its first checkpoint would never open again offline. The new ids are
-- computed by an UPDATE (replayed as the values it wrote) into a helper column, and the
-- ALTER only reads that column; the table's columns and their order are as before.
ALTER TABLE events ADD COLUMN event_id_number UHUGEINT;

UPDATE events SET event_id_number =
    CASE WHEN split_part(event_id, '.', 2) IN ('', '1')
        THEN md5_number(concat_ws(chr(31), case_id, activity, CAST(epoch_us(ts) AS VARCHAR),
                        coalesce(lifecycle, ''), coalesce(resource, ''), coalesce(team, ''),
                        coalesce(CAST(epoch_us(start_ts) AS VARCHAR), '')))
        ELSE md5_number(concat_ws(chr(31), case_id, activity, CAST(epoch_us(ts) AS VARCHAR),
                        coalesce(lifecycle, ''), coalesce(resource, ''), coalesce(team, ''),
                        coalesce(CAST(epoch_us(start_ts) AS VARCHAR), ''))
                        || chr(31) || split_part(event_id, '.', 2))
    END;

ALTER TABLE events ALTER event_id SET DATA TYPE UHUGEINT USING event_id_number;

ALTER TABLE events DROP COLUMN event_id_number;
