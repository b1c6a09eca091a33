-- sim_current_rows (grain: figure and step): the rows of the scenario `current` of a stream in
-- `simulations`, that a later scenario takes its baseline from when the current state it
-- would simulate is the same (pipeline/simulate.py stored_current). $stream.
SELECT
    figure,
    step,
    p50,          -- the simulated current state's figure: a scenario's baseline
    computed_at   -- the run that wrote them (checked against simulation_validations)
FROM simulations
WHERE stream = $stream AND scenario = 'current'
