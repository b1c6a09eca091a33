-- Migration 017: the validation of a stream's simulated current state (issue 21,
-- pipeline/simulate.py), one row per stream, replaced by each `vsm simulate` that simulates the
-- current state. A later scenario run whose model_digest is the same (the same model learned
-- from the store, horizon, replications, seed and simulator code) and whose `current` rows in
-- `simulations` are still those of computed_at takes its validation and baseline from here
-- instead of simulating the current state again.
CREATE TABLE simulation_validations (
    stream          VARCHAR NOT NULL PRIMARY KEY,
    model_digest    VARCHAR NOT NULL,   -- what the current state's figures follow from (current_digest)
    emd_relative    DOUBLE,             -- earth mover's distance of lead times / observed median
    observed_p50_s  DOUBLE,             -- lead time of the completed cases, observed
    observed_p85_s  DOUBLE,
    simulated_p50_s DOUBLE,             -- lead time of the simulated current state (replications pooled)
    simulated_p85_s DOUBLE,
    passed          BOOLEAN NOT NULL,   -- emd_relative <= 0.25: scenarios are predictions
    wrong_step      VARCHAR NOT NULL,   -- the step the model gets most wrong ('' when passed)
    wrong_why       VARCHAR NOT NULL,   -- a sentence saying how ('' when passed)
    replications    INTEGER NOT NULL,
    horizon_days    DOUBLE  NOT NULL,
    seed            BIGINT  NOT NULL,
    computed_at     TIMESTAMPTZ NOT NULL -- the run that simulated it (= its `current` rows' computed_at)
);
