-- load_checked: one row per source record of the load in progress (grain: record), parsed
-- and checked. A query over `load_staged`: {staged} is pipeline/ingest.py stage_sql(), the
-- raw rows (one batch of the connector's, or a source DuckDB reads itself) with canonical
-- names. pipeline/ingest.py creates the temp table load_checked from the first batch and
-- appends each further batch of a large source.
-- {ts_expr} / {start_expr} are chosen by pipeline/timestamps.py from a fixed set of parse
-- expressions (never user text); the session TimeZone is the stream's during the load, so
-- naive values are read in it.
-- A timestamp is only turned into text where a message needs it (the row has no parsed
-- time): casting ten million native timestamps to text cost seconds for nothing. A blank
-- or missing value never parses, so "missing" is always among the unparsed.
-- A value longer than pipeline/ingest.py allows (VALUE_MAX_BYTES, ATTRIBUTES_MAX_BYTES) rejects
-- its row before any other check but a ragged record's (stage_sql's size_problem).
-- $null_values: the missing-value tokens ([source] null_values, pipeline/nulls.py); a case
-- id, activity or timestamp that is one makes the row a reject ("missing case id: '?' ...").
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
        sequence_raw,                            -- the sequence as found (text), if a column gives one
        size_problem,                            -- a value or the attributes too large to load, if so
        size_column,                             -- ... in which source column
        size_value,                              -- ... and how that value begins
        tokens_found,                            -- missing-value tokens found: [{column_name, token}], or NULL
        TRY_CAST(null_token(sequence_raw, CAST($null_values AS VARCHAR[])) AS BIGINT) AS sequence,
        {ts_expr} AS ts,                         -- parsed timestamp, NULL when unparseable
        {start_expr} AS start_ts                 -- parsed start timestamp, NULL when absent/unparseable
    FROM ({staged}) AS load_staged
),
flagged AS (
    SELECT *,
        -- case id and activity come stripped of white space (pipeline/ingest.py stage_sql)
        coalesce(case_id, '') = '' OR is_token(case_id, CAST($null_values AS VARCHAR[])) AS case_missing,
        coalesce(activity, '') = '' OR is_token(activity, CAST($null_values AS VARCHAR[])) AS activity_missing,
        -- The three flags below look at the raw text only where the parse gave NULL: a CASE,
        -- not an AND, as DuckDB evaluates both sides of an AND in a projection for every row
        -- (1M events: 0.13 CPU-seconds spent trimming and looking up timestamps that parsed).
        CASE WHEN ts IS NULL
            THEN ts_raw IS NULL OR trim(CAST(ts_raw AS VARCHAR)) = ''
                 OR list_contains(CAST($null_values AS VARCHAR[]), strip_text(CAST(ts_raw AS VARCHAR)))
            ELSE false
        END AS ts_missing,
        CASE WHEN start_ts IS NULL AND start_raw IS NOT NULL
            THEN trim(CAST(start_raw AS VARCHAR)) <> ''
                 -- a start written as a token is a missing start, as an empty one is
                 AND NOT list_contains(CAST($null_values AS VARCHAR[]), strip_text(CAST(start_raw AS VARCHAR)))
            ELSE false
        END AS start_unparsed,
        CASE WHEN sequence IS NULL
            THEN null_token(sequence_raw, CAST($null_values AS VARCHAR[])) IS NOT NULL
            ELSE false
        END AS sequence_unparsed
    FROM parsed
),
checked AS (
    SELECT
        _line, case_id, activity, lifecycle, resource, team, attributes, ts, start_ts, sequence, tokens_found,
        -- why the row cannot be loaded (NULL = it can), with what was expected
        CASE
            WHEN field_problem IS NOT NULL THEN field_problem
            WHEN size_problem IS NOT NULL THEN size_problem
            WHEN case_missing AND coalesce(case_id, '') <> ''
                THEN 'missing case id: ' || quoted(case_id) || ' is a missing-value token ([source] null_values)'
            WHEN case_missing THEN 'missing case id: expected a non-empty value'
            WHEN activity_missing AND coalesce(activity, '') <> ''
                THEN 'missing activity: ' || quoted(activity) || ' is a missing-value token ([source] null_values)'
            WHEN activity_missing THEN 'missing activity: expected a non-empty value'
            WHEN ts_missing AND trim(coalesce(CAST(ts_raw AS VARCHAR), '')) <> ''
                THEN 'missing timestamp: ' || quoted(strip_text(CAST(ts_raw AS VARCHAR)))
                     || ' is a missing-value token ([source] null_values)'
            WHEN ts_missing THEN 'missing timestamp: expected ' || $ts_expected
            WHEN ts IS NULL THEN 'unparseable timestamp: expected ' || $ts_expected
            WHEN start_unparsed THEN 'unparseable start timestamp: expected ' || $start_expected
            WHEN sequence_unparsed THEN 'unparseable sequence: expected a whole number'
        END AS reason,
        -- the source column at fault
        CASE
            WHEN field_problem IS NOT NULL THEN NULL
            WHEN size_problem IS NOT NULL THEN size_column
            WHEN case_missing THEN $case_column
            WHEN activity_missing THEN $activity_column
            WHEN ts IS NULL THEN $ts_column
            WHEN start_unparsed THEN $start_column
            WHEN sequence_unparsed THEN $sequence_column
        END AS column_name,
        -- the offending value, as text
        CASE
            WHEN field_problem IS NOT NULL THEN NULL
            WHEN size_problem IS NOT NULL THEN size_value  -- its start: the whole row is in rejects.raw
            WHEN case_missing THEN case_id
            WHEN activity_missing THEN activity
            WHEN ts IS NULL THEN CAST(ts_raw AS VARCHAR)
            WHEN start_unparsed THEN CAST(start_raw AS VARCHAR)
            WHEN sequence_unparsed THEN sequence_raw
        END AS value
    FROM flagged
)
SELECT
    *,
    -- a cheap hash of the event's content (case, activity, instant, lifecycle, resource,
    -- team, start), to find repeated contents quickly (load/copy_numbers.sql); NULL for a
    -- row that cannot be loaded. Never stored: hash() may change with DuckDB's version
    CASE WHEN reason IS NULL
        THEN hash(case_id, activity, ts, lifecycle, resource, team, start_ts)
    END AS content_hash,
    -- hash(attributes, sequence): what a newer export may correct beside the content; a
    -- stored event with the same content, copy_no and version_hash is this row unchanged
    -- (load/fresh_events.sql). pipeline/ingest.py sets it anew for the rows whose large
    -- attributes it writes apart
    CASE WHEN reason IS NULL THEN hash(attributes, sequence) END AS version_hash,
    -- the row's ordinal among identical rows of this load: 1 here, n for the n-th of
    -- several in file order (load/copy_numbers.sql)
    1 AS copy_no
FROM checked;
