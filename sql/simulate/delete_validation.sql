-- The validation of a stream's current state, replaced by each `vsm simulate` that simulates it.
DELETE FROM simulation_validations WHERE stream = $stream
