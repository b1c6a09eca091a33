-- Migration 015: `vsm simulate` (issue 21, pipeline/simulate.py). One row per figure (and
-- step) of one scenario of a stream, over the replications of its simulation; `vsm simulate`
-- replaces the rows of the scenario it runs and leaves the others. The scenario `current`
-- is the current-state model itself (the validation run).
CREATE TABLE simulations (
    stream         VARCHAR NOT NULL,
    scenario       VARCHAR NOT NULL,            -- scenarios/<stream>/<name>.toml, or current
    figure         VARCHAR NOT NULL,            -- lead_time_p50_s, lead_time_p85_s, lead_time_mean_s,
                                                -- throughput_per_day, wip_avg; queue_time_mean_s per step
    step           VARCHAR NOT NULL DEFAULT '', -- '' for a stream figure
    observed       DOUBLE,                      -- the figure as computed from the log (stream_summary, step_metrics)
    p10            DOUBLE,                      -- 10th, 50th, 90th percentile of the figure over the replications
    p50            DOUBLE,
    p90            DOUBLE,
    current_p50    DOUBLE,                      -- the simulated current state's p50 of the figure (same seeds): the model's baseline
    change         DOUBLE,                      -- p50 / current_p50 - 1: the scenario's predicted effect, free of the model's bias
    predicted      BOOLEAN NOT NULL,            -- the current state passed validation: the figures are predictions
    validation_emd DOUBLE,                      -- earth mover's distance of lead times / observed median (docs/simulation.md)
    replications   INTEGER NOT NULL,
    horizon_days   DOUBLE  NOT NULL,
    seed           BIGINT  NOT NULL,            -- replication i ran with seed + i
    computed_at    TIMESTAMPTZ NOT NULL
);
