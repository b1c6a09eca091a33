-- name: flow_calendar_hours
-- grain: calendar and UTC hour
-- depends_on: flow_calendar_intervals, flow_calendar_numbers
-- params: first_hour, last_hour
-- flow_calendar_hours (grain: calendar and UTC hour): what the flow measures business time
-- with (issue 20). Each hour from $first_hour to $last_hour (hours since the epoch, UTC) of
-- each calendar (flow_calendar_numbers), with
--   cum_s       the calendar's working seconds before the hour (flow_calendar_intervals, laid
--               out by pipeline/calendars.py: working intervals in UTC, DST and holidays done)
--   full_hour   every second of the hour is working time
--   spans       the working parts of a partly working hour, as seconds from the hour's
--               start ({a, b}, in order); NULL: a closed hour
-- W(t), the working seconds up to instant t, is then one equality join on t's hour (a hash
-- join with this small table: no sort of the visits) and the macro calendar_w; a business
-- duration is W(end) - W(start).
WITH hours AS (
    SELECT n.calendar_no, h.hour
    FROM flow_calendar_numbers AS n
    CROSS JOIN range(CAST($first_hour AS BIGINT), CAST($last_hour AS BIGINT) + 1) AS h(hour)
),
cut AS (  -- each working interval with each hour it touches
    SELECT i.calendar_no, i.start_ts, i.end_ts, c.hour
    FROM flow_calendar_intervals AS i
    CROSS JOIN range(CAST(floor(epoch(i.start_ts) / 3600) AS BIGINT), CAST(ceil(epoch(i.end_ts) / 3600) AS BIGINT))
        AS c(hour)
),
parts AS (  -- the part of the interval in that hour, as seconds from the hour's start
    SELECT calendar_no, hour,
        greatest(epoch(start_ts), hour * 3600.0) - hour * 3600.0 AS a,
        least(epoch(end_ts), hour * 3600.0 + 3600.0) - hour * 3600.0 AS b
    FROM cut
),
per_hour AS (
    SELECT calendar_no, hour, sum(b - a) AS working_s, list_sort(list({'a': a, 'b': b})) AS spans  -- by a
    FROM parts WHERE b > a GROUP BY ALL
)
SELECT h.calendar_no, h.hour,
    coalesce(sum(p.working_s) OVER (PARTITION BY h.calendar_no ORDER BY h.hour
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS cum_s,
    coalesce(p.working_s = 3600, FALSE) AS full_hour,
    p.spans
FROM hours AS h
LEFT JOIN per_hour AS p USING (calendar_no, hour)
