-- Store what the next incremental compute needs (pipeline/incremental.py), inside the
-- transaction that publishes the results (flow.publish): the rows of every case not kept
-- (recomputed or gone) are replaced by those of the recomputed cases, texts for numbers.
DELETE FROM flow_case_state AS s
WHERE s.stream = $stream AND s.case_id NOT IN (SELECT case_id FROM flow_kept_cases);

INSERT INTO flow_case_state
SELECT $stream, f.case_id, f.events, f.fingerprint
FROM flow_case_fingerprints AS f
ANTI JOIN flow_kept_cases AS k USING (case_id);

DELETE FROM flow_period_state AS s
WHERE s.stream = $stream AND s.case_id NOT IN (SELECT case_id FROM flow_kept_cases);

INSERT INTO flow_period_state BY NAME  -- the columns the log's kind has (status logs: all)
SELECT $stream AS stream, k.case_id, v.* EXCLUDE (case_id, resource, team), r.name AS resource, t.name AS team
FROM flow_status_periods AS v
JOIN flow_recompute AS c ON c.case_no = v.case_id
JOIN flow_case_names AS k ON k.case_no = v.case_id
LEFT JOIN flow_owner_names AS r ON r.owner_no = v.resource
LEFT JOIN flow_owner_names AS t ON t.owner_no = v.team;

DELETE FROM flow_lifecycle_state AS s
WHERE s.stream = $stream AND s.case_id NOT IN (SELECT case_id FROM flow_kept_cases);

INSERT INTO flow_lifecycle_state BY NAME
SELECT $stream AS stream, k.case_id, CAST(v.step AS VARCHAR) AS step, v.ts, v.lifecycle,
    r.name AS resource, t.name AS team, v.source_line, v.ord, v.is_lone
FROM flow_lifecycle AS v
JOIN flow_recompute AS c ON c.case_no = v.case_id
JOIN flow_case_names AS k ON k.case_no = v.case_id
LEFT JOIN flow_owner_names AS r ON r.owner_no = v.resource
LEFT JOIN flow_owner_names AS t ON t.owner_no = v.team;

DELETE FROM flow_stream_state WHERE stream = $stream;

INSERT INTO flow_stream_state VALUES ($stream, $decisions, $as_of, $run_id, $result);
