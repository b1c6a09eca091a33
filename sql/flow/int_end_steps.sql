-- flow_end_steps (grain: step): the steps that end cases in interval and point logs:
-- $end_steps, the configured end activities (activity or step names) or, when none are
-- configured, the end steps discovery inferred (pipeline/variant_steps.py: start_end_steps).
CREATE OR REPLACE TEMP TABLE flow_end_steps AS
SELECT DISTINCT step
FROM flow_events
WHERE step IS NOT NULL
  AND (list_contains($end_steps, step) OR list_contains($end_steps, activity));
