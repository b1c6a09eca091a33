"""The flow engine on tiny logs drawn here: every figure worked out by hand.

All times are UTC on Monday 2026-03-02 unless a test says otherwise; durations in seconds
(10 min = 600, 30 min = 1800, 1 h = 3600).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.flow import EmptyStreamError, compute_flow
from pipeline.settings import Steps, StreamSettings
from tests.logs import load_log, rows


def at(hhmm: str, day: int = 2) -> datetime:
    hours, minutes = hhmm.split(":")
    return datetime(2026, 3, day, int(hours), int(minutes), tzinfo=UTC)


def run(store, tmp_path, log: str, *, as_of: datetime | None = None, **kw):
    return load_log(store, tmp_path, log, as_of=as_of, **kw)[1]


def test_a_stream_with_no_events_is_refused(store):
    with pytest.raises(EmptyStreamError, match="no events"):
        compute_flow(store, StreamSettings(name="t"))


# ---------------------------------------------------------------- interval log
#
#            09:00  09:30  10:00  10:30  11:00  11:30  12:00  12:30  13:00  14:00
# c1  Register [ann====]
#     Assess                 [bob==========]         [bob====]                        rework
#     Decide                                                       [cat=========dan]  reassigned
# c2  Register [ann==]09:20
#     Assess          C 09:40 lone complete (no open start): not a visit
#     Assess                 [bob==========]                                          FIFO: the first
#     Assess                        [eve===========]                                  start pairs with
#     Decide                                         [cat====]                        the first complete
# c3  Register [ann]09:10
#     Assess   09:40 [fay=============]10:40
#     Decide                            11:00 [cat]11:20
# c4  Register [ann====]
#     Assess                 [bob ...  (started, never completed: in process, case open)
#
# Teams: ann Intake, bob/eve/fay Assessment, cat/dan Decision. End activity: Decide.
INTERVAL = """case,activity,lifecycle,timestamp,resource,team
c1,Register,start,2026-03-02T09:00:00Z,ann,Intake
c1,Register,complete,2026-03-02T09:30:00Z,ann,Intake
c1,Assess,start,2026-03-02T10:00:00Z,bob,Assessment
c1,Assess,complete,2026-03-02T11:00:00Z,bob,Assessment
c1,Assess,start,2026-03-02T12:00:00Z,bob,Assessment
c1,Assess,complete,2026-03-02T12:30:00Z,bob,Assessment
c1,Decide,start,2026-03-02T13:00:00Z,cat,Decision
c1,Decide,complete,2026-03-02T14:00:00Z,dan,Decision
c2,Register,start,2026-03-02T09:00:00Z,ann,Intake
c2,Register,complete,2026-03-02T09:20:00Z,ann,Intake
c2,Assess,complete,2026-03-02T09:40:00Z,bob,Assessment
c2,Assess,start,2026-03-02T10:00:00Z,bob,Assessment
c2,Assess,start,2026-03-02T10:30:00Z,eve,Assessment
c2,Assess,complete,2026-03-02T11:00:00Z,bob,Assessment
c2,Assess,complete,2026-03-02T11:30:00Z,eve,Assessment
c2,Decide,start,2026-03-02T12:00:00Z,cat,Decision
c2,Decide,complete,2026-03-02T12:30:00Z,cat,Decision
c3,Register,start,2026-03-02T09:00:00Z,ann,Intake
c3,Register,complete,2026-03-02T09:10:00Z,ann,Intake
c3,Assess,start,2026-03-02T09:40:00Z,fay,Assessment
c3,Assess,complete,2026-03-02T10:40:00Z,fay,Assessment
c3,Decide,start,2026-03-02T11:00:00Z,cat,Decision
c3,Decide,complete,2026-03-02T11:20:00Z,cat,Decision
c4,Register,start,2026-03-02T09:00:00Z,ann,Intake
c4,Register,complete,2026-03-02T09:30:00Z,ann,Intake
c4,Assess,start,2026-03-02T10:00:00Z,bob,Assessment
"""


@pytest.fixture
def interval(store, tmp_path):
    result = run(store, tmp_path, INTERVAL, end_activities=["Decide"])
    return store, result


def test_interval_visits(interval):
    store, result = interval
    assert (result.log_shape, result.shape_detected) == ("interval", True)
    got = rows(
        store,
        "SELECT case_id, step, seq, visit_no, ready_ts, start_ts, end_ts, queue_time_s, "
        "process_time_s, elapsed_s, resource, team, reassignments, is_rework, in_process "
        "FROM visits ORDER BY case_id, seq",
    )
    N = None
    # fmt: off
    assert got == [
        # A first visit starting at the case's arrival has no queue (ready_ts NULL).
        ("c1", "Register", 1, 1, N, at("09:00"), at("09:30"), N, 1800.0, N, "ann", "Intake", 0, False, False),
        # Two sessions of Assess back to back (10:00-11:00, 12:00-12:30, no other step between):
        # one visit, not rework. Process = the time worked, 60 + 30 min = 5400; the hour between
        # the sessions is paused_s; queue 1800 + process 5400 + paused 3600 = elapsed 10800.
        ("c1", "Assess", 2, 1, at("09:30"), at("10:00"), at("12:30"), 1800.0, 5400.0, 10800.0,
         "bob", "Assessment", 0, False, False),
        # started by cat, completed by dan: the resource at the end, one reassignment
        ("c1", "Decide", 3, 1, at("12:30"), at("13:00"), at("14:00"), 1800.0, 3600.0, 5400.0,
         "dan", "Decision", 1, False, False),
        ("c2", "Register", 1, 1, N, at("09:00"), at("09:20"), N, 1200.0, N, "ann", "Intake", 0, False, False),
        # FIFO: 10:00 (bob) pairs with 11:00 (bob), 10:30 (eve) with 11:30 (eve): two sessions that
        # overlap, one visit 10:00-11:30; the time covered by a session, 90 min, is its process
        # time (overlaps count once); the resource is the last session's (eve), and the change
        # from bob to eve is a reassignment.
        ("c2", "Assess", 2, 1, at("09:20"), at("10:00"), at("11:30"), 2400.0, 5400.0, 7800.0,
         "eve", "Assessment", 1, False, False),
        ("c2", "Decide", 3, 1, at("11:30"), at("12:00"), at("12:30"), 1800.0, 1800.0, 3600.0,
         "cat", "Decision", 0, False, False),
        ("c3", "Register", 1, 1, N, at("09:00"), at("09:10"), N, 600.0, N, "ann", "Intake", 0, False, False),
        ("c3", "Assess", 2, 1, at("09:10"), at("09:40"), at("10:40"), 1800.0, 3600.0, 5400.0,
         "fay", "Assessment", 0, False, False),
        ("c3", "Decide", 3, 1, at("10:40"), at("11:00"), at("11:20"), 1200.0, 1200.0, 2400.0,
         "cat", "Decision", 0, False, False),
        ("c4", "Register", 1, 1, N, at("09:00"), at("09:30"), N, 1800.0, N, "ann", "Intake", 0, False, False),
        # started, not completed: in process, no end, no process time
        ("c4", "Assess", 2, 1, at("09:30"), at("10:00"), N, 1800.0, N, N,
         "bob", "Assessment", 0, False, True),
    ]
    # fmt: on
    assert rows(store, "SELECT case_id, sessions, paused_s FROM visits WHERE step = 'Assess' ORDER BY 1") == [
        ("c1", 2, 3600.0),
        ("c2", 2, 0.0),
        ("c3", 1, 0.0),
        ("c4", 1, 0.0),
    ]
    assert result.visits == 11  # 13 sessions (one per start; the lone complete makes none), 11 visits


def test_interval_cases(interval):
    store, result = interval
    got = rows(
        store,
        "SELECT case_id, arrival_ts, exit_ts, lead_time_s, is_open, visits, rework_visits, "
        "is_first_pass, handoffs, reassignments, process_time_s, queue_time_s, last_step "
        "FROM cases ORDER BY case_id",
    )
    assert got == [
        # 09:00 -> 14:00 = 5 h; process 30+90+60 min = 10800, queue 30+30 min = 3600, paused 3600
        ("c1", at("09:00"), at("14:00"), 18000.0, False, 3, 0, True, 2, 1, 10800.0, 3600.0, "Decide"),
        # 09:00 -> 12:30; queue 40+30 min = 4200 + process 20+90+30 min = 8400 = lead time
        ("c2", at("09:00"), at("12:30"), 12600.0, False, 3, 0, True, 2, 1, 8400.0, 4200.0, "Decide"),
        # first pass: queue 30+20 min + process 10+60+20 min = 2 h 20 = lead time
        ("c3", at("09:00"), at("11:20"), 8400.0, False, 3, 0, True, 2, 0, 5400.0, 3000.0, "Decide"),
        ("c4", at("09:00"), None, None, True, 2, 0, True, 1, 0, 1800.0, 1800.0, "Assess"),
    ]
    assert (result.cases, result.open_cases) == (4, 1)
    assert (result.end_steps, result.ends_inferred) == (["Decide"], False)


def test_interval_step_metrics(interval):
    store, _ = interval
    got = rows(
        store,
        "SELECT step, visits, cases, rework_visits, in_process, queue_time_mean_s, "
        "queue_time_p50_s, process_time_mean_s, process_time_p50_s, first_pass_yield "
        "FROM step_metrics ORDER BY step",
    )
    assert got == [
        # queue [1800, 2400, 1800, 1800]: mean 7800/4 = 1950, median 1800
        # process [5400, 5400, 3600] (c4 in process): mean 14400/3 = 4800, median 5400
        # every case visits it once (sessions are not rework): FPY 1
        ("Assess", 4, 4, 0, 1, 1950.0, 1800.0, 4800.0, 5400.0, 1.0),
        # queue [1800, 1800, 1200]: mean 1600; process [3600, 1800, 1200]: mean 2200, median 1800
        ("Decide", 3, 3, 0, 0, 1600.0, 1800.0, 2200.0, 1800.0, 1.0),
        # no queue observed; process [1800, 1200, 600, 1800]: mean 1350, median (1200+1800)/2
        ("Register", 4, 4, 0, 0, None, None, 1350.0, 1500.0, 1.0),
    ]


def test_interval_transitions_variants_handoffs(interval):
    store, _ = interval
    got = rows(
        store,
        "SELECT from_step, to_step, count, cases, wait_mean_s FROM transitions "
        "WHERE from_step <> to_step ORDER BY from_step",
    )
    assert got == [
        ("Assess", "Decide", 3, 3, 1600.0),  # 13:00-12:30, 12:00-11:30, 11:00-10:40
        ("Register", "Assess", 4, 4, 1950.0),  # 30, 40, 30, 30 min -> 7800 / 4
    ]
    # sessions of one step are one visit: no step follows itself
    assert rows(store, "SELECT count, cases FROM transitions WHERE from_step = to_step") == []
    got = rows(
        store,
        "SELECT rank, steps, step_count, cases, share, lead_time_mean_s, lead_time_p50_s, "
        "lead_time_share FROM variants ORDER BY rank",
    )
    # c1 (18000), c2 (12600) and c3 (8400): 39000 s over 3 completed cases
    assert got == [(1, "Register > Assess > Decide", 3, 3, 1.0, 13000.0, 12600.0, 1.0)]
    assert rows(store, "SELECT count(DISTINCT variant_id) FROM cases WHERE variant_id IS NOT NULL") == [(1,)]
    assert rows(store, "SELECT from_team, to_team, count, cases FROM handoffs ORDER BY from_team") == [
        ("Assessment", "Decision", 3, 3),
        ("Intake", "Assessment", 4, 4),
    ]


def test_interval_overlapping_sessions_pause_nothing(interval):
    store, _ = interval
    # c2's Assess sessions overlap (10:00-11:00, 10:30-11:30): nothing paused, never negative,
    # and the time worked is the 90 min they cover, not 60 + 60
    assert rows(
        store, "SELECT paused_s, process_time_s FROM visits WHERE case_id = 'c2' AND step = 'Assess'"
    ) == [(0.0, 5400.0)]


def test_interval_stream_summary(interval):
    store, result = interval
    got = rows(
        store,
        "SELECT log_shape, as_of, cases, open_cases, completed_cases, lead_time_p50_s, "
        "process_time_total_s, flow_efficiency, first_pass_yield, rolled_fpy, end_activities, "
        "ends_inferred, start_activities FROM stream_summary",
    )
    assert got == [
        (
            "interval",
            at("14:00"),  # as_of defaults to the last event
            4,
            1,
            3,
            12600.0,  # median of 18000, 12600, 8400
            24600.0,  # 10800 + 8400 + 5400 (completed cases only)
            pytest.approx(24600 / 39000),
            1.0,  # every completed case is first pass (sessions are not rework)
            1.0,  # Register 1 x Assess 1 x Decide 1
            "Decide",
            False,
            "first event (discovered start steps: Register)",
        )
    ]
    assert result.summary["completed_cases"] == 3


# ---------------------------------------------------------------- status log (ServiceNow-like)
#
# i1  New 09:00 | In Progress 09:30 (bob, Service Desk) -> 10:30 reassigned to carl, Network
#     | Awaiting Customer 11:00 | In Progress 13:00 | Resolved 14:00 | In Progress 15:00 (reopened)
#     | Resolved 15:30 | Closed 16:00                                    -> exits 16:00
# i2  New 09:00 | In Progress 10:00 | Resolved 11:00 | In Progress 12:00 -> reopened, not resolved: open
# i3  New 09:00 | In Progress 09:15 | Resolved 10:15 | Closed 11:15     -> exits 11:15, first pass
STATUS = """number,state,sys_updated_on,assigned_to,assignment_group
i1,New,2026-03-02T09:00:00Z,,Service Desk
i1,In Progress,2026-03-02T09:30:00Z,bob,Service Desk
i1,In Progress,2026-03-02T10:30:00Z,carl,Network
i1,Awaiting Customer,2026-03-02T11:00:00Z,carl,Network
i1,In Progress,2026-03-02T13:00:00Z,carl,Network
i1,Resolved,2026-03-02T14:00:00Z,carl,Network
i1,In Progress,2026-03-02T15:00:00Z,carl,Network
i1,Resolved,2026-03-02T15:30:00Z,carl,Network
i1,Closed,2026-03-02T16:00:00Z,carl,Network
i2,New,2026-03-02T09:00:00Z,,Service Desk
i2,In Progress,2026-03-02T10:00:00Z,dan,Service Desk
i2,Resolved,2026-03-02T11:00:00Z,dan,Service Desk
i2,In Progress,2026-03-02T12:00:00Z,dan,Service Desk
i3,New,2026-03-02T09:00:00Z,,Service Desk
i3,In Progress,2026-03-02T09:15:00Z,eve,Service Desk
i3,Resolved,2026-03-02T10:15:00Z,eve,Service Desk
i3,Closed,2026-03-02T11:15:00Z,eve,Service Desk
"""


def test_status_classes_are_guessed_from_the_names_and_reported(store, tmp_path):
    result = run(store, tmp_path, STATUS)
    assert (result.log_shape, result.shape_detected) == ("status", True)
    assert rows(
        store,
        "SELECT status, status_class, wait_kind, decided_by, events FROM status_classes ORDER BY status",
    ) == [
        ("Awaiting Customer", "wait", "external", "default", 1),
        ("Closed", "done", None, "default", 2),
        ("In Progress", "work", None, "default", 7),
        ("New", "wait", "internal", "default", 3),
        ("Resolved", "done", None, "default", 4),
    ]
    assert ("New", "wait", "internal", "default") in result.status_guesses


def test_status_classes_from_settings_override_the_guess(store, tmp_path):
    # the team counts time in Resolved as waiting for the caller to confirm, not as done
    result = run(store, tmp_path, STATUS, status_classes={"Resolved": "wait"}, step_by="activity")
    assert rows(
        store, "SELECT status_class, wait_kind, decided_by FROM status_classes WHERE status = 'Resolved'"
    ) == [("wait", "internal", "settings")]
    assert all(g[0] != "Resolved" for g in result.status_guesses)  # only guesses are reported as such
    # i1's third In Progress visit now queued 14:00-15:00 in Resolved (internal wait)
    assert rows(
        store,
        "SELECT queue_time_s, queue_internal_s, queue_external_s FROM visits "
        "WHERE case_id = 'i1' AND visit_no = 3",
    ) == [(3600.0, 3600.0, 0.0)]
    # i3 ends in Closed: still done; i2's last status is work: still open
    assert rows(store, "SELECT case_id, exit_ts, is_open FROM cases ORDER BY case_id") == [
        ("i1", at("16:00"), False),
        ("i2", None, True),
        ("i3", at("11:15"), False),
    ]


def test_status_periods(store, tmp_path):
    run(store, tmp_path, STATUS)
    got = rows(
        store,
        "SELECT case_id, status, status_class, wait_kind, entered_ts, left_ts, duration_s, "
        "resource, team FROM status_periods ORDER BY case_id, entered_ts",
    )
    N = None
    assert got == [
        ("i1", "New", "wait", "internal", at("09:00"), at("09:30"), 1800.0, N, "Service Desk"),
        # two rows in In Progress are one period; it ends with carl of Network
        ("i1", "In Progress", "work", N, at("09:30"), at("11:00"), 5400.0, "carl", "Network"),
        ("i1", "Awaiting Customer", "wait", "external", at("11:00"), at("13:00"), 7200.0, "carl", "Network"),
        ("i1", "In Progress", "work", N, at("13:00"), at("14:00"), 3600.0, "carl", "Network"),
        ("i1", "Resolved", "done", N, at("14:00"), at("15:00"), 3600.0, "carl", "Network"),
        ("i1", "In Progress", "work", N, at("15:00"), at("15:30"), 1800.0, "carl", "Network"),
        ("i1", "Resolved", "done", N, at("15:30"), at("16:00"), 1800.0, "carl", "Network"),
        ("i1", "Closed", "done", N, at("16:00"), N, N, "carl", "Network"),
        ("i2", "New", "wait", "internal", at("09:00"), at("10:00"), 3600.0, N, "Service Desk"),
        ("i2", "In Progress", "work", N, at("10:00"), at("11:00"), 3600.0, "dan", "Service Desk"),
        ("i2", "Resolved", "done", N, at("11:00"), at("12:00"), 3600.0, "dan", "Service Desk"),
        ("i2", "In Progress", "work", N, at("12:00"), N, N, "dan", "Service Desk"),
        ("i3", "New", "wait", "internal", at("09:00"), at("09:15"), 900.0, N, "Service Desk"),
        ("i3", "In Progress", "work", N, at("09:15"), at("10:15"), 3600.0, "eve", "Service Desk"),
        ("i3", "Resolved", "done", N, at("10:15"), at("11:15"), 3600.0, "eve", "Service Desk"),
        ("i3", "Closed", "done", N, at("11:15"), N, N, "eve", "Service Desk"),
    ]


def test_status_visits_split_queue_into_internal_and_external(store, tmp_path):
    run(store, tmp_path, STATUS, step_by="activity")
    assert rows(store, "SELECT DISTINCT step FROM visits") == [("In Progress",)]
    got = rows(
        store,
        "SELECT case_id, visit_no, ready_ts, start_ts, end_ts, queue_time_s, queue_internal_s, "
        "queue_external_s, process_time_s, resource, reassignments, in_process "
        "FROM visits ORDER BY case_id, seq",
    )
    N = None
    assert got == [
        # queued in New (internal) 30 min; worked 09:30-11:00, bob -> carl is one reassignment
        ("i1", 1, at("09:00"), at("09:30"), at("11:00"), 1800.0, 1800.0, 0.0, 5400.0, "carl", 1, False),
        # waited for the customer 2 h
        ("i1", 2, at("11:00"), at("13:00"), at("14:00"), 7200.0, 0.0, 7200.0, 3600.0, "carl", 0, False),
        # reopened: in Resolved 14:00-15:00 (with the customer: external), then worked 30 min
        ("i1", 3, at("14:00"), at("15:00"), at("15:30"), 3600.0, 0.0, 3600.0, 1800.0, "carl", 0, False),
        ("i2", 1, at("09:00"), at("10:00"), at("11:00"), 3600.0, 3600.0, 0.0, 3600.0, "dan", 0, False),
        # reopened (Resolved 11:00-12:00: external) and still in progress at the end of the log
        ("i2", 2, at("11:00"), at("12:00"), N, 3600.0, 0.0, 3600.0, N, "dan", 0, True),
        ("i3", 1, at("09:00"), at("09:15"), at("10:15"), 900.0, 900.0, 0.0, 3600.0, "eve", 0, False),
    ]


def test_status_queue_split_adds_up_to_the_queue_time(store, tmp_path):
    run(store, tmp_path, STATUS, step_by="activity")
    assert (
        rows(
            store,
            "SELECT case_id, visit_no FROM visits WHERE queue_time_s <> queue_internal_s + queue_external_s",
        )
        == []
    )


def test_status_cases_exit_at_the_first_entry_into_done_after_the_last_work(store, tmp_path):
    result = run(store, tmp_path, STATUS, step_by="activity")
    got = rows(
        store,
        "SELECT case_id, arrival_ts, exit_ts, lead_time_s, is_open, visits, rework_visits, "
        "is_first_pass, reassignments, handoffs FROM cases ORDER BY case_id",
    )
    assert got == [
        # 09:00 -> Resolved 15:30 (not the first Resolved at 14:00: it was reopened; not
        # Closed at 16:00: closing a resolved ticket does not extend the customer's wait); at
        # 10:30 the group changes Service Desk -> Network: one handoff, and bob -> carl comes
        # with it (a new team's assignee), so no reassignment within a team
        ("i1", at("09:00"), at("15:30"), 23400.0, False, 3, 2, False, 0, 1),
        # left Resolved at 12:00 and has not come back: open
        ("i2", at("09:00"), None, None, True, 2, 1, False, 0, 0),
        # Resolved 10:15, not Closed 11:15
        ("i3", at("09:00"), at("10:15"), 4500.0, False, 1, 0, True, 0, 0),
    ]
    assert (result.cases, result.open_cases, result.end_steps) == (3, 1, ["Closed", "Resolved"])
    summary = rows(
        store,
        "SELECT log_shape, completed_cases, lead_time_p50_s, flow_efficiency, "
        "first_pass_yield, end_activities, ends_inferred FROM stream_summary",
    )
    # process: i1 5400 + 3600 + 1800, i3 3600 = 14400 over 23400 + 4500 = 27900 s of lead time;
    # p50 of 23400 and 4500 = 13950
    assert summary == [("status", 2, 13950.0, pytest.approx(14400 / 27900), 0.5, "Closed, Resolved", False)]


def test_status_work_statuses_merged_into_one_step_are_one_visit(store, tmp_path):
    # Active and In Progress are the same step: the change between them is no new visit
    log = (
        "number,state,sys_updated_on\n"
        "i1,New,2026-03-02T09:00:00Z\n"
        "i1,Active,2026-03-02T09:30:00Z\n"
        "i1,In Progress,2026-03-02T10:00:00Z\n"
        "i1,Closed,2026-03-02T11:00:00Z\n"
    )
    run(store, tmp_path, log, log_shape="status", steps=Steps(merge={"Work": ["Active", "In Progress"]}))
    assert rows(store, "SELECT step, start_ts, end_ts, queue_time_s, process_time_s FROM visits") == [
        ("Work", at("09:30"), at("11:00"), 1800.0, 5400.0),
    ]
    assert rows(store, "SELECT lead_time_s FROM cases") == [(7200.0,)]


# ---------------------------------------------------------------- point log
#
# p1  Receive 09:00 (ann) | Check 10:00 (bob) | Approve 12:00 (bob)
# p2  Receive 09:00 (ann) | Check 09:30 (bob) | Check 11:00 (cat) | Approve 11:30 (bob)
# p3  Receive 10:00 (ann) | Check 11:00 (bob)
# p4  Receive 10:00 (ann) | Check 10:30 (bob)
# p5  Receive 13:00 (ann)
POINT = """case,activity,timestamp,resource
p1,Receive,2026-03-02T09:00:00Z,ann
p1,Check,2026-03-02T10:00:00Z,bob
p1,Approve,2026-03-02T12:00:00Z,bob
p2,Receive,2026-03-02T09:00:00Z,ann
p2,Check,2026-03-02T09:30:00Z,bob
p2,Check,2026-03-02T11:00:00Z,cat
p2,Approve,2026-03-02T11:30:00Z,bob
p3,Receive,2026-03-02T10:00:00Z,ann
p3,Check,2026-03-02T11:00:00Z,bob
p4,Receive,2026-03-02T10:00:00Z,ann
p4,Check,2026-03-02T10:30:00Z,bob
p5,Receive,2026-03-02T13:00:00Z,ann
"""


def test_point_visits_have_elapsed_time_only(store, tmp_path):
    result = run(store, tmp_path, POINT, end_activities=["Approve"])
    assert (result.log_shape, result.shape_detected) == ("point", True)
    got = rows(
        store,
        "SELECT case_id, step, visit_no, ready_ts, start_ts, end_ts, queue_time_s, "
        "process_time_s, elapsed_s, in_process FROM visits WHERE case_id IN ('p1', 'p2') "
        "ORDER BY case_id, seq",
    )
    N = None
    assert got == [
        ("p1", "Receive", 1, N, N, at("09:00"), N, N, N, False),
        ("p1", "Check", 1, at("09:00"), N, at("10:00"), N, N, 3600.0, False),
        ("p1", "Approve", 1, at("10:00"), N, at("12:00"), N, N, 7200.0, False),
        ("p2", "Receive", 1, N, N, at("09:00"), N, N, N, False),
        ("p2", "Check", 1, at("09:00"), N, at("09:30"), N, N, 1800.0, False),
        ("p2", "Check", 2, at("09:30"), N, at("11:00"), N, N, 5400.0, False),
        ("p2", "Approve", 1, at("11:00"), N, at("11:30"), N, N, 1800.0, False),
    ]
    # Check: elapsed [3600, 1800, 5400, 3600, 1800] -> mean 3240, median 3600; p2 visits twice -> FPY 3/4
    assert rows(
        store,
        "SELECT step, visits, cases, queue_time_mean_s, process_time_mean_s, elapsed_mean_s, "
        "elapsed_p50_s, first_pass_yield FROM step_metrics ORDER BY step",
    ) == [
        ("Approve", 2, 2, N, N, 4500.0, 4500.0, 1.0),
        ("Check", 5, 4, N, N, 3240.0, 3600.0, 0.75),
        ("Receive", 5, 5, N, N, N, N, 1.0),
    ]
    # the wait between two point visits is the later one's elapsed time
    assert rows(
        store,
        "SELECT from_step, to_step, count, cases, wait_mean_s FROM transitions ORDER BY from_step, to_step",
    ) == [
        ("Check", "Approve", 2, 2, 4500.0),
        ("Check", "Check", 1, 1, 5400.0),
        ("Receive", "Check", 4, 4, 2700.0),
    ]


# A pair of steps can come again in a case (rework). r1 A B A B: A->B twice; r2 A C B A B A B:
# A->B twice, both at later visits to B (its first visit came from C); r3 A B once.
#   A->B: 5 times in 3 cases; B->A: 3 times (r1 once, r2 twice) in 2; A->C and C->B once each
REPEATED_PAIRS = """case,activity,timestamp,resource
r1,A,2026-03-02T09:00:00Z,ann
r1,B,2026-03-02T09:10:00Z,bob
r1,A,2026-03-02T09:20:00Z,ann
r1,B,2026-03-02T09:30:00Z,bob
r2,A,2026-03-02T09:00:00Z,ann
r2,C,2026-03-02T09:10:00Z,cat
r2,B,2026-03-02T09:20:00Z,bob
r2,A,2026-03-02T09:30:00Z,ann
r2,B,2026-03-02T09:40:00Z,bob
r2,A,2026-03-02T09:50:00Z,ann
r2,B,2026-03-02T10:00:00Z,bob
r3,A,2026-03-02T09:00:00Z,ann
r3,B,2026-03-02T09:05:00Z,bob
"""


def test_transitions_count_a_case_once_however_often_its_pair_comes(store, tmp_path):
    run(store, tmp_path, REPEATED_PAIRS)
    got = rows(store, "SELECT from_step, to_step, count, cases FROM transitions ORDER BY from_step, to_step")
    assert got == [
        ("A", "B", 5, 3),
        ("A", "C", 1, 1),
        ("B", "A", 3, 2),
        ("C", "B", 1, 1),
    ]


def test_point_exits_at_configured_end_activities(store, tmp_path):
    result = run(store, tmp_path, POINT, end_activities=["Approve"])
    assert rows(store, "SELECT case_id, exit_ts, lead_time_s, is_open FROM cases ORDER BY case_id") == [
        ("p1", at("12:00"), 10800.0, False),
        ("p2", at("11:30"), 9000.0, False),
        ("p3", None, None, True),
        ("p4", None, None, True),
        ("p5", None, None, True),
    ]
    assert (result.end_steps, result.ends_inferred) == (["Approve"], False)
    # no process time is observed in a point log: flow efficiency is not known, not zero
    assert rows(store, "SELECT process_time_total_s, flow_efficiency, as_of FROM stream_summary") == [
        (None, None, at("13:00"))
    ]
    # handoffs between resources, as there is no team:
    # p1 ann>bob; p2 ann>bob, bob>cat, cat>bob; p3, p4 ann>bob
    assert rows(store, "SELECT case_id, handoffs FROM cases ORDER BY case_id") == [
        ("p1", 1),
        ("p2", 3),
        ("p3", 1),
        ("p4", 1),
        ("p5", 0),
    ]
    assert rows(store, "SELECT from_team, to_team, count, cases FROM handoffs ORDER BY ALL") == [
        ("ann", "bob", 4, 4),
        ("bob", "cat", 1, 1),
        ("cat", "bob", 1, 1),
    ]


def test_point_exits_at_inferred_end_steps(store, tmp_path):
    # Final steps: p1 Approve, p2 Approve, p3 Check, p4 Check, p5 Receive (5 cases).
    # Rule (end_steps.sql): a step ends cases when it is the final step of at least 5% of
    # all cases and of at least a quarter of the cases visiting it.
    #   Approve: final for 2 of 2 visiting -> end step
    #   Check:   final for 2 of 4 visiting -> end step
    #   Receive: final for 1 of 5 visiting (under a quarter) -> not an end step: p5 stays open
    result = run(store, tmp_path, POINT)
    assert (result.end_steps, result.ends_inferred) == (["Approve", "Check"], True)
    assert rows(store, "SELECT case_id, exit_ts, lead_time_s FROM cases ORDER BY case_id") == [
        ("p1", at("12:00"), 10800.0),
        ("p2", at("11:30"), 9000.0),
        ("p3", at("11:00"), 3600.0),
        ("p4", at("10:30"), 1800.0),
        ("p5", None, None),
    ]
    assert rows(store, "SELECT end_activities, ends_inferred FROM stream_summary") == [
        ("Approve, Check", True)
    ]


# ---------------------------------------------------------------- settings: steps, start, target


def test_steps_rename_merge_and_drop(store, tmp_path):
    # m1  Receive 09:00 | Notify 09:30 (dropped) | Check A 10:00 | Approve 11:00
    # m2  Receive 09:00 | Check B 09:45 | Approve 10:00
    log = (
        "case,activity,timestamp\n"
        "m1,Receive,2026-03-02T09:00:00Z\n"
        "m1,Notify,2026-03-02T09:30:00Z\n"
        "m1,Check A,2026-03-02T10:00:00Z\n"
        "m1,Approve,2026-03-02T11:00:00Z\n"
        "m2,Receive,2026-03-02T09:00:00Z\n"
        "m2,Check B,2026-03-02T09:45:00Z\n"
        "m2,Approve,2026-03-02T10:00:00Z\n"
    )
    steps = Steps(
        rename={"Receive": "Intake", "Approve": "Decision"},
        merge={"Check": ["Check A", "Check B"]},
        drop=["Notify"],
    )
    # the end activity is named as in the log; it ends the case under its step name
    result = run(store, tmp_path, log, steps=steps, end_activities=["Approve"])
    got = rows(store, "SELECT case_id, step, ready_ts, end_ts, elapsed_s FROM visits ORDER BY case_id, seq")
    assert got == [
        ("m1", "Intake", None, at("09:00"), None),
        ("m1", "Check", at("09:00"), at("10:00"), 3600.0),  # the dropped Notify does not split the wait
        ("m1", "Decision", at("10:00"), at("11:00"), 3600.0),
        ("m2", "Intake", None, at("09:00"), None),
        ("m2", "Check", at("09:00"), at("09:45"), 2700.0),
        ("m2", "Decision", at("09:45"), at("10:00"), 900.0),
    ]
    assert result.end_steps == ["Decision"]
    assert rows(store, "SELECT step, visits, cases FROM step_metrics ORDER BY step") == [
        ("Check", 2, 2),
        ("Decision", 2, 2),
        ("Intake", 2, 2),
    ]
    assert rows(store, "SELECT steps, cases, share FROM variants") == [("Intake > Check > Decision", 2, 1.0)]
    assert rows(store, "SELECT case_id, lead_time_s FROM cases ORDER BY case_id") == [
        ("m1", 7200.0),
        ("m2", 3600.0),
    ]


def test_arrival_at_the_first_configured_start_activity(store, tmp_path):
    # s1  Email 08:00 | Receive 09:00 | Receive 10:00 | Approve 11:00  -> arrives 09:00, first Receive
    # s2  Check 09:00 | Approve 10:00                                   -> no Receive: its first event
    log = (
        "case,activity,timestamp\n"
        "s1,Email,2026-03-02T08:00:00Z\n"
        "s1,Receive,2026-03-02T09:00:00Z\n"
        "s1,Receive,2026-03-02T10:00:00Z\n"
        "s1,Approve,2026-03-02T11:00:00Z\n"
        "s2,Check,2026-03-02T09:00:00Z\n"
        "s2,Approve,2026-03-02T10:00:00Z\n"
    )
    run(store, tmp_path, log, start_activities=["Receive"], end_activities=["Approve"])
    assert rows(store, "SELECT case_id, arrival_ts, exit_ts, lead_time_s FROM cases ORDER BY case_id") == [
        ("s1", at("09:00"), at("11:00"), 7200.0),
        ("s2", at("09:00"), at("10:00"), 3600.0),
    ]
    assert rows(store, "SELECT start_activities FROM stream_summary") == [("Receive",)]


def test_lead_time_target_breached_by_completed_and_by_open_cases(store, tmp_path):
    # target 2 days; as_of Thursday 2026-03-05 10:00
    # t1  Mon 09:00 -> Thu 09:00: 3 days, over          -> breached
    # t2  Mon 09:00 -> Wed 09:00: exactly 2 days        -> not over
    # t3  Mon 09:00, open: 3 days 1 h old at as_of      -> breached
    # t4  Wed 09:00, open: 1 day 1 h old at as_of       -> not yet
    log = (
        "case,activity,timestamp\n"
        "t1,Receive,2026-03-02T09:00:00Z\n"
        "t1,Approve,2026-03-05T09:00:00Z\n"
        "t2,Receive,2026-03-02T09:00:00Z\n"
        "t2,Approve,2026-03-04T09:00:00Z\n"
        "t3,Receive,2026-03-02T09:00:00Z\n"
        "t4,Receive,2026-03-04T09:00:00Z\n"
    )
    run(store, tmp_path, log, end_activities=["Approve"], lead_time_target="2d", as_of=at("10:00", day=5))
    assert rows(store, "SELECT case_id, is_open, target_breached FROM cases ORDER BY case_id") == [
        ("t1", False, True),
        ("t2", False, False),
        ("t3", True, True),
        ("t4", True, False),
    ]
    assert rows(store, "SELECT lead_time_target_s, target_breached, as_of FROM stream_summary") == [
        (172800.0, 2, at("10:00", day=5)),
    ]


def test_no_lead_time_target_breaches_nothing(store, tmp_path):
    run(
        store,
        tmp_path,
        "case,activity,timestamp\nt1,Receive,2026-03-02T09:00:00Z\nt1,Approve,2026-03-09T09:00:00Z\n",
        end_activities=["Approve"],
    )
    assert rows(store, "SELECT target_breached FROM cases") == [(None,)]
    assert rows(store, "SELECT lead_time_target_s FROM stream_summary") == [(None,)]


def test_empty_cells_are_missing_values_not_names(store, tmp_path):
    # e1  Register 09:00 (no lifecycle: a point visit) | Assess 10:00-11:00 started by nobody named,
    #     completed by bob | Decide 12:00 (team Decision). The stream has a team column, so owners
    #     are teams and a person never stands in for one: Decision is the first team e1 gets, no
    #     handoff (before issue 14: ann -> bob -> Decision, two).
    log = (
        "case,activity,lifecycle,timestamp,resource,team\n"
        "e1,Register,,2026-03-02T09:00:00Z,ann,\n"
        "e1,Assess,start,2026-03-02T10:00:00Z,,\n"
        "e1,Assess,complete,2026-03-02T11:00:00Z,bob,\n"
        "e1,Decide,,2026-03-02T12:00:00Z,bob,Decision\n"
    )
    run(store, tmp_path, log, end_activities=["Decide"])
    got = rows(store, "SELECT step, start_ts, end_ts, resource, team, reassignments FROM visits ORDER BY seq")
    assert got == [
        ("Register", None, at("09:00"), "ann", None, 0),
        ("Assess", at("10:00"), at("11:00"), "bob", None, 0),  # an empty start resource is no reassignment
        ("Decide", None, at("12:00"), "bob", "Decision", 0),
    ]
    assert rows(store, "SELECT lead_time_s, handoffs FROM cases") == [(10800.0, 0)]
    assert rows(store, "SELECT from_team, to_team FROM handoffs ORDER BY ALL") == []


def test_rolled_fpy_is_zero_when_a_step_never_passes_first_time(store, tmp_path):
    # k1  A 09:00 | A 10:00 | E 11:00: A's FPY is 0/1, E's 1/1 -> rolled FPY 0 x 1 = 0
    run(
        store,
        tmp_path,
        "case,activity,timestamp\nk1,A,2026-03-02T09:00:00Z\nk1,A,2026-03-02T10:00:00Z\n"
        "k1,E,2026-03-02T11:00:00Z\n",
        end_activities=["E"],
    )
    assert rows(store, "SELECT step, first_pass_yield FROM step_metrics ORDER BY step") == [
        ("A", 0.0),
        ("E", 1.0),
    ]
    assert rows(store, "SELECT first_pass_yield, rolled_fpy FROM stream_summary") == [(0.0, 0.0)]


def test_a_scheduled_event_is_no_point_visit(store, tmp_path):
    # k1  A scheduled 09:00, completed 10:00 | E 11:00: A is visited once, ending 10:00
    log = (
        "case,activity,lifecycle,timestamp\n"
        "k1,A,schedule,2026-03-02T09:00:00Z\n"
        "k1,A,complete,2026-03-02T10:00:00Z\n"
        "k1,E,complete,2026-03-02T11:00:00Z\n"
    )
    run(store, tmp_path, log, end_activities=["E"])
    assert rows(store, "SELECT step, end_ts FROM visits ORDER BY seq") == [
        ("A", at("10:00")),
        ("E", at("11:00")),
    ]


def test_names_the_flow_holds_as_numbers_keep_the_order_of_their_texts(store):
    """Activities and steps ride the flow as ENUMs (pipeline/engine.py enum_type): their order
    must be DuckDB's order of the texts, or min/max and tie-breaks would pick other rows."""
    import polars as pl

    from pipeline.engine import enum_type

    names = [
        "b",
        "B",
        "a b",
        "ab",
        "Zoë",
        "Zoe",
        "é",
        "e\u0301",
        "日本",
        "🙂",
        "it's",
        "",
        "a",
        "A1",
        "a10",
        "a9",
    ]
    enum = enum_type(pl.Series(names + [None]))
    got = rows(
        store, f"SELECT CAST(n AS {enum}) AS e FROM unnest($names) AS t(n) ORDER BY e", {"names": names}
    )
    assert [r[0] for r in got] == [
        r[0] for r in rows(store, "SELECT n FROM unnest(?) AS t(n) ORDER BY n", [names])
    ]
    assert enum_type(pl.Series([None], dtype=pl.String)) == "VARCHAR"
    assert enum_type(pl.Series([f"a{i}" for i in range(100_001)])) == "VARCHAR"


