-- Handoff matrix: handoffs between the $top teams that hand off or receive the most work.
--   from_team, to_team, count, cases: as in handoffs
--   team_rank_from, team_rank_to: rank of each team by handoffs in + out (1 = most)
--   all_handoffs: handoffs between all teams, for the share the matrix shows
--   all_teams:    teams that hand off or receive work
WITH volume AS (
    SELECT team, sum(n) AS handoffs
    FROM (
        SELECT from_team AS team, count AS n FROM handoffs WHERE stream = $stream
        UNION ALL
        SELECT to_team AS team, count AS n FROM handoffs WHERE stream = $stream
    )
    GROUP BY team
),
ranked AS (
    SELECT team, row_number() OVER (ORDER BY handoffs DESC, team) AS team_rank FROM volume
)
SELECT
    h.from_team,
    h.to_team,
    h.count,
    h.cases,
    f.team_rank AS team_rank_from,
    t.team_rank AS team_rank_to,
    (SELECT CAST(sum(count) AS BIGINT) FROM handoffs WHERE stream = $stream) AS all_handoffs,
    (SELECT count(*) FROM volume) AS all_teams
FROM handoffs AS h
JOIN ranked AS f ON f.team = h.from_team
JOIN ranked AS t ON t.team = h.to_team
WHERE h.stream = $stream AND f.team_rank <= $top AND t.team_rank <= $top
ORDER BY f.team_rank, t.team_rank
