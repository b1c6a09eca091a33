-- name: flow_lifecycle_all
-- grain: start or complete event
-- depends_on: flow_unbalanced, flow_visit_events
-- params: started_steps
-- when: log_shape = interval
-- The general rule, over the events of those (case, step)s only.
WITH lifecycle_events AS (  -- the starts and completes of the steps with lifecycle starts
    SELECT case_id, step, ts, lifecycle, resource, team, source_line, ord
    FROM flow_visit_events
    WHERE start_ts IS NULL AND list_contains(CAST($started_steps AS VARCHAR[]), step)
      AND lifecycle IN ('start', 'complete')
),
counted AS (
    SELECT e.*,
        CAST(sum(CASE WHEN lifecycle = 'start' THEN 1 ELSE -1 END) OVER w AS BIGINT) AS x,
        CAST(sum(CASE WHEN lifecycle = 'start' THEN 1 ELSE 0 END) OVER w AS BIGINT) AS starts_so_far,
        CAST(sum(CASE WHEN lifecycle = 'complete' THEN 1 ELSE 0 END) OVER w AS BIGINT) AS completes_so_far
    FROM lifecycle_events AS e
    SEMI JOIN flow_unbalanced USING (case_id, step)
    WINDOW w AS (PARTITION BY case_id, step ORDER BY ord ROWS UNBOUNDED PRECEDING)
),
with_lone AS (
    SELECT *,
        -least(0, min(x) OVER (PARTITION BY case_id, step ORDER BY ord ROWS UNBOUNDED PRECEDING)) AS lone_so_far
    FROM counted
)
SELECT *,
    lifecycle = 'complete'
        AND lone_so_far > coalesce(lag(lone_so_far) OVER (PARTITION BY case_id, step ORDER BY ord), 0)
        AS is_lone,
    CASE WHEN lifecycle = 'start' THEN starts_so_far ELSE completes_so_far - lone_so_far END AS k
FROM with_lone
