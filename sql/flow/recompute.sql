-- name: flow_recompute
-- grain: case to recompute
-- depends_on: flow_case_fingerprints, flow_case_names, flow_case_state
-- params: full, stream
-- flow_recompute (grain: case to recompute, by its number in flow_case_names): with
-- $full, every case; else the cases whose fingerprint differs from the stored one, or
-- that are new. flow_kept_cases: the others, by text, whose stored visits are read back.
SELECT k.case_no
FROM flow_case_fingerprints AS f
JOIN flow_case_names AS k USING (case_id)
LEFT JOIN flow_case_state AS s ON s.stream = $stream AND s.case_id = f.case_id
WHERE $full OR s.case_id IS NULL OR s.events <> f.events OR s.fingerprint <> f.fingerprint
