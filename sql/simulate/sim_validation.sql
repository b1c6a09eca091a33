-- sim_validation (one row or none): the validation of the stream's simulated current state,
-- recorded with the digest of what was simulated (pipeline/simulate.py stored_current). $stream.
SELECT * EXCLUDE (stream) FROM simulation_validations WHERE stream = $stream
