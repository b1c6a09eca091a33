-- Every case's path (grain: distinct path, open cases included): its steps in the order
-- their visits end, joined by ' > ', and how many cases follow it. The input of the
-- start / end step inference (pipeline/variant_steps.py: start_end_steps), which must see
-- open cases too: judging ends from completed cases only would be circular.
SELECT steps, count(*) AS cases
FROM (
    SELECT case_id, string_agg(step, ' > ' ORDER BY end_ts NULLS LAST, seq) AS steps
    FROM flow_visits
    GROUP BY case_id
)
GROUP BY steps
