-- name: flow_visit_digests
-- grain: visit
-- depends_on: flow_case_visits
-- when: engine = duckdb
-- materialise: view
-- The DuckDB engine's variant of visit_digests.sql: two 64-bit hash()es of (seq, step)
-- (128 bits in all) instead of the portable md5, which costs more there (measured in
-- /work/notes/s6/h22r-report.md); the same fingerprints' grouping, other numbers.
SELECT *,
    CAST(hash(seq, step) AS HUGEINT) AS digest_low,
    CAST(hash(step, seq) AS HUGEINT) AS digest_high
FROM flow_case_visits
