-- Delete the stored events that this load replaces by a newer version
-- (load/replace_events.sql); load/insert_events.sql then adds the newer one, in the same
-- transaction.
DELETE FROM events
WHERE stream = $stream AND event_id IN (SELECT event_id FROM load_replaced);
