-- Migration 003: the structure a value stream map is drawn from (pm4py discovery on the
-- variants of completed cases, see docs/discovery.md). Replaced per stream with the flow.

-- One row per step drawn on the map (rare steps may be folded into "other").
CREATE TABLE map_steps (
    stream        VARCHAR NOT NULL,
    step          VARCHAR NOT NULL,
    position      INTEGER NOT NULL, -- left-to-right place on the map (main path first, side steps after their anchor)
    on_main_path  BOOLEAN NOT NULL,
    case_share    DOUBLE  NOT NULL, -- completed cases visiting the step / completed cases
    cases         BIGINT  NOT NULL,
    visits        BIGINT  NOT NULL,
    anchor_step   VARCHAR           -- side steps: the main-path step they are drawn after
);

-- Backward transitions: to a step the case reached no later than the one it leaves, or the same step.
CREATE TABLE rework_loops (
    stream            VARCHAR NOT NULL,
    from_step         VARCHAR NOT NULL,
    to_step           VARCHAR NOT NULL,
    cases             BIGINT  NOT NULL, -- completed cases with the loop
    visits            BIGINT  NOT NULL, -- times it happens
    case_share        DOUBLE  NOT NULL,
    lead_time_mean_s  DOUBLE,           -- mean lead time of the cases with the loop
    added_lead_time_s DOUBLE            -- that minus the mean lead time of first-pass cases
);

-- Steps after which work branches: one row per branch (forward transitions only).
CREATE TABLE decision_points (
    stream  VARCHAR NOT NULL,
    step    VARCHAR NOT NULL,
    to_step VARCHAR NOT NULL,
    share   DOUBLE  NOT NULL, -- of the forward transitions leaving the step
    count   BIGINT  NOT NULL
);
