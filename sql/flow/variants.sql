-- name: flow_variants
-- grain: variant = step sequence of completed cases
-- depends_on: flow_cases
-- published_as: variants
-- params: as_of, window_end, window_start
-- flow_variants (grain: variant = step sequence of completed cases): cases, share of
-- completed cases, lead time, and share of the total lead time, so that a rare variant
-- that eats a large part of the lead time shows. Measurement window: the cases that
-- completed inside it (window.sql).
WITH completed AS (
    SELECT * FROM flow_cases WHERE NOT is_open AND in_window(exit_ts)
),
totals AS (
    SELECT count(*) AS cases, sum(lead_time_s) AS lead_time_s FROM completed
)
SELECT
    c.variant_id,
    CAST(row_number() OVER (ORDER BY count(*) DESC, c.variant_id) AS INTEGER) AS rank,
    any_value(c.steps) AS steps,
    any_value(c.visits) AS step_count,
    count(*) AS cases,
    count(*) / any_value(t.cases) AS share,
    avg(c.lead_time_s) AS lead_time_mean_s,
    quantile_cont(c.lead_time_s, 0.5) AS lead_time_p50_s,
    sum(c.lead_time_s) / nullif(any_value(t.lead_time_s), 0) AS lead_time_share
FROM completed AS c, totals AS t
GROUP BY c.variant_id
