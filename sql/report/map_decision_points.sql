-- Decision points on the map (grain: branch after a step): every branch of decision_points,
-- in the map's order of the branching step, busiest branch first.
--   step, to_step, share, count: as in decision_points
SELECT d.step, d.to_step, d.share, d.count
FROM decision_points AS d
LEFT JOIN map_steps AS m ON m.stream = d.stream AND m.step = d.step
WHERE d.stream = $stream
ORDER BY m.position NULLS LAST, d.step, d.share DESC, d.to_step
