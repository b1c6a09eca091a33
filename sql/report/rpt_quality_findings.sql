-- Data-quality findings table: errors first, then warnings, then notes; most rows first.
--   rule, severity, count, example, detail: as in quality_findings
SELECT rule, severity, count, example, detail
FROM quality_findings
WHERE stream = $stream
ORDER BY CASE severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, count DESC, rule
