-- name: flow_session_visits
-- grain: visit
-- depends_on: flow_raw_visits
-- when: log_shape = interval
-- flow_raw_visits with its sessions merged (grain: visit) for interval logs. A work session
-- is one start-to-complete pair (or one row of a start-time column). Consecutive sessions of
-- one step by a case, with no other visit of the case in between (in the order visits_elapsed.sql
-- sequences visits: start, end, source line) and both with an observed start, are ONE visit
-- with several sessions: picking the work up again is not rework.
-- The merged visit:
--   start_ts       the first session's start
--   end_ts         the last session's end; NULL (in process) when a session is not completed
--   paused_s       the time between its sessions: for each session, how long after the end of
--                  the visit's earlier sessions it started (0 when it overlaps them); 0 for a
--                  visit of one session. visits_elapsed.sql takes it off end - start, so the
--                  process time is the time worked (time covered by a session; overlapping
--                  sessions count once) and queue + process + paused = elapsed.
--   sessions       how many sessions it has (1 normally)
--   pauses         the pauses as (from_ts, to_ts), for their business time; NULL when none
--   resource, team the last session's (the resource at the end, as for one session)
--   reassignments  the sessions' own, plus each change of resource from one session to the next
--   source_line    the first session's (the visits' tie-break order)
-- Steps without observed starts (point-like visits) never merge: their repeats stay visits.
-- It also sequences the visits for visits_elapsed.sql (seq, prev_end_ts, prev_step,
-- prev_owner: what that file describes) in the same ordered pass: a case that merges no
-- sessions (nearly all) has its raw visits as its visits, in that order. Only the cases that
-- merge some are sequenced again, after the merge. One sort of the visits instead of two
-- (10M events: 5M visits). visit_no, the visit's number at its step in that order, comes with
-- the raw visits (raw_visits__interval.sql: from flow_turns, without a sort of its own, for
-- nearly all); the merging cases number their merged visits again.
WITH ordered AS (  -- the raw visits' own columns, less the two interval logs leave NULL
    SELECT case_id, step, start_ts, end_ts, resource, team, reassignments, source_line,
        row_number() OVER w AS rn,
        step = lag(step) OVER w AND start_ts IS NOT NULL AND lag(start_ts) OVER w IS NOT NULL AS joins,
        lag(resource) OVER w AS prev_resource,
        -- the sequencing of visits_elapsed.sql, right where the case merges no sessions
        max(end_ts) OVER (
            PARTITION BY case_id ORDER BY coalesce(start_ts, end_ts), end_ts NULLS LAST, source_line
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS prev_end_ts,
        lag(step) OVER w AS prev_step,
        lag(coalesce(team, resource)) OVER w AS prev_owner,
        visit_no  -- the visit's number at its step, in that order (raw_visits__interval.sql)
    FROM flow_raw_visits
    WINDOW w AS (PARTITION BY case_id ORDER BY coalesce(start_ts, end_ts), end_ts NULLS LAST, source_line)
),
merging AS (  -- the cases that merge sessions (few)
    SELECT DISTINCT case_id FROM ordered WHERE joins
),
sessions AS (  -- their sessions, grouped into visits below
    SELECT o.* FROM ordered AS o SEMI JOIN merging AS m ON m.case_id = o.case_id
),
grouped AS (
    SELECT *,
        sum(CASE WHEN joins THEN 0 ELSE 1 END) OVER (PARTITION BY case_id ORDER BY rn ROWS UNBOUNDED PRECEDING)
            AS visit_group
    FROM sessions
),
earlier AS (  -- the end of the visit's earlier sessions
    SELECT *,
        max(end_ts) OVER (PARTITION BY case_id, visit_group ORDER BY rn
                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier_end_ts
    FROM grouped
),
paused AS (  -- how long after the end of the visit's earlier sessions each session started
    SELECT *, greatest(0, seconds_between(earlier_end_ts, start_ts)) AS pause_s
    FROM earlier
),
merged AS (
    SELECT
        case_id,
        any_value(step) AS step,
        min(start_ts) AS start_ts,
        CASE WHEN count(end_ts) = count(*) THEN max(end_ts) END AS end_ts,
        arg_max(resource, rn) AS resource,
        arg_max(team, rn) AS team,
        CAST(sum(reassignments) + count(*) FILTER (WHERE joins AND resource <> prev_resource) AS INTEGER)
            AS reassignments,
        arg_min(source_line, rn) AS source_line,
        CAST(count(*) AS INTEGER) AS sessions,
        coalesce(sum(pause_s), 0) AS paused_s,
        -- the pauses themselves, for their business time (visits_built.sql); NULL: none
        list_sort(list({'from_ts': earlier_end_ts, 'to_ts': start_ts}) FILTER (WHERE pause_s > 0)) AS pauses,
        min(rn) AS visit_key  -- names the visit in the case (its first session's place) for its pauses
    FROM paused
    GROUP BY case_id, visit_group
),
resequenced AS (  -- the visits of those cases, sequenced as visits_elapsed.sql describes
    SELECT *,
        max(end_ts) OVER (
            PARTITION BY case_id ORDER BY coalesce(start_ts, end_ts), end_ts NULLS LAST, source_line
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS prev_end_ts,
        lag(step) OVER w AS prev_step,
        lag(coalesce(team, resource)) OVER w AS prev_owner,
        row_number() OVER w AS seq,
        row_number() OVER (
            PARTITION BY case_id, step ORDER BY coalesce(start_ts, end_ts), end_ts NULLS LAST, source_line
        ) AS visit_no
    FROM merged
    WINDOW w AS (PARTITION BY case_id ORDER BY coalesce(start_ts, end_ts), end_ts NULLS LAST, source_line)
)
SELECT
    case_id, step, start_ts, end_ts, resource, team, reassignments, source_line,
    CAST(NULL AS DOUBLE) AS queue_internal_s,  -- interval logs have no statuses
    CAST(NULL AS DOUBLE) AS queue_external_s,
    sessions, paused_s, pauses, visit_key,
    CAST(NULL AS BIGINT) AS work_no,  -- status logs only (status_periods_built__status.sql)
    CAST(NULL AS DOUBLE) AS team_queue_bh_s,  -- team visits only (raw_visits__team.sql)
    CAST(NULL AS DOUBLE) AS team_queue_internal_bh_s,
    CAST(NULL AS DOUBLE) AS team_queue_external_bh_s,
    seq, prev_end_ts, prev_step, prev_owner, visit_no
FROM resequenced
UNION ALL
SELECT  -- the cases that merge no sessions (nearly all): their raw visits as they are
    o.case_id, o.step, o.start_ts, o.end_ts, o.resource, o.team, CAST(o.reassignments AS INTEGER), o.source_line,
    CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(1 AS INTEGER), CAST(0 AS DOUBLE), NULL, o.rn,
    CAST(NULL AS BIGINT), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE),
    o.rn, o.prev_end_ts, o.prev_step, o.prev_owner, o.visit_no
FROM ordered AS o
ANTI JOIN merging AS m ON m.case_id = o.case_id
