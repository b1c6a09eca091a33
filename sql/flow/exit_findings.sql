-- name: flow_exit_findings
-- grain: rule over the events
-- depends_on: flow_end_steps, flow_events, flow_exits, flow_status_classes
-- flow_exit_findings (grain: rule over the events): the quality finding events_after_exit
-- (what it means, and the columns: quality_findings.sql), read off flow_events once the
-- exits are known; the rules that need the events alone are event_findings.sql. Made as
-- soon as the exits are known, so that flow_events (the flow's largest table) can go before
-- the case and result tables are built: that lowers the flow's peak memory.
WITH after_exit AS (
    SELECT e.case_id, e.ts, e.step
    FROM flow_events AS e
    JOIN flow_exits AS c USING (case_id)
    WHERE e.ts > c.exit_ts
      AND e.activity NOT IN (SELECT status FROM flow_status_classes WHERE status_class = 'done')
      -- an automatic close's event comes after the exit by design (quality finding automatic_close)
      AND (e.step IS NULL OR e.step NOT IN (SELECT step FROM flow_end_steps WHERE is_automatic_close))
)
SELECT 'events_after_exit' AS rule,
    CASE WHEN count(step) > 0 THEN 'warning' ELSE 'info' END AS severity,
    count(*) AS count,
    CAST(NULL AS VARCHAR) AS example, arg_min(case_id, (ts, case_id)) AS example_case,
    count(*) || ' events in ' || count(DISTINCT case_id) || ' cases come after the case''s exit and '
        || 'are not in its lead time (' || (count(*) - count(step)) || ' of dropped activities)' AS detail
FROM after_exit
