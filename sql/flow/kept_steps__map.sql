-- name: flow_kept_steps
-- grain: step
-- depends_on: flow_step_map
-- when: incremental and log_shape != status and step_by != team
-- flow_kept_steps: the steps the visits read back from the store take (visits__incremental.sql),
-- in the type the built visits hold theirs: here the ENUM of the step map's steps (an
-- interval or point log mapped by activity). The store holds the text.
SELECT DISTINCT step FROM flow_step_map WHERE step IS NOT NULL
