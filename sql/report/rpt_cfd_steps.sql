-- Cumulative flow by step: per band and day, the cases in the band's steps (queue + active
-- WIP) when the day closes (step_wip_daily). A band is one of the $top steps with the most
-- average WIP that hold at least 1% of it; the other steps share one band (band NULL).
--   band:  step name, or NULL for the other steps together
--   day:   calendar day in the stream's timezone
--   cases: cases in the band at the day's close
WITH ranked AS (
    SELECT
        step,
        row_number() OVER (ORDER BY wip_avg DESC NULLS LAST, step) AS wip_rank,
        coalesce(wip_avg, 0) >= 0.01 * sum(coalesce(wip_avg, 0)) OVER () AS sizeable
    FROM step_metrics
    WHERE stream = $stream
)
SELECT
    CASE WHEN r.wip_rank <= $top AND r.sizeable THEN d.step END AS band,
    d.day,
    CAST(sum(d.queue_wip_end + d.active_wip_end) AS BIGINT) AS cases
FROM step_wip_daily AS d
JOIN ranked AS r USING (step)
WHERE d.stream = $stream
GROUP BY ALL
ORDER BY band, d.day
