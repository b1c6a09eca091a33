-- flow_handoffs (grain: pair of teams): work passed between teams (resources where a
-- visit has no team) from one visit of a case to the next (flow_visits.prev_owner).
CREATE OR REPLACE TEMP TABLE flow_handoffs AS
WITH pairs AS (
    SELECT case_id, prev_owner AS from_team, coalesce(team, resource) AS to_team
    FROM flow_visits
)
SELECT from_team, to_team, count(*) AS count, count(DISTINCT case_id) AS cases
FROM pairs
WHERE from_team <> to_team
GROUP BY from_team, to_team;
