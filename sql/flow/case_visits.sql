-- name: flow_case_visits
-- grain: visit
-- depends_on: flow_exits, flow_visits
-- materialise: view
-- The visits that are the case's (cases_elapsed.sql): a completed case's are those that ended
-- by its exit (exits__end_steps.sql: work ending after the last end step is not the case's);
-- an open case's are all its visits.
SELECT v.* FROM flow_visits AS v LEFT JOIN flow_exits AS x USING (case_id)
WHERE x.exit_ts IS NULL OR v.end_ts <= x.exit_ts
