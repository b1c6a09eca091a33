-- flow_visits (grain: visit): sequenced visits with ready time and durations.
-- seq orders a case's visits by start (end where no start is observed), then source line.
-- ready_ts = end of the case's earlier visits (the latest, capped at this visit's start so
-- that parallel work queues zero), or the case's arrival when it precedes the visit.
CREATE OR REPLACE TEMP TABLE flow_visits AS
WITH sequenced AS (
    SELECT v.*, a.arrival_ts,
        row_number() OVER (
            PARTITION BY v.case_id ORDER BY coalesce(v.start_ts, v.end_ts), v.end_ts NULLS LAST, v.source_line
        ) AS seq
    FROM flow_raw_visits AS v
    JOIN flow_arrivals AS a USING (case_id)
),
with_prev AS (
    SELECT *,
        max(end_ts) OVER (PARTITION BY case_id ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
            AS prev_end_ts
    FROM sequenced
),
readied AS (
    SELECT *,
        CASE
            WHEN prev_end_ts IS NOT NULL THEN least(prev_end_ts, coalesce(start_ts, end_ts))
            WHEN arrival_ts < coalesce(start_ts, end_ts) THEN arrival_ts
        END AS ready_ts
    FROM with_prev
)
SELECT
    case_id,
    step,
    CAST(row_number() OVER (PARTITION BY case_id, step ORDER BY seq) AS INTEGER) AS visit_no,
    CAST(seq AS INTEGER) AS seq,
    ready_ts,
    start_ts,
    end_ts,
    seconds_between(ready_ts, start_ts) AS queue_time_s,
    seconds_between(start_ts, end_ts) AS process_time_s,
    seconds_between(ready_ts, end_ts) AS elapsed_s,
    queue_internal_s,
    queue_external_s,
    resource,
    team,
    CAST(reassignments AS INTEGER) AS reassignments,
    row_number() OVER (PARTITION BY case_id, step ORDER BY seq) > 1 AS is_rework,
    start_ts IS NOT NULL AND end_ts IS NULL AS in_process
FROM readied;
