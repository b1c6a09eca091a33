-- Migration 002: the flow engine's result tables (SPEC "Results contract"), all per stream.
-- A recompute of a stream replaces its rows in every table in one transaction.
-- Durations are seconds (DOUBLE, *_s); instants TIMESTAMPTZ (UTC); days are DATEs in the
-- stream's timezone.

-- How each activity/status was classed for this stream (status logs), and by whom.
CREATE TABLE status_classes (
    stream       VARCHAR NOT NULL,
    status       VARCHAR NOT NULL, -- the activity / status as loaded
    status_class VARCHAR NOT NULL, -- work | wait | done
    wait_kind    VARCHAR,          -- wait only: internal (a queue of ours) | external (customer, vendor, user)
    decided_by   VARCHAR NOT NULL, -- settings | default (guessed from the name; check it) | fallback (no rule matched)
    events       BIGINT  NOT NULL
);

-- One row per visit: one pass of a case through a step.
CREATE TABLE visits (
    stream            VARCHAR NOT NULL,
    case_id           VARCHAR NOT NULL,
    step              VARCHAR NOT NULL,
    visit_no          INTEGER NOT NULL, -- 1 = first visit of this case to this step; >1 = rework
    seq               INTEGER NOT NULL, -- position of the visit in its case (1 = first)
    ready_ts          TIMESTAMPTZ,      -- when the case became ready for this step (end of previous visit, or arrival)
    start_ts          TIMESTAMPTZ,      -- work started (NULL in point logs: not observed)
    end_ts            TIMESTAMPTZ,      -- work ended (NULL: still in process)
    queue_time_s      DOUBLE,           -- start_ts - ready_ts
    process_time_s    DOUBLE,           -- end_ts - start_ts (NULL when in process or not observed)
    elapsed_s         DOUBLE,           -- end_ts - ready_ts (the only duration a point log observes)
    queue_internal_s  DOUBLE,           -- status logs: part of queue_time_s in internal wait statuses
    queue_external_s  DOUBLE,           -- status logs: part of queue_time_s waiting on customer / vendor
    resource          VARCHAR,          -- who did it (the resource at the end of the visit)
    team              VARCHAR,
    reassignments     INTEGER NOT NULL, -- changes of resource within the visit
    is_rework         BOOLEAN NOT NULL, -- visit_no > 1
    in_process        BOOLEAN NOT NULL  -- started, not ended
);

-- Status logs: every period a case spent in a status, with its class.
CREATE TABLE status_periods (
    stream       VARCHAR NOT NULL,
    case_id      VARCHAR NOT NULL,
    status       VARCHAR NOT NULL,
    status_class VARCHAR NOT NULL,
    wait_kind    VARCHAR,
    entered_ts   TIMESTAMPTZ NOT NULL,
    left_ts      TIMESTAMPTZ,          -- NULL: the case is still in it
    duration_s   DOUBLE,
    resource     VARCHAR,
    team         VARCHAR
);

-- One row per case.
CREATE TABLE cases (
    stream           VARCHAR NOT NULL,
    case_id          VARCHAR NOT NULL,
    arrival_ts       TIMESTAMPTZ NOT NULL, -- first event (or first configured start activity)
    exit_ts          TIMESTAMPTZ,          -- final end (NULL: open)
    is_open          BOOLEAN NOT NULL,
    lead_time_s      DOUBLE,               -- exit_ts - arrival_ts (NULL when open)
    variant_id       VARCHAR,              -- completed cases: id of its step sequence (see variants)
    visits           INTEGER NOT NULL,
    rework_visits    INTEGER NOT NULL,     -- visits with visit_no > 1
    is_first_pass    BOOLEAN NOT NULL,     -- no step visited twice
    handoffs         INTEGER NOT NULL,     -- consecutive visits by different teams (resources when no team)
    reassignments    INTEGER NOT NULL,     -- resource changes within visits
    process_time_s   DOUBLE,               -- sum of its visits' process times
    queue_time_s     DOUBLE,               -- sum of its visits' queue times
    target_breached  BOOLEAN,              -- lead time (or age, when open) over the target; NULL when no target
    last_step        VARCHAR,
    last_event_ts    TIMESTAMPTZ NOT NULL
);

-- One row per step.
CREATE TABLE step_metrics (
    stream               VARCHAR NOT NULL,
    step                 VARCHAR NOT NULL,
    visits               BIGINT  NOT NULL,
    cases                BIGINT  NOT NULL,
    rework_visits        BIGINT  NOT NULL,
    in_process           BIGINT  NOT NULL,
    queue_time_mean_s    DOUBLE,
    queue_time_p50_s     DOUBLE,
    queue_time_p90_s     DOUBLE,
    queue_internal_mean_s DOUBLE,
    queue_external_mean_s DOUBLE,
    process_time_mean_s  DOUBLE,
    process_time_p50_s   DOUBLE,
    process_time_p90_s   DOUBLE,
    elapsed_mean_s       DOUBLE,
    elapsed_p50_s        DOUBLE,
    first_pass_yield     DOUBLE,  -- cases visiting the step exactly once / cases visiting it
    wip_avg              DOUBLE,  -- time-average of queue + active WIP over the stream's window
    queue_wip_avg        DOUBLE,
    active_wip_avg       DOUBLE,
    resources            BIGINT,
    teams                VARCHAR, -- distinct teams, comma-separated, most visits first
    batch_share          DOUBLE,  -- share of visits released in batches (same resource, ends within 60 s)
    batch_size_mean      DOUBLE   -- mean size of those batches
);

