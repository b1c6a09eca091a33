-- name: flow_case_sla
-- grain: case
-- depends_on: flow_case_names, flow_case_sla_picks
-- when: sla
-- flow_case_sla (grain: case): the [[sla]] that picked the case (sla_no: the first whose
-- condition holds, pipeline/slas.py stage_slas, which evaluates the conditions on the store
-- and registers the picks by case text), by the flow's case number; cases no SLA picks have
-- no row.
SELECT k.case_no AS case_id, p.sla_no
FROM flow_case_sla_picks AS p
JOIN flow_case_names AS k ON k.case_id = p.case_id
