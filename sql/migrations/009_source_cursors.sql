-- Migration 009: where each system stream's pull stands (issue 16). One row per stream whose
-- source is a system (Jira, ServiceNow, Zendesk, ...): the next pull fetches what changed
-- since `cursor` (minus the connector's overlap). Written in the same transaction as the
-- events it covers (pipeline/ingest.py), so it never runs ahead of the stored events.
--   stream      the value stream
--   kind        the system ([source] kind)
--   scope       what the cursor is a position in: kind, URL, query and table; a stream whose
--               settings point elsewhere starts again from [source] since
--   cursor      the system's position, as the connector writes it (Jira: an ISO instant)
--   run_id      the load that stored it (runs.run_id)
--   updated_at  when it was stored
CREATE TABLE source_cursors (
    stream VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    scope VARCHAR NOT NULL,
    cursor VARCHAR NOT NULL,
    run_id BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
