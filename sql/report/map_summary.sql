-- The map's summary box and timeline totals (grain: stream): stream_summary with Little's Law
-- over the whole window (littles_law, window_kind = 'all').
--   log_shape, as_of, cases, open_cases, completed_cases, lead_time_mean_s, lead_time_p50_s,
--   lead_time_p85_s, flow_efficiency, first_pass_yield, wip_avg, throughput_per_day,
--   handoffs_per_case: as in stream_summary
--   process_time_mean_s: process time per completed case (process_time_total_s / completed_cases)
--   verdict, ratio, why: littles_law for the whole window (NULL before it is computed)
--   window: the measurement window (stream_summary."window"; 'all': the whole history)
--   automatic_close: the quality finding automatic_close's detail (a close the system makes by
--   itself a fixed time after the case became ready for it, not in the lead time), NULL when
--   the stream has none
SELECT
    s.log_shape,
    s.as_of,
    s.cases,
    s.open_cases,
    s.completed_cases,
    s.lead_time_mean_s,
    s.lead_time_p50_s,
    s.lead_time_p85_s,
    s.process_time_total_s / nullif(s.completed_cases, 0) AS process_time_mean_s,
    s.flow_efficiency,
    s.first_pass_yield,
    s.wip_avg,
    s.throughput_per_day,
    s.handoffs_per_case,
    l.verdict,
    l.ratio,
    l.why,
    s."window",
    (SELECT q.detail FROM quality_findings AS q
     WHERE q.stream = s.stream AND q.rule = 'automatic_close') AS automatic_close
FROM stream_summary AS s
LEFT JOIN littles_law AS l ON l.stream = s.stream AND l.window_kind = 'all'
WHERE s.stream = $stream
