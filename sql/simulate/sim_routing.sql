-- sim_routing (grain: stream x from_step x from_visit x to_step): how often completed cases
-- went from one step to the next, with '__start__' before a case's first visit and '__end__'
-- after its last: the routing of vsm simulate's current-state model (rework loops included,
-- as transitions back to an earlier step), by the case's visit number of the step it leaves
-- (1 = its first visit there; $visits_cap and above counted as $visits_cap): where a case
-- goes after its third pass through a loop need not be where it goes after its first. Open
-- cases are left out: their next step is unknown. The cases that completed in the stream's
-- measurement window. $stream, $visits_cap.
WITH bounds AS (  -- the stream's measurement window (stream_summary: the whole history, or [flow] window)
    SELECT window_start AS ws, window_end AS we FROM stream_summary WHERE stream = $stream
),
done AS (
    SELECT
        v.case_id,
        v.step,
        v.seq,
        row_number() OVER (PARTITION BY v.case_id, v.step ORDER BY v.seq) AS visit
    FROM visits v JOIN cases c ON c.stream = v.stream AND c.case_id = v.case_id, bounds
    WHERE v.stream = $stream AND NOT c.is_open AND c.exit_ts BETWEEN ws AND we
),
moves AS (
    SELECT
        coalesce(lag(step) OVER w, '__start__') AS from_step,
        coalesce(lag(visit) OVER w, 1) AS from_visit,
        step AS to_step
    FROM done WINDOW w AS (PARTITION BY case_id ORDER BY seq)
    UNION ALL
    SELECT arg_max(step, seq), arg_max(visit, seq), '__end__' FROM done GROUP BY case_id
)
SELECT
    from_step,                                     -- a step, or '__start__' (arrival)
    least(from_visit, $visits_cap) AS from_visit,  -- the case's visit number of from_step (capped)
    to_step,                                       -- a step, or '__end__' (exit)
    count(*) AS moves                              -- transitions observed
FROM moves GROUP BY ALL ORDER BY from_step, from_visit, to_step
