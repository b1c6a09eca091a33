-- name: flow_visits_built
-- grain: visit
-- depends_on: flow_visits_elapsed
-- when: not any_calendar
-- flow_visits_built for a stream with no calendar (neither [flow] calendar nor
-- [calendars.teams]; issue 20): every visit is 24x7, so each business twin (*_bh_s) is the
-- elapsed value itself, as visits_built.sql gives a visit without a calendar: the same rows,
-- with none of its joins (the team calendars, the calendar hours three times per visit, the
-- pauses' and wait periods' business time), and the columns it drops dropped here.
SELECT v.* EXCLUDE (visit_key, work_no, team_queue_bh_s, team_queue_internal_bh_s, team_queue_external_bh_s),
    v.queue_time_s AS queue_time_bh_s,
    v.process_time_s AS process_time_bh_s,
    v.elapsed_s AS elapsed_bh_s,
    v.paused_s AS paused_bh_s,
    v.queue_internal_s AS queue_internal_bh_s,
    v.queue_external_s AS queue_external_bh_s
FROM flow_visits_elapsed AS v
