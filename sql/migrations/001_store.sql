-- Migration 001: the store's base tables (events, rejects, runs).
-- Applied once per database, recorded in schema_migrations. Never edit a migration that
-- has shipped: add a new numbered file instead.

-- events: one row per loaded (clean) event. Canonical columns per SPEC plus everything
-- else the source carried, kept in `attributes` (JSON object, source names as keys).
CREATE TABLE events (
    stream       VARCHAR     NOT NULL, -- value stream name
    event_id     VARCHAR     NOT NULL, -- stable id: md5 of the event's content + its ordinal among identical events
    case_id      VARCHAR     NOT NULL, -- case (claim, ticket) identifier
    activity     VARCHAR     NOT NULL, -- activity or status, as in the source (step mapping comes later)
    ts           TIMESTAMPTZ NOT NULL, -- when it happened, UTC
    lifecycle    VARCHAR,              -- start / complete / ... when the source has a lifecycle
    resource     VARCHAR,              -- person
    team         VARCHAR,              -- group / team
    start_ts     TIMESTAMPTZ,          -- start time when the source gives one per row (start-time column)
    attributes   JSON,                 -- every other source attribute, JSON object
    source       VARCHAR     NOT NULL, -- file (or connector) it came from
    source_line  UBIGINT,              -- line / record number in that source
    run_id       BIGINT      NOT NULL  -- the load that added it
);

-- rejects: rows that could not be loaded, kept with the reason. Never silently dropped.
CREATE TABLE rejects (
    stream       VARCHAR     NOT NULL,
    reject_id    VARCHAR     NOT NULL, -- stable id (md5 of the raw row + reason + ordinal): reloading adds nothing
    run_id       BIGINT      NOT NULL,
    source       VARCHAR     NOT NULL,
    line         UBIGINT,              -- line / record number in the source
    column_name  VARCHAR,              -- the source column at fault
    value        VARCHAR,              -- the offending value, as text
    reason       VARCHAR     NOT NULL, -- what was wrong and what was expected
    raw          JSON                  -- the whole raw row
);

CREATE SEQUENCE run_id_seq START 1;

-- runs: one row per load (and, later, per recompute). A load that fails leaves no trace here:
-- the store is exactly as before, and the CLI exits non-zero with the reason.
CREATE TABLE runs (
    run_id           BIGINT PRIMARY KEY,
    stream           VARCHAR     NOT NULL,
    kind             VARCHAR     NOT NULL, -- 'ingest'
    source           VARCHAR,
    started_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ,
    status           VARCHAR     NOT NULL, -- 'ok' | 'ok_with_rejects'
    events_read      BIGINT,               -- rows read from the source
    events_loaded    BIGINT,               -- new events added to `events`
    events_rejected  BIGINT,               -- rows put in `rejects` by this run (new ones)
    events_known     BIGINT,               -- rows already in the store from an earlier load (idempotence)
    message          VARCHAR               -- column mapping, assumptions, notes
);
