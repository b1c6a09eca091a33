"""Interval logs: a case arrives at its earliest start, and consecutive work sessions of one
step are one visit (issue 14, item 8). Tiny logs drawn here, figures worked out by hand.

All times are UTC on Monday 2026-03-02; durations in seconds (30 min = 1800, 1 h = 3600).
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.logs import load_log, rows


def at(hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return datetime(2026, 3, 2, int(hours), int(minutes), tzinfo=UTC)


# A start-time column: each row is a whole visit.
#
#          09:00  09:30  10:00  11:00  12:00  13:00  14:00  14:30  15:00
# s1 Intake [=====]
#    Work                 [=====]             [=====]                      two sessions, one visit
#    Close                                                   [=====]
# s2 Intake [==]09:20
#    Work          09:30[=]10:00
#    Review                 10:00[=]10:30
#    Work                          11:00[=]11:30                            Review between: rework
#    Close                                 12:00[]12:10
START_COLUMN = """case,activity,started,finished
s1,Intake,2026-03-02T09:00:00Z,2026-03-02T09:30:00Z
s1,Work,2026-03-02T10:00:00Z,2026-03-02T11:00:00Z
s1,Work,2026-03-02T13:00:00Z,2026-03-02T14:00:00Z
s1,Close,2026-03-02T14:30:00Z,2026-03-02T15:00:00Z
s2,Intake,2026-03-02T09:00:00Z,2026-03-02T09:20:00Z
s2,Work,2026-03-02T09:30:00Z,2026-03-02T10:00:00Z
s2,Review,2026-03-02T10:00:00Z,2026-03-02T10:30:00Z
s2,Work,2026-03-02T11:00:00Z,2026-03-02T11:30:00Z
s2,Close,2026-03-02T12:00:00Z,2026-03-02T12:10:00Z
"""


def start_column_flow(store, tmp_path):
    from pipeline.settings import Columns

    columns = Columns(case_id="case", activity=["activity"], timestamp="finished", start_timestamp="started")
    return load_log(store, tmp_path, START_COLUMN, columns=columns, end_activities=["Close"])[1]


def test_a_start_column_case_arrives_at_its_first_start(store, tmp_path):
    result = start_column_flow(store, tmp_path)
    assert result.log_shape == "interval"
    # Before: arrival was the END of the first row (09:30 / 09:20), so s1's lead time (5.5 h)
    # was below its 3 h of work plus 2 h paused plus 1 h of queue.
    assert rows(
        store,
        "SELECT case_id, arrival_ts, exit_ts, lead_time_s, process_time_s, queue_time_s "
        "FROM cases ORDER BY 1",
    ) == [
        # 09:00 -> 15:00 = 21600 = queue (30 + 30 min) 3600 + process (30 + 60 + 60 + 30 min)
        # 10800 + paused (11:00 -> 13:00) 7200
        ("s1", at("09:00"), at("15:00"), 21600.0, 10800.0, 3600.0),
        # 09:00 -> 12:10 = 11400 = queue (10 + 0 + 30 + 30 min) 4200 + process (20 + 30 + 30 + 30
        # + 10 min) 7200
        ("s2", at("09:00"), at("12:10"), 11400.0, 7200.0, 4200.0),
    ]


def test_consecutive_sessions_of_a_step_are_one_visit_not_rework(store, tmp_path):
    result = start_column_flow(store, tmp_path)
    got = rows(
        store,
        "SELECT case_id, step, visit_no, sessions, ready_ts, start_ts, end_ts, queue_time_s, process_time_s, "
        "paused_s, elapsed_s, is_rework FROM visits WHERE step = 'Work' ORDER BY case_id, seq",
    )
    assert got == [
        # s1: 10:00-11:00 and 13:00-14:00 back to back: one visit of two sessions; queue 30 min +
        # process 2 h + paused 2 h = elapsed 09:30 -> 14:00 = 4.5 h
        ("s1", "Work", 1, 2, at("09:30"), at("10:00"), at("14:00"), 1800.0, 7200.0, 7200.0, 16200.0, False),
        # s2: Review in between: two visits, the second is rework
        ("s2", "Work", 1, 1, at("09:20"), at("09:30"), at("10:00"), 600.0, 1800.0, 0.0, 2400.0, False),
        ("s2", "Work", 2, 1, at("10:30"), at("11:00"), at("11:30"), 1800.0, 1800.0, 0.0, 3600.0, True),
    ]
    assert result.visits == 8  # s1: 3 visits of 4 rows; s2: 5
    assert rows(store, "SELECT case_id, visits, rework_visits, is_first_pass FROM cases ORDER BY 1") == [
        ("s1", 3, 0, True),
        ("s2", 5, 1, False),
    ]
    # FPY: s1 first pass, s2 not -> 1/2 (before: 0, s1's second session counted as rework)
    assert rows(store, "SELECT first_pass_yield FROM stream_summary") == [(0.5,)]
    assert rows(store, "SELECT steps FROM variants ORDER BY steps") == [
        ("Intake > Work > Close",),
        ("Intake > Work > Review > Work > Close",),
    ]


# Lifecycle start / complete events: the same rule.
#
#         09:00  09:20  09:30  09:40  10:00  10:30  11:00  11:30
# l1  A   [=============]             [=============]                  two sessions, one visit
#     B                                                  [=============]
# l2  A   [======]             [......                                  second session not completed:
#                                                                       the visit is in process
LIFECYCLE = """case,activity,lifecycle,timestamp,resource
l1,A,start,2026-03-02T09:00:00Z,ann
l1,A,complete,2026-03-02T09:30:00Z,ann
l1,A,start,2026-03-02T10:00:00Z,bob
l1,A,complete,2026-03-02T10:30:00Z,bob
l1,B,start,2026-03-02T11:00:00Z,cat
l1,B,complete,2026-03-02T11:30:00Z,cat
l2,A,start,2026-03-02T09:00:00Z,ann
l2,A,complete,2026-03-02T09:20:00Z,ann
l2,A,start,2026-03-02T09:40:00Z,ann
"""


def test_lifecycle_sessions_of_a_step_are_one_visit(store, tmp_path):
    load_log(store, tmp_path, LIFECYCLE, end_activities=["B"])
    got = rows(
        store,
        "SELECT case_id, step, sessions, start_ts, end_ts, process_time_s, paused_s, elapsed_s, "
        "resource, reassignments, in_process FROM visits ORDER BY case_id, seq",
    )
    N = None
    assert got == [
        # 30 + 30 min worked, 30 min paused; the resource at the end (bob), ann -> bob a reassignment
        ("l1", "A", 2, at("09:00"), at("10:30"), 3600.0, 1800.0, N, "bob", 1, False),
        ("l1", "B", 1, at("11:00"), at("11:30"), 1800.0, 0.0, 3600.0, "cat", 0, False),
        # the last session is not completed: the visit is in process, its process time unknown
        ("l2", "A", 2, at("09:00"), N, N, 1200.0, N, "ann", 0, True),
    ]
    # l1: 09:00 -> 11:30 = 9000 = process 5400 + paused 1800 + queue (10:30 -> 11:00) 1800
    assert rows(store, "SELECT case_id, lead_time_s, process_time_s, is_open FROM cases ORDER BY 1") == [
        ("l1", 9000.0, 5400.0, False),
        ("l2", N, N, True),
    ]


def test_visits_are_numbered_at_their_step_whichever_rows_made_them(store, tmp_path):
    # One (case, step), Work, with visits of both kinds: start/complete events (no start time)
    # and a row of the start-time column; Check between them, so no sessions merge. The
    # visits of a step are numbered by start (visit_no), whichever rows made them:
    #   m1 Work 09:00-10:00 (events) | Check | Work 10:30-10:45 (start column) | Check |
    #      Work 11:00-12:00 (events)
    # m2's Work visits are events only, taking turns: 1, 2.
    log = (
        "case,activity,lifecycle,started,finished\n"
        "m1,Work,start,,2026-03-02T09:00:00Z\n"
        "m1,Work,complete,,2026-03-02T10:00:00Z\n"
        "m1,Check,,2026-03-02T10:05:00Z,2026-03-02T10:10:00Z\n"
        "m1,Work,,2026-03-02T10:30:00Z,2026-03-02T10:45:00Z\n"
        "m1,Check,,2026-03-02T10:50:00Z,2026-03-02T10:55:00Z\n"
        "m1,Work,start,,2026-03-02T11:00:00Z\n"
        "m1,Work,complete,,2026-03-02T12:00:00Z\n"
        "m2,Work,start,,2026-03-02T09:00:00Z\n"
        "m2,Work,complete,,2026-03-02T09:30:00Z\n"
        "m2,Check,,2026-03-02T09:40:00Z,2026-03-02T09:50:00Z\n"
        "m2,Work,start,,2026-03-02T10:00:00Z\n"
        "m2,Work,complete,,2026-03-02T10:30:00Z\n"
    )
    from pipeline.settings import Columns

    columns = Columns(
        case_id="case",
        activity=["activity"],
        timestamp="finished",
        start_timestamp="started",
        lifecycle="lifecycle",
    )
    load_log(store, tmp_path, log, columns=columns)
    got = rows(
        store,
        "SELECT case_id, step, seq, visit_no, start_ts, end_ts, is_rework FROM visits ORDER BY case_id, seq",
    )
    assert got == [
        ("m1", "Work", 1, 1, at("09:00"), at("10:00"), False),
        ("m1", "Check", 2, 1, at("10:05"), at("10:10"), False),
        ("m1", "Work", 3, 2, at("10:30"), at("10:45"), True),
        ("m1", "Check", 4, 2, at("10:50"), at("10:55"), True),
        ("m1", "Work", 5, 3, at("11:00"), at("12:00"), True),
        ("m2", "Work", 1, 1, at("09:00"), at("09:30"), False),
        ("m2", "Check", 2, 1, at("09:40"), at("09:50"), False),
        ("m2", "Work", 3, 2, at("10:00"), at("10:30"), True),
    ]
