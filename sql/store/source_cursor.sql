-- The stored cursor of one system stream ($stream): kind, scope and cursor, or no row
-- before its first load (source_cursors: migration 009).
SELECT kind, scope, cursor FROM source_cursors WHERE stream = $stream;
