-- name: flow_cases_elapsed
-- grain: case
-- depends_on: flow_arrivals, flow_exits, flow_handoff_pairs, flow_stale_after, flow_visit_digests, flow_visits
-- params: as_of, target_s
-- flow_cases (grain: case): arrival, exit, lead time, variant, rework, handoffs, stale.
-- A completed case's visits are those that ended by its exit (exits__end_steps.sql: work
-- ending after the last end step is not the case's): its path, counts and times read them
-- only. An open case's are all its visits.
-- Stale: an open case whose last event (of any activity) is more than flow_stale_after
-- before $as_of. It stays open (is_open, no exit) but is counted apart from WIP: wip_*.sql
-- leaves it out of WIP, arrivals and Little's Law; aging WIP lists it as 'stale'.
-- Handoffs and reassignments are counted in flow_handoff_pairs (handoff_pairs.sql: between
-- events in status logs, between visits otherwise; boundary markers left out).
-- A case's path (its steps by seq, ' > '-joined) is written once per distinct path, not once
-- per case: an ordered string_agg per case cost more than all the other sums together. Cases
-- are grouped by a fingerprint of their path that needs no order: the number of visits and
-- two sums of digests of (seq, step) (visit_digests.sql: about 120 bits) that differ for
-- different paths except with a chance of about 2^-120 per pair; each fingerprint's text
-- comes from one of its cases, and so does its last step (the step of its highest seq: one
-- arg_max per path rather than per case; 10M events: 5M visits). So is its variant id, the
-- md5 of its text (1M events: 77k md5s for about 30 paths, 0.015-0.03 of the model's 0.12 CPU-s).
WITH per_case_visits AS (
    SELECT case_id,
        count(*) AS visits,
        count(*) FILTER (WHERE is_rework) AS rework_visits,
        sum(process_time_s) AS process_time_s,
        sum(queue_time_s) AS queue_time_s,
        count(*) AS path_visits,
        sum(digest_low) AS path_low,
        sum(digest_high) AS path_high
    FROM flow_visit_digests
    GROUP BY case_id
),
path_texts AS (  -- one case per path fingerprint, that case's path and its variant id
    SELECT *, left(md5(steps), 12) AS variant_id FROM (
        SELECT r.path_visits, r.path_low, r.path_high, string_agg(v.step, ' > ' ORDER BY v.seq) AS steps,
            arg_max(v.step, v.seq) AS last_step  -- the path's last step: each of its cases'
        FROM (
            SELECT path_visits, path_low, path_high, min(case_id) AS case_id
            FROM per_case_visits GROUP BY path_visits, path_low, path_high
        ) AS r
        -- flow_case_visits spelled out: read through the view twice, it was materialised whole
        -- (10M events: 5M visits) to be joined with these few cases
        JOIN flow_visits AS v ON v.case_id = r.case_id
        LEFT JOIN flow_exits AS x ON x.case_id = r.case_id
        WHERE x.exit_ts IS NULL OR v.end_ts <= x.exit_ts
        GROUP BY r.path_visits, r.path_low, r.path_high
    ) AS paths
),
v AS (
    SELECT p.*, t.steps, t.variant_id, t.last_step FROM per_case_visits AS p
    JOIN path_texts AS t
        ON t.path_visits = p.path_visits AND t.path_low = p.path_low AND t.path_high = p.path_high
),
h AS (
    SELECT case_id,
        count(*) FILTER (WHERE kind = 'handoff') AS handoffs,
        count(*) FILTER (WHERE kind = 'reassignment') AS reassignments
    FROM flow_handoff_pairs GROUP BY case_id
)
SELECT
    a.case_id,
    a.arrival_ts,
    x.exit_ts,
    x.exit_ts IS NULL AS is_open,
    seconds_between(a.arrival_ts, x.exit_ts) AS lead_time_s,
    -- a case with no visit: the md5 of the empty path
    CASE WHEN x.exit_ts IS NOT NULL THEN coalesce(v.variant_id, left(md5(''), 12)) END AS variant_id,
    CASE WHEN x.exit_ts IS NOT NULL THEN coalesce(v.steps, '') END AS steps,
    CAST(coalesce(v.visits, 0) AS INTEGER) AS visits,
    CAST(coalesce(v.rework_visits, 0) AS INTEGER) AS rework_visits,
    coalesce(v.rework_visits, 0) = 0 AS is_first_pass,
    CAST(coalesce(h.handoffs, 0) AS INTEGER) AS handoffs,
    CAST(coalesce(h.reassignments, 0) AS INTEGER) AS reassignments,
    v.process_time_s,
    v.queue_time_s,
    CASE WHEN $target_s IS NULL THEN NULL
         WHEN x.exit_ts IS NOT NULL THEN seconds_between(a.arrival_ts, x.exit_ts) > $target_s
         ELSE seconds_between(a.arrival_ts, CAST($as_of AS TIMESTAMPTZ)) > $target_s END AS target_breached,
    v.last_step,
    a.last_event_ts,
    coalesce(x.exit_ts IS NULL
             AND seconds_between(a.last_event_ts, CAST($as_of AS TIMESTAMPTZ)) > s.stale_after_s, FALSE)
        AS is_stale  -- open, and no event for longer than stale_after before as_of
FROM flow_arrivals AS a
CROSS JOIN flow_stale_after AS s
LEFT JOIN flow_exits AS x USING (case_id)
LEFT JOIN v USING (case_id)
LEFT JOIN h USING (case_id)
