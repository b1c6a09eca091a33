-- WIP over time, per day and per step, and the Little's Law check (SPEC "Flow").
-- Relations: flow_wip_daily (grain: day), flow_step_wip_daily (grain: step and day),
-- flow_step_wip_avg (grain: step), flow_littles_law (grain: window), and their helpers
-- flow_wip_window, flow_wip_days, flow_wip_spans, flow_wip_curve, flow_wip_marks and
-- flow_quiet_stretches.
--
-- The window is [first arrival, as_of], as_of being the measurement instant (the stream's
-- last event unless given). Nothing after as_of is seen: a case that exits later is open
-- at as_of, a case that arrives later is not counted. A measurement window ([flow] window,
-- --window: flow_window, see pipeline/flow.py) narrows it to [its start, its end) met with
-- that span (flow_wip_window): days, WIP, arrivals, departures and Little's Law are those
-- inside it, and the cases on hand when it opens (arrived before it, still open) count in
-- its WIP from its first day. Days and months are calendar days
-- and months in the stream's timezone (the session TimeZone), so a DST day lasts 23 or
-- 25 hours. Durations are taken as epoch(b) - epoch(a): under a session TimeZone with
-- DST, epoch(b - a) counts calendar days as 24 h and is off by the DST hour.
--
-- Stale cases (flow_cases.is_stale: open, and quiet longer than stale_after at as_of) are
-- left out of every relation here, as if they had never arrived: not in WIP, arrivals,
-- departures, step WIP or Little's Law, which so cover the active work only and keep
-- wip_end(d) - wip_end(d-1) = arrivals(d) - departures(d). They are counted apart
-- (stream_summary.stale_cases, aging_wip state 'stale').
--
-- WIP(t) = cases with arrival <= t < exit (open cases: arrival <= t). Nothing is expanded
-- per day: arrivals are +1 and exits -1 change events, running sums give WIP after each
-- change instant and the area under WIP(t) (exact integer case-microseconds, see
-- flow_wip_curve), and an ASOF join reads WIP and area at any day or month boundary.
-- A time-average over [a, b] is (area(b) - area(a)) / (b - a).
--
-- wip_end of a day is the WIP when the day closes: cases that arrived on or before the
-- day and had not exited by its end (the limit of WIP(t) as t reaches the midnight ending
-- the day). A case arriving exactly at midnight belongs to the new day, so
-- wip_end(d) - wip_end(d-1) = arrivals(d) - departures(d) holds exactly. The last day
-- closes at as_of and its wip_end is WIP(as_of) (cases arriving or exiting at as_of
-- included). wip_avg averages over the whole calendar day (hours before the first arrival
-- count as zero WIP), the last day over [midnight, as_of]; when that last span has no
-- length (as_of exactly at midnight) wip_avg is WIP(as_of).
--
-- Per step: queue WIP counts visits with ready <= t < start, active WIP visits with
-- start <= t < end (in-process visits until as_of). A visit whose start is not observed
-- (every visit of a point log, steps of an interval log that have no start events) has
-- no queue / active split: its whole elapsed span ready <= t < end is counted as queue
-- WIP and nothing as active, and flow_step_wip_avg.active_wip_avg is NULL (not observed)
-- for a step none of whose visits has a start. A first visit with no ready time has no
-- queue span.
--
-- Little's Law, per window (one 'all' window [first arrival, as_of] and one per calendar
-- month, the first and last clipped to the window, so the last has no length when as_of
-- is exactly its first midnight): wip_avg = time-average WIP (NULL over no length),
-- throughput_per_day = departures / window days, lead_time_mean_s = mean lead time of the
-- cases that exited in the window (exit - arrival in elapsed seconds), predicted_wip =
-- throughput_per_day x lead time (days), ratio = wip_avg / predicted_wip.
-- wip_start / wip_end = WIP when the window opens (cases on hand before it) / closes,
-- with the same day-close rule as wip_end above. Arrivals and departures are counted in
-- [start, end), and up to as_of inclusive.
-- The verdict, first rule that applies:
--   'data gap'      the window has no length, or no case exited in it (no throughput,
--                   no lead time), or it holds a quiet stretch: 7 days or more with no
--                   event at all (of any activity, dropped ones included) that is material:
--                   the WIP on hand was at least a tenth of the window's average WIP, and
--                   WIP x its length at least 1% of the window's case-time (average WIP x
--                   length). A quieter stretch (one early case waiting through a year before
--                   the log really begins; a few long cases waiting in 2011 of a log that is
--                   mostly 2012) is a lull, not missing events: `why` mentions it, and the
--                   verdict is judged on the ratio.
--   'consistent'    |ratio - 1| <= 0.2 (or WIP and predicted WIP both zero).
--   'WIP growing'   ratio > 1.2 and WIP rose over the window: cases still in progress
--                   hold time that no departure's lead time reflects yet.
--   'WIP shrinking' ratio < 0.8 and WIP fell over the window: the departures carry lead
--                   time spent before the window.
--   'data gap'      otherwise: the mismatch goes against, or without, any WIP trend, so a
--                   trend does not explain it (e.g. long cases that started before the
--                   window, or events missing from the log).
-- `why` says which rule fired, with the numbers.

