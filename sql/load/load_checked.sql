-- load_checked: one row per source record of the load in progress (grain: record), parsed
-- and checked. Built from `load_staged` (the connector's rows with canonical names).
-- {ts_expr} / {start_expr} are chosen by pipeline/timestamps.py from a fixed set of parse
-- expressions (never user text); the session TimeZone is the stream's during the load, so
-- naive values are read in it.
-- A timestamp is only turned into text where a message needs it (the row has no parsed
-- time): casting ten million native timestamps to text cost seconds for nothing. A blank
-- or missing value never parses, so "missing" is always among the unparsed.
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
        ts_raw,                                  -- the timestamp as found
        start_raw,
        {ts_expr} AS ts,                         -- parsed timestamp, NULL when unparseable
        {start_expr} AS start_ts                 -- parsed start timestamp, NULL when absent/unparseable
    FROM load_staged
),
flagged AS (
    SELECT *,
        ts IS NULL AND (ts_raw IS NULL OR trim(CAST(ts_raw AS VARCHAR)) = '') AS ts_missing,
        start_ts IS NULL AND start_raw IS NOT NULL AND trim(CAST(start_raw AS VARCHAR)) <> '' AS start_unparsed
    FROM parsed
),
checked AS (
    SELECT
        _line, case_id, activity, lifecycle, resource, team, attributes, ts, start_ts,
        -- why the row cannot be loaded (NULL = it can), with what was expected
        CASE
            WHEN field_problem IS NOT NULL THEN field_problem
            WHEN case_id IS NULL OR trim(case_id) = '' THEN 'missing case id: expected a non-empty value'
            WHEN activity IS NULL OR trim(activity) = '' THEN 'missing activity: expected a non-empty value'
            WHEN ts_missing THEN 'missing timestamp: expected ' || $ts_expected
            WHEN ts IS NULL THEN 'unparseable timestamp: expected ' || $ts_expected
            WHEN start_unparsed THEN 'unparseable start timestamp: expected ' || $start_expected
        END AS reason,
        -- the source column at fault
        CASE
            WHEN field_problem IS NOT NULL THEN NULL
            WHEN case_id IS NULL OR trim(case_id) = '' THEN $case_column
            WHEN activity IS NULL OR trim(activity) = '' THEN $activity_column
            WHEN ts IS NULL THEN $ts_column
            WHEN start_unparsed THEN $start_column
        END AS column_name,
        -- the offending value, as text
        CASE
            WHEN field_problem IS NOT NULL THEN NULL
            WHEN case_id IS NULL OR trim(case_id) = '' THEN case_id
            WHEN activity IS NULL OR trim(activity) = '' THEN activity
            WHEN ts IS NULL THEN CAST(ts_raw AS VARCHAR)
            WHEN start_unparsed THEN CAST(start_raw AS VARCHAR)
        END AS value
    FROM flagged
)
SELECT
    *,
    -- a cheap hash of the event's content (load/event_content.sql), to find repeated
    -- contents quickly (load/insert_events.sql); NULL for a row that cannot be loaded
    CASE WHEN reason IS NULL
        THEN hash(event_content(case_id, activity, ts, lifecycle, resource, team, start_ts))
    END AS content_hash
FROM checked;
