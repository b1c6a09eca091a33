-- name: flow_end_steps
-- grain: step
-- depends_on: flow_events
-- params: automatic_closes, end_steps, terminal_steps
-- flow_end_steps (grain: step): the steps that end cases in interval and point logs:
-- $end_steps, the configured end activities (activity or step names) or, when none are
-- configured, the end steps discovery inferred (pipeline/variant_steps.py: start_end_rule).
-- is_terminal: $terminal_steps, the end steps where what follows is trailing work, not a
-- continuation: every configured end activity, and the inferred end steps where most cases
-- that reach them stop (exits__end_steps.sql reads it).
-- is_automatic_close: $automatic_closes, the inferred terminal end steps that a system reaches
-- by itself a fixed time after the case was ready for them (automatic_closes.sql,
-- pipeline/variant_steps.py: automatic_close_rule): a case ends when it became ready for one.
SELECT step,
    bool_or(list_contains($terminal_steps, step) OR list_contains($terminal_steps, activity)) AS is_terminal,
    bool_or(list_contains($automatic_closes, step)) AS is_automatic_close
FROM flow_events
WHERE step IS NOT NULL
  AND (list_contains($end_steps, step) OR list_contains($end_steps, activity))
GROUP BY step
