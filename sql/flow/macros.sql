-- The flow's macros: each `-- macro: name(args)` is followed by its comment and an expression
-- body, up to the next macro. The runner (pipeline/models.py) expands every call in a model's
-- SQL before the engine sees it, so an engine gets plain SQL.

-- macro: seconds_between(a, b)
-- With a session TimeZone, `b - a` on TIMESTAMPTZ is a calendar interval (a DST day is 24 h),
-- so every duration goes through this macro: true elapsed seconds.
epoch(b) - epoch(a)

-- macro: case_name(n)
-- The case's text from its number (flow_case_names, case_names.sql). The names' columns are
-- renamed so that the argument (often an aggregate over the caller's case_id) still reads
-- the caller's columns once expanded inside the subquery.
(SELECT k.vsm_case_text FROM (SELECT case_no AS vsm_case_no, case_id AS vsm_case_text FROM flow_case_names) AS k
    WHERE k.vsm_case_no = n)

-- macro: tie_key(sequence, line)
-- The tie key of an event (events.sql): its sequence where one is given, else its line.
CASE WHEN sequence BETWEEN 0 AND 16777215
    THEN CAST(549755813888 AS BIGINT) + CAST(sequence AS BIGINT) * 32768 + CAST(coalesce(line, 0) AS BIGINT) % 32768
    ELSE CAST(coalesce(line, 0) AS BIGINT) END

-- macro: calendar_hour(ts)
-- the hour an instant falls in (floor: a CAST would round to the nearest hour)
CAST(floor(epoch(ts) / 3600) AS BIGINT)

-- macro: calendar_w(cum_s, full_hour, spans, hour, ts)
-- W(ts) from ts's row of flow_calendar_hours (NULL when the instant has no calendar)
cum_s + CASE WHEN full_hour THEN epoch(ts) - hour * 3600.0
             WHEN spans IS NULL THEN 0.0
             ELSE list_sum(list_transform(spans,
                      lambda x: greatest(0.0, least(epoch(ts) - hour * 3600.0, x.b) - x.a))) END

-- macro: window_from()
-- The measurement window's bounds ([flow] window or --window, pipeline/windows.py),
-- [from, to), bound as parameters; the whole history ('all') is [0001-01-01, 9999-12-30]
-- UTC: finite bounds both engines hold (Spark's TIMESTAMP has no infinity) outside any
-- event's instant, so every predicate below is then true for every row that has its
-- timestamp (a day inside Spark's range on either side: a zone's offset or a day's cast
-- stays in it). Parameters are the
-- query's constants, folded when it is planned (a subquery on flow_window would be
-- evaluated with every row: the WIP, step and batching queries took twice as long).
coalesce(CAST($window_start AS TIMESTAMPTZ), CAST('0001-01-02 00:00:00+00' AS TIMESTAMPTZ))

-- macro: window_to()
coalesce(CAST($window_end AS TIMESTAMPTZ), CAST('9999-12-30 00:00:00+00' AS TIMESTAMPTZ))

-- macro: window_reaches_as_of()
-- the window closes at as_of (the whole history, 'last N', ...): what happens at the last
-- event is in it.
window_to() >= CAST($as_of AS TIMESTAMPTZ)

-- macro: window_close()
-- the instant the window closes: its end, or as_of when it reaches as_of.
least(window_to(), CAST($as_of AS TIMESTAMPTZ))

-- macro: in_window(ts)
-- the instant falls inside the window (NULL for a NULL instant).
ts >= window_from() AND (ts < window_to() OR (window_reaches_as_of() AND ts <= CAST($as_of AS TIMESTAMPTZ)))

-- macro: visit_in_window(end_ts)
-- a visit counts in the window's step figures when it ended inside it; a visit still in
-- process (no end) when the window reaches as_of.
CASE WHEN end_ts IS NULL THEN window_reaches_as_of() ELSE in_window(end_ts) END

-- macro: case_in_window(arrival_ts, exit_ts)
-- the case was in the stream during the window: it arrived before the window closed and had
-- not exited before it opened.
(arrival_ts < window_to() OR window_reaches_as_of()) AND (exit_ts IS NULL OR exit_ts >= window_from())
