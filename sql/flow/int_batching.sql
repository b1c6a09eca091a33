-- PLACEHOLDER (being written): flow_batching.
CREATE OR REPLACE TEMP TABLE flow_batching AS
SELECT step, CAST(NULL AS DOUBLE) AS batch_share, CAST(NULL AS DOUBLE) AS batch_size_mean FROM flow_visits WHERE FALSE;
