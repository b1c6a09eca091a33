-- load_checked: one row per source record of the load in progress (grain: record), parsed
-- and checked. Built from `load_staged` (the connector's rows with canonical names).
-- {ts_expr} / {start_expr} are chosen by pipeline/timestamps.py from a fixed set of parse
-- expressions (never user text); the session TimeZone is the stream's during the load, so
-- naive values are read in it.
CREATE OR REPLACE TEMP TABLE load_checked AS
WITH parsed AS (
    SELECT
        _line,                                   -- where the record is in the source
        case_id,                                 -- canonical case id (text)
        activity,                                -- activity / status (text)
        lifecycle,                               -- lower-cased lifecycle transition, if any
        resource,
        team,
        attributes,                              -- other source columns, JSON object
        field_problem,                           -- connector-level problem (ragged row), if any
        CAST(ts_raw AS VARCHAR) AS ts_text,      -- the timestamp as found, for messages
        CAST(start_raw AS VARCHAR) AS start_text,
        {ts_expr} AS ts,                         -- parsed timestamp, NULL when unparseable
        {start_expr} AS start_ts                 -- parsed start timestamp, NULL when absent/unparseable
    FROM load_staged
)
SELECT
    *,
    -- why the row cannot be loaded (NULL = it can), with what was expected
    CASE
        WHEN field_problem IS NOT NULL THEN field_problem
        WHEN case_id IS NULL OR trim(case_id) = '' THEN 'missing case id: expected a non-empty value'
        WHEN activity IS NULL OR trim(activity) = '' THEN 'missing activity: expected a non-empty value'
        WHEN ts_text IS NULL OR trim(ts_text) = '' THEN 'missing timestamp: expected ' || $ts_expected
        WHEN ts IS NULL THEN 'unparseable timestamp: expected ' || $ts_expected
        WHEN start_text IS NOT NULL AND trim(start_text) <> '' AND start_ts IS NULL
            THEN 'unparseable start timestamp: expected ' || $start_expected
    END AS reason,
    -- the source column at fault
    CASE
        WHEN field_problem IS NOT NULL THEN NULL
        WHEN case_id IS NULL OR trim(case_id) = '' THEN $case_column
        WHEN activity IS NULL OR trim(activity) = '' THEN $activity_column
        WHEN ts_text IS NULL OR trim(ts_text) = '' OR ts IS NULL THEN $ts_column
        WHEN start_text IS NOT NULL AND trim(start_text) <> '' AND start_ts IS NULL THEN $start_column
    END AS column_name,
    -- the offending value, as text
    CASE
        WHEN field_problem IS NOT NULL THEN NULL
        WHEN case_id IS NULL OR trim(case_id) = '' THEN case_id
        WHEN activity IS NULL OR trim(activity) = '' THEN activity
        WHEN ts_text IS NULL OR trim(ts_text) = '' OR ts IS NULL THEN ts_text
        WHEN start_text IS NOT NULL AND trim(start_text) <> '' AND start_ts IS NULL THEN start_text
    END AS value
FROM parsed;
