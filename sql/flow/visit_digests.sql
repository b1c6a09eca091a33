-- name: flow_visit_digests
-- grain: visit
-- depends_on: flow_case_visits
-- when: engine != duckdb
-- materialise: view
-- flow_case_visits with two digests of the visit's (seq, step), which cases_elapsed.sql sums
-- into a fingerprint of the case's path: the first and the next 15 hex digits of an md5 (120
-- bits, the same numbers on every engine), as DECIMAL(38, 0) so that the sums do not overflow.
SELECT *,
    CAST(CAST('0x' || substr(digest, 1, 15) AS BIGINT) AS DECIMAL(38, 0)) AS digest_low,
    CAST(CAST('0x' || substr(digest, 16, 15) AS BIGINT) AS DECIMAL(38, 0)) AS digest_high
FROM (SELECT *, md5(CAST(seq AS VARCHAR) || '|' || CAST(step AS VARCHAR)) AS digest FROM flow_case_visits)
