-- cmp_snapshot_map (grain: snapshot): the map a compute of $stream drew for run $run_id, as
-- map_history (migration 012) keeps it, when it keeps the SVG.
--   map_svg
SELECT map_svg
FROM map_history
WHERE stream = $stream AND run_id = $run_id AND map_svg IS NOT NULL
LIMIT 1