def test_a_team_and_a_resource_of_the_same_name_are_one_owner(store, tmp_path):
    """Resources and teams ride the flow as numbers from one list of both names, and the names
    come back as text, a resource "ann" and a team "ann" alike. ("abe" numbers the resources
    apart from the teams: with a list each, "ann" would be 2 and 1.)"""
    _, result = load_log(
        store,
        tmp_path,
        "case,activity,timestamp,resource,team\n"
        "c1,A,2026-03-02T09:00:00Z,ann,\n"
        "c1,B,2026-03-02T10:00:00Z,zed,ann\n"
        "c1,C,2026-03-02T11:00:00Z,bob,\n"
        "c2,A,2026-03-02T09:30:00Z,abe,\n",
    )
    # the stream has teams: owners are teams, and c1 has one (ann) all along: no handoff
    assert rows(store, "SELECT from_team, to_team, count FROM handoffs") == []
    assert rows(store, "SELECT case_id, handoffs FROM cases ORDER BY 1") == [("c1", 0), ("c2", 0)]
    assert rows(store, "SELECT step, resource, team FROM visits WHERE case_id = 'c1' ORDER BY seq") == [
        ("A", "ann", None),
        ("B", "zed", "ann"),
        ("C", "bob", None),
    ]
    assert rows(store, "SELECT step, resources, teams FROM step_metrics ORDER BY step") == [
        ("A", 2, None),
        ("B", 1, "ann"),
        ("C", 1, None),
    ]