CREATE TABLE transitions (
    stream      VARCHAR NOT NULL,
    from_step   VARCHAR NOT NULL,
    to_step     VARCHAR NOT NULL,
    cases       BIGINT  NOT NULL,
    count       BIGINT  NOT NULL,
    wait_mean_s DOUBLE,  -- mean of (to.start, or to.end in point logs) - from.end
    wait_p50_s  DOUBLE
);

CREATE TABLE variants (
    stream           VARCHAR NOT NULL,
    variant_id       VARCHAR NOT NULL,
    rank             INTEGER NOT NULL, -- 1 = most cases
    steps            VARCHAR NOT NULL, -- step names joined by ' > '
    step_count       INTEGER NOT NULL,
    cases            BIGINT  NOT NULL,
    share            DOUBLE  NOT NULL, -- of completed cases
    lead_time_mean_s DOUBLE,
    lead_time_p50_s  DOUBLE,
    lead_time_share  DOUBLE            -- of the total lead time of completed cases
);

CREATE TABLE wip_daily (
    stream     VARCHAR NOT NULL,
    day        DATE    NOT NULL,
    wip_end    BIGINT  NOT NULL, -- WIP at the midnight ending the day
    wip_avg    DOUBLE  NOT NULL, -- time-average WIP during the day
    arrivals   BIGINT  NOT NULL,
    departures BIGINT  NOT NULL
);

CREATE TABLE step_wip_daily (
    stream          VARCHAR NOT NULL,
    step            VARCHAR NOT NULL,
    day             DATE    NOT NULL,
    queue_wip_end   BIGINT  NOT NULL,
    active_wip_end  BIGINT  NOT NULL
);

CREATE TABLE handoffs (
    stream    VARCHAR NOT NULL,
    from_team VARCHAR NOT NULL,
    to_team   VARCHAR NOT NULL,
    count     BIGINT  NOT NULL,
    cases     BIGINT  NOT NULL
);

CREATE TABLE littles_law (
    stream             VARCHAR NOT NULL,
    window_kind        VARCHAR NOT NULL, -- all | month
    window_start       TIMESTAMPTZ NOT NULL,
    window_end         TIMESTAMPTZ NOT NULL,
    wip_avg            DOUBLE,
    wip_start          BIGINT,
    wip_end            BIGINT,
    arrivals           BIGINT,
    departures         BIGINT,
    throughput_per_day DOUBLE,
    lead_time_mean_s   DOUBLE,  -- of cases that exited in the window
    predicted_wip      DOUBLE,  -- throughput_per_day * lead_time_mean (days)
    ratio              DOUBLE,  -- wip_avg / predicted_wip
    verdict            VARCHAR, -- consistent | WIP growing | WIP shrinking | data gap
    why                VARCHAR
);

CREATE TABLE quality_findings (
    stream   VARCHAR NOT NULL,
    rule     VARCHAR NOT NULL,
    severity VARCHAR NOT NULL, -- error | warning | info
    count    BIGINT  NOT NULL,
    example  VARCHAR,          -- a case id (or source line) to look at
    detail   VARCHAR
);

-- Where the work is right now: one row per open case.
CREATE TABLE aging_wip (
    stream           VARCHAR NOT NULL,
    case_id          VARCHAR NOT NULL,
    current_step     VARCHAR,
    current_state    VARCHAR NOT NULL, -- in process | queued | waiting
    arrival_ts       TIMESTAMPTZ NOT NULL,
    age_s            DOUBLE  NOT NULL, -- as_of - arrival
    time_in_step_s   DOUBLE,           -- as_of - when it entered its current step / queue
    age_percentile   DOUBLE            -- share of completed cases whose lead time is below this age
);

-- One row per stream: the headline figures and what the run inferred.
CREATE TABLE stream_summary (
    stream              VARCHAR NOT NULL,
    log_shape           VARCHAR NOT NULL, -- interval | status | point
    as_of               TIMESTAMPTZ NOT NULL, -- the instant open cases are measured at (last event)
    window_start        TIMESTAMPTZ,
    window_end          TIMESTAMPTZ,
    cases               BIGINT,
    open_cases          BIGINT,
    completed_cases     BIGINT,
    lead_time_mean_s    DOUBLE,
    lead_time_p50_s     DOUBLE,
    lead_time_p85_s     DOUBLE,
    lead_time_p95_s     DOUBLE,
    process_time_total_s DOUBLE,
    flow_efficiency     DOUBLE,  -- total process time / total lead time (completed cases)
    first_pass_yield    DOUBLE,  -- share of completed cases that are first pass
    rolled_fpy          DOUBLE,  -- product of step FPYs
    wip_avg             DOUBLE,
    throughput_per_day  DOUBLE,
    handoffs_per_case   DOUBLE,
    start_activities    VARCHAR, -- as configured, or inferred (see ends_inferred)
    end_activities      VARCHAR,
    ends_inferred       BOOLEAN,
    lead_time_target_s  DOUBLE,
    target_breached     BIGINT
);
