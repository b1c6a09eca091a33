-- The files a file-drop stream has loaded (pipeline/drops.py `plan_drops`), oldest load first:
-- a name's last row is its content now stored; a hash's first row names where it came from.
-- modified_us: the modification time in microseconds since the epoch (compared with the file's).
SELECT name, content_hash, run_id, size, epoch_us(modified_at) AS modified_us
FROM source_files
WHERE stream = $stream
ORDER BY run_id, name;
