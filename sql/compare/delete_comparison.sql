-- Remove the rows of one comparison (the one `vsm compare` is about to write again).
DELETE FROM comparisons
WHERE stream = $stream
    AND kind = $kind
    AND other_stream = $other_stream
    AND before_window = $before_window
    AND after_window = $after_window
    AND before_run_id IS NOT DISTINCT FROM $before_run_id
    AND after_run_id IS NOT DISTINCT FROM $after_run_id