-- flow_wip_spans (grain: case arrived by as_of): arrival, exit and lead time as seen at as_of.
CREATE OR REPLACE TEMP TABLE flow_wip_spans AS
SELECT
    case_id,
    arrival_ts,
    -- an exit before the arrival (bad data) is taken as at the arrival, so WIP stays >= 0
    CASE WHEN exit_ts <= $as_of THEN greatest(exit_ts, arrival_ts) END AS exit_ts,
    CASE WHEN exit_ts <= $as_of THEN epoch(exit_ts) - epoch(arrival_ts) END AS lead_time_s
FROM flow_cases
WHERE arrival_ts <= $as_of AND NOT is_stale;

-- flow_wip_window (one row, or none when as_of precedes every arrival): the measurement
-- window (flow_window: [flow] window or --window, else the whole history) met with
-- [first arrival, as_of]. It closes at as_of (inclusive) when the window reaches as_of,
-- else it is half-open at its end, whose day is the last (the day before a midnight end).
-- opening_wip: cases on hand when it opens (arrived before it, not exited before it).
CREATE OR REPLACE TEMP TABLE flow_wip_window AS
WITH bounds AS (
    SELECT
        greatest(min(c.arrival_ts), any_value(w.from_ts)) AS window_start,
        least(CAST($as_of AS TIMESTAMPTZ), any_value(w.to_ts)) AS window_end,
        any_value(w.from_ts) AS from_ts,
        any_value(w.to_ts) >= CAST($as_of AS TIMESTAMPTZ) AS closes_at_as_of
    FROM flow_cases AS c CROSS JOIN flow_window AS w
)
SELECT
    window_start,
    window_end,
    from_ts,  -- the window's own start (-infinity for the whole history): the first day starts there
    closes_at_as_of,
    CAST(window_start AS DATE) AS first_day,
    CASE WHEN closes_at_as_of THEN CAST(window_end AS DATE)
         ELSE CAST(window_end - INTERVAL 1 MICROSECOND AS DATE) END AS last_day,
    (SELECT count(*) FROM flow_wip_spans AS s
     WHERE s.arrival_ts < b.window_start AND (s.exit_ts IS NULL OR s.exit_ts >= b.window_start)) AS opening_wip
FROM bounds AS b
WHERE window_start <= CAST($as_of AS TIMESTAMPTZ) AND window_start <= window_end;

