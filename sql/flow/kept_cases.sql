-- name: flow_kept_cases
-- grain: case
-- depends_on: flow_case_names, flow_recompute
SELECT k.case_id, k.case_no
FROM flow_case_names AS k
ANTI JOIN flow_recompute AS r USING (case_no)
