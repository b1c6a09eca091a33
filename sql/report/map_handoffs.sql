-- Handoff marks on the map (grain: pair of consecutive main-path steps whose top teams differ):
-- the top team of a step is the first of step_metrics.teams (most visits first).
--   from_step, to_step: consecutive main-path steps (map_steps order)
--   from_team, to_team: their top teams
--   count, cases: handoffs from from_team to to_team over the whole stream (handoffs table;
--                 0 when none was recorded)
WITH main AS (
    SELECT m.position, m.step, nullif(split_part(s.teams, ', ', 1), '') AS team
    FROM map_steps AS m
    LEFT JOIN step_metrics AS s ON s.stream = m.stream AND s.step = m.step
    WHERE m.stream = $stream AND m.on_main_path
),
pairs AS (
    SELECT
        step AS from_step,
        lead(step) OVER (ORDER BY position) AS to_step,
        team AS from_team,
        lead(team) OVER (ORDER BY position) AS to_team,
        position
    FROM main
)
SELECT
    p.from_step,
    p.to_step,
    p.from_team,
    p.to_team,
    coalesce(h.count, 0) AS count,
    coalesce(h.cases, 0) AS cases
FROM pairs AS p
LEFT JOIN handoffs AS h ON h.stream = $stream AND h.from_team = p.from_team AND h.to_team = p.to_team
WHERE p.to_step IS NOT NULL AND p.from_team IS NOT NULL AND p.to_team IS NOT NULL
  AND p.from_team <> p.to_team
ORDER BY p.position