-- flow_wip_days (grain: day of the window): the instants the day's span starts and ends
-- (the first day from the window's start when that is later than its midnight).
CREATE OR REPLACE TEMP TABLE flow_wip_days AS
WITH days AS (
    SELECT CAST(unnest(generate_series(first_day, last_day, INTERVAL 1 DAY)) AS DATE) AS day
    FROM flow_wip_window
)
SELECT
    d.day,
    greatest(CAST(d.day AS TIMESTAMPTZ), w.from_ts) AS day_start,  -- local midnight
    CASE WHEN d.day = w.last_day THEN w.window_end ELSE CAST(d.day + 1 AS TIMESTAMPTZ) END AS day_end
FROM days AS d CROSS JOIN flow_wip_window AS w;

-- flow_wip_curve (grain: instant where WIP changes): WIP just after the instant, and the
-- running sum of delta x epoch_us(instant). The area under WIP(t) up to any instant b at or
-- after it is wip x epoch_us(b) - moment_us: each case in contributes (b - arrival), each
-- case gone (exit - arrival). Exact integer case-microseconds, one running pass.
CREATE OR REPLACE TEMP TABLE flow_wip_curve AS
WITH changes AS (
    SELECT ts, sum(delta) AS delta
    FROM (
        SELECT arrival_ts AS ts, 1 AS delta FROM flow_wip_spans
        UNION ALL
        SELECT exit_ts AS ts, -1 AS delta FROM flow_wip_spans WHERE exit_ts IS NOT NULL
    )
    GROUP BY ts
)
SELECT ts,
    CAST(sum(delta) OVER w AS BIGINT) AS wip,
    sum(CAST(delta AS HUGEINT) * epoch_us(ts)) OVER w AS moment_us
FROM changes
WINDOW w AS (ORDER BY ts ROWS UNBOUNDED PRECEDING);

-- flow_wip_marks (grain: day or window boundary): WIP and area under WIP(t) at the mark.
CREATE OR REPLACE TEMP TABLE flow_wip_marks AS
WITH marks AS (
    SELECT day_start AS mark_ts FROM flow_wip_days
    UNION SELECT day_end FROM flow_wip_days
    UNION SELECT window_start FROM flow_wip_window
)
SELECT
    m.mark_ts,
    coalesce(c.wip, 0) AS wip,
    coalesce(CAST(c.wip AS HUGEINT) * epoch_us(m.mark_ts) - c.moment_us, 0) AS area_us
FROM marks AS m
ASOF LEFT JOIN flow_wip_curve AS c ON m.mark_ts >= c.ts;

-- flow_wip_daily (grain: day, every day of the window: from the first arrival's to as_of's
-- for the whole history). Arrivals and departures inside the window; the cases on hand
-- when it opens (flow_wip_window.opening_wip) carry into every wip_end.
CREATE OR REPLACE TEMP TABLE flow_wip_daily AS
WITH arrivals AS (
    SELECT CAST(arrival_ts AS DATE) AS day, count(*) AS n FROM flow_wip_spans
    WHERE in_window(arrival_ts) GROUP BY ALL
),
departures AS (
    SELECT CAST(exit_ts AS DATE) AS day, count(*) AS n FROM flow_wip_spans
    WHERE in_window(exit_ts) GROUP BY ALL
),
counted AS (
    SELECT
        d.day, d.day_start, d.day_end,
        coalesce(a.n, 0) AS arrivals,
        coalesce(x.n, 0) AS departures,
        (SELECT opening_wip FROM flow_wip_window)
            + sum(coalesce(a.n, 0) - coalesce(x.n, 0)) OVER (ORDER BY d.day) AS wip_end,
        e.area_us - s.area_us AS area_us
    FROM flow_wip_days AS d
    LEFT JOIN arrivals AS a USING (day)
    LEFT JOIN departures AS x USING (day)
    JOIN flow_wip_marks AS s ON s.mark_ts = d.day_start
    JOIN flow_wip_marks AS e ON e.mark_ts = d.day_end
)
SELECT
    day,                                    -- calendar day in the stream's timezone
    CAST(wip_end AS BIGINT) AS wip_end,     -- WIP when the day closes (last day: at as_of)
    CASE WHEN day_end > day_start
         THEN CAST(area_us AS DOUBLE) / (epoch_us(day_end) - epoch_us(day_start))
         ELSE CAST(wip_end AS DOUBLE) END AS wip_avg,  -- time-average WIP over the day
    CAST(arrivals AS BIGINT) AS arrivals,   -- cases whose arrival falls on the day
    CAST(departures AS BIGINT) AS departures  -- cases whose exit falls on the day
FROM counted
ORDER BY day;

-- flow_step_wip_daily (grain: step and day; every day of the window for every step with
-- a visit). Change events per visit, summed per step and day, then a running sum. A
-- change before the window's start (before the first day: a visit before its case's
-- configured start activity; or work on hand when a window opens) counts on the first
-- day, a change after its end on none.
CREATE OR REPLACE TEMP TABLE flow_step_wip_daily AS
WITH spans AS (
    SELECT step, ready_ts, start_ts,
        -- greatest() skips NULLs, hence the CASEs: a span never ends before it starts (bad data)
        CASE WHEN ready_ts IS NOT NULL THEN greatest(coalesce(start_ts, end_ts), ready_ts) END
            AS queue_end_ts,  -- no start observed: the elapsed span
        CASE WHEN end_ts IS NOT NULL THEN greatest(end_ts, start_ts) END AS active_end_ts
    FROM flow_visits
    ANTI JOIN (SELECT case_id FROM flow_cases WHERE is_stale) USING (case_id)
),
changes AS (
    SELECT step, ready_ts AS ts, 1 AS queue_delta, 0 AS active_delta FROM spans WHERE ready_ts IS NOT NULL
    UNION ALL
    SELECT step, queue_end_ts, -1, 0 FROM spans WHERE ready_ts IS NOT NULL
    UNION ALL
    SELECT step, start_ts, 0, 1 FROM spans WHERE start_ts IS NOT NULL
    UNION ALL
    SELECT step, active_end_ts, 0, -1 FROM spans WHERE start_ts IS NOT NULL AND active_end_ts IS NOT NULL
),
lookup AS (  -- per UTC date D: when local days D and D + 1 start
    SELECT day AS utc_date, CAST(day AS TIMESTAMPTZ) AS day_start, CAST(day + 1 AS TIMESTAMPTZ) AS next_day_start
    FROM (SELECT CAST(unnest(generate_series(first_day - 1, last_day + 1, INTERVAL 1 DAY)) AS DATE) AS day
          FROM flow_wip_window)
),
located AS (
    -- The local day of each change without a timezone conversion per row (costly over tens
    -- of millions of changes): a local day is the UTC date, the one before or the one after.
    SELECT c.step, c.queue_delta, c.active_delta,
        CASE WHEN c.ts < w.window_start THEN w.first_day
             WHEN l.utc_date IS NULL THEN CAST(c.ts AS DATE)
             WHEN c.ts >= l.next_day_start THEN l.utc_date + 1
             WHEN c.ts >= l.day_start THEN l.utc_date
             ELSE l.utc_date - 1 END AS day
    FROM changes AS c
    CROSS JOIN flow_wip_window AS w
    LEFT JOIN lookup AS l ON l.utc_date = DATE '1970-01-01' + CAST(epoch_us(c.ts) // 86400000000 AS INTEGER)
    WHERE c.ts <= $as_of AND (c.ts < w.window_end OR w.closes_at_as_of)
),
per_day AS (
    SELECT step, greatest(c.day, w.first_day) AS day,
        sum(queue_delta) AS queue_delta, sum(active_delta) AS active_delta
    FROM located AS c CROSS JOIN flow_wip_window AS w
    GROUP BY ALL
),
grid AS (
    SELECT s.step, d.day
    FROM (SELECT DISTINCT step FROM flow_visits) AS s CROSS JOIN flow_wip_days AS d
)
SELECT
    g.step,
    g.day,
    CAST(sum(coalesce(p.queue_delta, 0)) OVER w AS BIGINT) AS queue_wip_end,  -- point logs: elapsed WIP
    CAST(sum(coalesce(p.active_delta, 0)) OVER w AS BIGINT) AS active_wip_end  -- 0 when no start is observed
FROM grid AS g
LEFT JOIN per_day AS p USING (step, day)
WINDOW w AS (PARTITION BY g.step ORDER BY g.day)
ORDER BY g.step, g.day;

-- flow_step_wip_avg (grain: step): time in queue / active clipped to the window, divided
-- by the window's length (NULL when the window has no length).
CREATE OR REPLACE TEMP TABLE flow_step_wip_avg AS
WITH clipped AS (
    SELECT v.step, v.start_ts,
        CASE WHEN v.ready_ts IS NOT NULL THEN greatest(0,
            epoch(least(coalesce(v.start_ts, v.end_ts), w.window_end)) - epoch(greatest(v.ready_ts, w.window_start)))
        END AS queue_s,
        CASE WHEN v.start_ts IS NOT NULL THEN greatest(0,
            epoch(least(coalesce(v.end_ts, w.window_end), w.window_end)) - epoch(greatest(v.start_ts, w.window_start)))
        END AS active_s,
        epoch(w.window_end) - epoch(w.window_start) AS window_s
    FROM flow_visits AS v CROSS JOIN flow_wip_window AS w
    ANTI JOIN (SELECT case_id FROM flow_cases WHERE is_stale) AS s USING (case_id)
)
SELECT
    step,
    coalesce(sum(queue_s), 0) / nullif(any_value(window_s), 0) AS queue_wip_avg,
    CASE WHEN count(start_ts) > 0 THEN coalesce(sum(active_s), 0) / nullif(any_value(window_s), 0) END
        AS active_wip_avg  -- NULL: no visit of the step has an observed start
FROM clipped
GROUP BY step;

-- flow_quiet_stretches (grain: stretch of 7 days or more between consecutive events, or
-- between the last event and as_of, with WIP > 0 during it). Events are first bucketed
-- per UTC day (first and last instant, flow_event_days): a silence of a week cannot lie
-- inside one day, so consecutive buckets are enough, and no sort of every event is needed.
CREATE OR REPLACE TEMP TABLE flow_quiet_stretches AS
WITH buckets AS (
    SELECT min(first_ts) AS first_ts, max(last_ts) AS last_ts
    FROM (
        SELECT day, first_ts, last_ts FROM flow_event_days
        UNION ALL SELECT epoch_us(CAST($as_of AS TIMESTAMPTZ)) // 86400000000, CAST($as_of AS TIMESTAMPTZ),
            CAST($as_of AS TIMESTAMPTZ)
    )
    GROUP BY day
),
gaps AS (
    SELECT last_ts AS quiet_from, lead(first_ts) OVER (ORDER BY first_ts) AS quiet_to FROM buckets
)
SELECT g.quiet_from, g.quiet_to, c.wip
FROM gaps AS g
ASOF JOIN flow_wip_curve AS c ON g.quiet_from >= c.ts
WHERE epoch(g.quiet_to) - epoch(g.quiet_from) >= 7 * 86400 AND c.wip > 0;

-- flow_littles_law (grain: window: 'all', then one per calendar month).
CREATE OR REPLACE TEMP TABLE flow_littles_law AS
WITH months AS (
    SELECT CAST(unnest(generate_series(
        CAST(date_trunc('month', first_day) AS DATE), last_day, INTERVAL 1 MONTH)) AS DATE) AS month_day
    FROM flow_wip_window
),
windows AS (
    SELECT 'all' AS window_kind, window_start, window_end, first_day, last_day FROM flow_wip_window
    UNION ALL
    SELECT 'month',
        greatest(CAST(m.month_day AS TIMESTAMPTZ), w.window_start),
        least(CAST(CAST(m.month_day + INTERVAL 1 MONTH AS DATE) AS TIMESTAMPTZ), w.window_end),
        greatest(m.month_day, w.first_day),
        least(CAST(m.month_day + INTERVAL 1 MONTH AS DATE) - 1, w.last_day)
    -- when as_of is exactly a month's first midnight, that month's window has no length but
    -- is kept: it holds the arrivals and departures at as_of, so the months tile the days
    FROM months AS m CROSS JOIN flow_wip_window AS w
),
flows AS (
    SELECT wn.window_kind, wn.window_start,
        sum(d.arrivals) AS arrivals,
        sum(d.departures) AS departures,
        arg_max(d.wip_end, d.day) AS wip_end
    FROM windows AS wn JOIN flow_wip_daily AS d ON d.day BETWEEN wn.first_day AND wn.last_day
    GROUP BY ALL
),
opening AS (  -- WIP when the window opens: the close of the day before it (the first: on hand)
    SELECT wn.window_kind, wn.window_start,
        CASE WHEN wn.first_day = w.first_day THEN w.opening_wip ELSE coalesce(d.wip_end, 0) END AS wip_start
    FROM windows AS wn
    CROSS JOIN flow_wip_window AS w
    LEFT JOIN flow_wip_daily AS d ON d.day = wn.first_day - 1
),
exit_days AS (
    SELECT CAST(exit_ts AS DATE) AS day, sum(lead_time_s) AS lead_time_s, count(lead_time_s) AS exits
    FROM flow_wip_spans WHERE in_window(exit_ts) GROUP BY ALL
),
lead_times AS (
    SELECT wn.window_kind, wn.window_start, sum(x.lead_time_s) / sum(x.exits) AS lead_time_mean_s
    FROM windows AS wn
    JOIN exit_days AS x ON x.day BETWEEN wn.first_day AND wn.last_day
    GROUP BY ALL
),
quiet_all AS (  -- the quiet stretches inside each window, clipped to it
    SELECT window_kind, window_start, wip, quiet_from, quiet_s
    FROM (
        SELECT wn.window_kind, wn.window_start, q.wip,
            greatest(q.quiet_from, wn.window_start) AS quiet_from,
            epoch(least(q.quiet_to, wn.window_end)) - epoch(greatest(q.quiet_from, wn.window_start)) AS quiet_s
        FROM windows AS wn CROSS JOIN flow_quiet_stretches AS q
    )
    WHERE quiet_s >= 7 * 86400
),
measured AS (
    SELECT
        wn.window_kind, wn.window_start, wn.window_end,
        (epoch(wn.window_end) - epoch(wn.window_start)) / 86400 AS window_days,
        CAST(e.area_us - s.area_us AS DOUBLE) / 1e6 / nullif(epoch(wn.window_end) - epoch(wn.window_start), 0)
            AS wip_avg,
        o.wip_start, f.wip_end, f.arrivals, f.departures,
        f.departures / nullif((epoch(wn.window_end) - epoch(wn.window_start)) / 86400, 0) AS throughput_per_day,
        l.lead_time_mean_s
    FROM windows AS wn
    JOIN flow_wip_marks AS s ON s.mark_ts = wn.window_start
    JOIN flow_wip_marks AS e ON e.mark_ts = wn.window_end
    JOIN flows AS f USING (window_kind, window_start)
    JOIN opening AS o USING (window_kind, window_start)
    LEFT JOIN lead_times AS l USING (window_kind, window_start)
),
quiet_judged AS (  -- material: it held a tenth of the average WIP and 1% of the window's case-time
    SELECT q.*,
        q.wip >= 0.1 * m.wip_avg AND q.wip * q.quiet_s >= 0.01 * m.wip_avg * m.window_days * 86400 AS material
    FROM measured AS m JOIN quiet_all AS q USING (window_kind, window_start)
),
quiet AS (  -- per window, the longest material quiet stretch and the longest minor one
    SELECT window_kind, window_start,
        arg_max(quiet_from, quiet_s) FILTER (WHERE material) AS quiet_from,
        max(quiet_s) FILTER (WHERE material) AS quiet_s,
        arg_max(wip, quiet_s) FILTER (WHERE material) AS quiet_wip,
        arg_max(quiet_from, quiet_s) FILTER (WHERE NOT material) AS minor_from,
        max(quiet_s) FILTER (WHERE NOT material) AS minor_s,
        arg_max(wip, quiet_s) FILTER (WHERE NOT material) AS minor_wip
    FROM quiet_judged
    GROUP BY ALL
),
predicted AS (
    SELECT m.*, q.quiet_from, q.quiet_s, q.quiet_wip, q.minor_from, q.minor_s, q.minor_wip,
        throughput_per_day * lead_time_mean_s / 86400 AS predicted_wip,
        wip_avg / nullif(throughput_per_day * lead_time_mean_s / 86400, 0) AS ratio
    FROM measured AS m
    LEFT JOIN quiet AS q USING (window_kind, window_start)
),
judged AS (
    SELECT *,
        CASE
            WHEN window_days = 0 OR departures = 0 OR quiet_s IS NOT NULL THEN 'data gap'
            WHEN abs(ratio - 1) <= 0.2 OR (predicted_wip = 0 AND wip_avg = 0) THEN 'consistent'
            WHEN wip_end > wip_start AND (ratio > 1.2 OR ratio IS NULL) THEN 'WIP growing'
            WHEN wip_end < wip_start AND ratio < 0.8 THEN 'WIP shrinking'
            ELSE 'data gap'
        END AS verdict,
        printf('average WIP %.2f vs %.2f predicted (throughput %.2f/day x mean lead time %.2f days), ratio %s',
            wip_avg, predicted_wip, throughput_per_day, lead_time_mean_s / 86400,
            coalesce(printf('%.2f', ratio), 'undefined'))
        || CASE WHEN minor_s IS NOT NULL THEN printf(
            ' (no event for %.1f days from %s, while only %d cases were in progress, too little of the window''s work to be a gap in the log: a lull)',
            minor_s / 86400, strftime(minor_from, '%Y-%m-%d %H:%M'), minor_wip) ELSE '' END AS numbers
    FROM predicted
)
SELECT
    window_kind,         -- all | month
    window_start,        -- first arrival, or the month's first midnight
    window_end,          -- as_of, or the next month's first midnight
    wip_avg,             -- time-average WIP over the window
    CAST(wip_start AS BIGINT) AS wip_start,  -- WIP when the window opens
    CAST(wip_end AS BIGINT) AS wip_end,      -- WIP when it closes
    CAST(arrivals AS BIGINT) AS arrivals,
    CAST(departures AS BIGINT) AS departures,
    throughput_per_day,  -- departures per day of the window
    lead_time_mean_s,    -- of the cases that exited in the window
    predicted_wip,       -- throughput_per_day x lead_time_mean (days)
    ratio,               -- wip_avg / predicted_wip
    verdict,
    CASE
        WHEN window_days = 0 THEN
            'the window has no length (the first arrival is the measurement instant): nothing to average'
        WHEN departures = 0 THEN printf(
            'no case exited in this window (%d arrivals, average WIP %.2f), so throughput and lead time are unknown',
            arrivals, wip_avg)
        WHEN quiet_s IS NOT NULL THEN printf(
            'no event at all for %.1f days from %s while %d cases were in progress: the log probably misses events; %s',
            quiet_s / 86400, strftime(quiet_from, '%Y-%m-%d %H:%M'), quiet_wip, numbers)
        WHEN verdict = 'consistent' THEN numbers || ': within 20 %, Little''s Law holds'
        WHEN verdict = 'WIP growing' THEN printf(
            '%s: WIP rose from %d to %d over the window, and cases still in progress hold time that no departure''s lead time reflects yet',
            numbers, wip_start, wip_end)
        WHEN verdict = 'WIP shrinking' THEN printf(
            '%s: WIP fell from %d to %d over the window, and the departures carry lead time spent before it',
            numbers, wip_start, wip_end)
        ELSE printf(
            '%s, but WIP went from %d to %d, which does not explain it: look for long cases that started before the window or events missing from the log',
            numbers, wip_start, wip_end)
    END AS why
FROM judged
ORDER BY window_kind = 'month', window_start;
