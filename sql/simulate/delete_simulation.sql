-- The rows of one scenario of a stream in `simulations`, replaced by each `vsm simulate` of it.
DELETE FROM simulations WHERE stream = $stream AND scenario = $scenario
