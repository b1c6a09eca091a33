-- Migration 014: business-hours calendars and service levels (issue 20, docs/metrics.md).
-- Every duration of `visits` and `cases` gets a business twin (*_bh_s): the part of it inside
-- the working intervals of a calendar ([calendar]; a visit uses its team's, [calendars.teams];
-- a case's lead time its stream's). No calendar is 24x7: the twin equals the elapsed value.
-- Plain ADD COLUMNs: a store made before this keeps its rows; the next compute fills them.
ALTER TABLE visits ADD COLUMN queue_time_bh_s DOUBLE;
ALTER TABLE visits ADD COLUMN process_time_bh_s DOUBLE;
ALTER TABLE visits ADD COLUMN elapsed_bh_s DOUBLE;
ALTER TABLE visits ADD COLUMN paused_bh_s DOUBLE;
ALTER TABLE visits ADD COLUMN queue_internal_bh_s DOUBLE;
ALTER TABLE visits ADD COLUMN queue_external_bh_s DOUBLE;
ALTER TABLE cases ADD COLUMN lead_time_bh_s DOUBLE;     -- in the stream's calendar
ALTER TABLE cases ADD COLUMN process_time_bh_s DOUBLE;  -- sum of its visits' (each in its team's calendar)
ALTER TABLE cases ADD COLUMN queue_time_bh_s DOUBLE;    -- sum of its visits'

-- sla (grain: case and [[sla]]): each case under the first service level whose condition
-- holds for it, its clock and its state against the target at the compute's as_of.
CREATE TABLE sla (
    stream      VARCHAR NOT NULL,
    case_id     VARCHAR NOT NULL,
    sla         VARCHAR NOT NULL,     -- the [[sla]] name
    start_ts    TIMESTAMPTZ,          -- the clock started (arrival, or first entry of the start status)
    stop_ts     TIMESTAMPTZ,          -- the clock stopped (exit, or first entry of the stop status); NULL: running
    elapsed_s   DOUBLE,               -- stop (else as_of) - start
    business_s  DOUBLE,               -- the clock: business time from start to stop (else as_of), less paused business time
    paused_s    DOUBLE,               -- elapsed time in the pause statuses between start and stop (else as_of)
    target_s    DOUBLE NOT NULL,      -- the target, in business time (elapsed when no calendar)
    state       VARCHAR NOT NULL,     -- met | breached | at_risk (open, clock past warn_at of the target) | running
    breached_at TIMESTAMPTZ           -- when the clock passed the target (NULL: it has not)
);
