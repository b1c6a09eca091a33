-- name: flow_visits
-- grain: visit
-- depends_on: flow_visits_built
-- published_as: visits
-- when: full
-- materialise: view
-- flow_visits (grain: visit): a full compute's are the visits it built (visits_built.sql).
SELECT * FROM flow_visits_built
