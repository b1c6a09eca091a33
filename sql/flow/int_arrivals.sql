-- flow_arrivals (grain: case): when each case arrived: its first event at a configured
-- start activity ($start_steps, activity or step names), else its first event.
CREATE OR REPLACE TEMP TABLE flow_arrivals AS
SELECT
    case_id,
    coalesce(
        min(ts) FILTER (WHERE list_contains($start_steps, activity) OR list_contains($start_steps, step)),
        min(ts)
    ) AS arrival_ts,
    max(ts) AS last_event_ts
FROM flow_events
GROUP BY case_id;
