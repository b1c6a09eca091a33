-- name: flow_lifecycle
-- grain: lone lifecycle event
-- depends_on: flow_lifecycle_built
-- when: full
-- materialise: view
-- flow_lifecycle: the lone lifecycle events (quality findings) a full compute found
-- (lifecycle_built__*.sql).
SELECT * FROM flow_lifecycle_built
