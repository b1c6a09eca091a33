-- PLACEHOLDER (being written): flow_quality_findings.
CREATE OR REPLACE TEMP TABLE flow_quality_findings AS
SELECT CAST(NULL AS VARCHAR) AS rule, CAST(NULL AS VARCHAR) AS severity, CAST(0 AS BIGINT) AS count,
       CAST(NULL AS VARCHAR) AS example, CAST(NULL AS VARCHAR) AS detail WHERE FALSE;
