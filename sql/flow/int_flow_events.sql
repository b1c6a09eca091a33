-- flow_events: the stream's events with their step (grain: event). Step mapping comes
-- from flow_step_map (activity -> step, dropped), built from the stream's [steps] settings.
-- `ord` orders a case's events: time, then source line (ties keep the export's order, as
-- pm4py does), starts before completes at the same instant.
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
    row_number() OVER (
        PARTITION BY e.case_id
        ORDER BY e.ts, CASE WHEN e.lifecycle = 'start' THEN 0 ELSE 1 END, e.source_line, e.event_id
    ) AS ord
FROM events AS e
JOIN flow_step_map AS m USING (activity)
WHERE e.stream = $stream;
