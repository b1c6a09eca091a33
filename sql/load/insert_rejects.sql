-- Keep the rows of load_checked that cannot be loaded, with line, column, value, reason and
-- the whole raw row (load_reject_raw). reject_id is stable (raw row + reason + ordinal), so
-- loading the same file twice adds no second copy.
INSERT INTO rejects
WITH bad AS (
    SELECT c._line, c.column_name, c.value, c.reason, r.raw,
           md5(concat_ws(chr(31), r.raw, c.reason)) AS content_id
    FROM load_checked AS c
    JOIN load_reject_raw AS r USING (_line)
    WHERE c.reason IS NOT NULL
),
identified AS (
    SELECT *, content_id || '.' || row_number() OVER (PARTITION BY content_id ORDER BY _line) AS reject_id
    FROM bad
)
SELECT $stream, i.reject_id, $run_id, $source, i._line, i.column_name, i.value, i.reason, i.raw
FROM identified AS i
ANTI JOIN (SELECT reject_id FROM rejects WHERE stream = $stream) AS known USING (reject_id);
