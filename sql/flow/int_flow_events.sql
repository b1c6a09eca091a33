-- flow_events: the stream's events with their step (grain: event). Step mapping comes
-- from flow_step_map (activity -> step, dropped), built from the stream's [steps] settings.
-- `ord` orders a case's events: time, then starts before completes at the same instant, then
-- source line (ties keep the export's order, as pm4py does), then the load (run_id), which
-- together name one source row. It is that order packed into one number, not a rank: every
-- later step orders by it, and a rank would cost a sort of all events here (the largest
-- sort of the flow) for what one multiplication gives. Layout, most significant first:
-- epoch microseconds (signed; 2^54 covers years past 2200), 1 bit start/other, 40 bits of
-- source line (10^12 lines), 32 bits of run id; 126 bits in all, inside HUGEINT.
CREATE OR REPLACE TEMP TABLE flow_events AS
SELECT
    e.case_id,
    e.activity,
    m.step,                          -- NULL when the activity is dropped from the map
    e.ts,
    e.lifecycle,
    e.resource,
    e.team,
    e.start_ts,
    e.source_line,
    ((CAST(epoch_us(e.ts) AS HUGEINT) * 2 + CASE WHEN e.lifecycle = 'start' THEN 0 ELSE 1 END)
        * CAST(1099511627776 AS HUGEINT) + coalesce(e.source_line, 0))
        * CAST(4294967296 AS HUGEINT) + e.run_id AS ord
FROM events AS e
JOIN flow_step_map AS m USING (activity)
WHERE e.stream = $stream;
