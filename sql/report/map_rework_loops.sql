-- Rework loops drawn on the map (grain: backward transition): the $top loops with the most cases.
--   from_step, to_step, cases, visits, case_share: as in rework_loops
SELECT from_step, to_step, cases, visits, case_share
FROM rework_loops
WHERE stream = $stream
ORDER BY cases DESC, visits DESC, from_step, to_step
LIMIT $top
