-- Migration 013: `vsm compare` (issue 19, pipeline/compare.py). One row per figure (and step)
-- of one comparison: two windows of a stream, two streams over one window, or two snapshots
-- of a stream. `vsm compare` replaces the rows of the comparison it makes (same stream,
-- kind, other_stream, windows and snapshot runs) and leaves the others.
CREATE TABLE comparisons (
    stream        VARCHAR NOT NULL,            -- the stream compared (two streams: the before side)
    kind          VARCHAR NOT NULL,            -- windows, streams or snapshots
    other_stream  VARCHAR NOT NULL DEFAULT '', -- two streams: the after side; '' otherwise
    before_window VARCHAR NOT NULL,            -- the window's label (2026-03-01..2026-03-14, all)
    after_window  VARCHAR NOT NULL,
    before_run_id BIGINT,                      -- snapshots: the compute runs compared; NULL otherwise
    after_run_id  BIGINT,
    figure        VARCHAR NOT NULL,            -- stream_summary / step_metrics name, e.g. lead_time_p50_s
    step          VARCHAR NOT NULL DEFAULT '', -- '' for a stream figure
    before        DOUBLE,
    after         DOUBLE,
    change        DOUBLE,                      -- (after - before) / before: -0.34 = -34%; NULL when before is 0
    change_low    DOUBLE,                      -- the 95% interval of change; NULL when unbounded or untested
    change_high   DOUBLE,
    significant   BOOLEAN,                     -- beyond noise (docs/metrics.md); NULL: not tested
    test          VARCHAR NOT NULL,            -- how: bootstrap+mann_whitney, poisson_rate_ratio, ..., none
    p_value       DOUBLE,                      -- of the test named second in `test` (or its only one)
    before_n      BIGINT,                      -- cases (visits, for a step's times) the figure is over
    after_n       BIGINT,
    note          VARCHAR NOT NULL DEFAULT '', -- why not significant or not tested; appeared / disappeared steps
    before_days   DOUBLE,                      -- days measured: the window within the stream's observed span
    after_days    DOUBLE,
    compared_at   TIMESTAMPTZ NOT NULL
);
