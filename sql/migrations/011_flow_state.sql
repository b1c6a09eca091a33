-- Migration 011: what an incremental compute keeps of the last compute of a stream (issue
-- 18, pipeline/incremental.py). Written by compute_flow in the same transaction as the
-- stream's results (flow.publish), so state and results always belong to one compute. Hidden
-- from analysts: no result table reads these; `vsm compute --full` rebuilds them.
-- flow_stream_state (grain: stream): the global decisions of that compute (settings hash,
-- the flow's SQL, activity set, step map, status classes, log shape, step_by, the steps with
-- lifecycle starts) as JSON; a compute whose decisions differ recomputes in full.
CREATE TABLE flow_stream_state (
    stream VARCHAR NOT NULL PRIMARY KEY,
    decisions VARCHAR NOT NULL,
    as_of TIMESTAMPTZ,
    run_id BIGINT NOT NULL,
    result VARCHAR  -- the compute's outcome (JSON), shown again by a compute that finds it current
);
-- flow_case_state (grain: case): the fingerprint of the case's events at that compute
-- (count, and the sum of a hash of each event's row): a case whose fingerprint differs, or
-- that is new or gone, is recomputed.
CREATE TABLE flow_case_state (
    stream VARCHAR NOT NULL,
    case_id VARCHAR NOT NULL,
    events BIGINT NOT NULL,
    fingerprint HUGEINT NOT NULL
);
-- flow_period_state, flow_lifecycle_state: the flow's status periods (flow_status_periods)
-- and lone lifecycle events (flow_lifecycle) of every case (its visits are the published
-- `visits`, which the same transaction writes), with the case, resource and team as text (the flow
-- numbers them anew each compute: int_flow_events.sql) and steps as text.
CREATE TABLE flow_period_state (  -- status logs fill every column, other logs have no periods
    stream VARCHAR NOT NULL,
    case_id VARCHAR NOT NULL,
    period_no BIGINT,
    status VARCHAR,
    step VARCHAR,
    status_class VARCHAR,
    wait_kind VARCHAR,
    is_exit BOOLEAN,
    entered_ts TIMESTAMPTZ,
    resource VARCHAR,
    team VARCHAR,
    reassignments BIGINT,
    source_line UBIGINT,
    left_ts TIMESTAMPTZ,
    work_no BIGINT,
    duration_s DOUBLE
);
CREATE TABLE flow_lifecycle_state (
    stream VARCHAR NOT NULL,
    case_id VARCHAR NOT NULL,
    step VARCHAR,
    ts TIMESTAMPTZ,
    lifecycle VARCHAR,
    resource VARCHAR,
    team VARCHAR,
    source_line UBIGINT,
    ord HUGEINT,
    is_lone BOOLEAN
);
