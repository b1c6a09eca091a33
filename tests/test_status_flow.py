"""Status logs (ticketing, claims): where a case exits, settings that act on statuses, and
steps by team ([flow] step_by). Every expected figure is worked out by hand beside it."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime

import pytest

from pipeline.errors import SettingsError
from pipeline.settings import Steps, render_settings, settings_from_dict
from tests.logs import load_log, rows


def at(hhmm: str, day: int = 2) -> datetime:
    hours, minutes = hhmm.split(":")
    return datetime(2026, 3, day, int(hours), int(minutes), tzinfo=UTC)


def run(store, tmp_path, log: str, **kw):
    kw.setdefault("log_shape", "status")
    return load_log(store, tmp_path, log, **kw)[1]


# ---------------------------------------------------------------- item 5: the exit
#
# c1  New 09:00 | In Progress 10:00 | Resolved 12:00 | Closed (auto, 5 days later) day 7 12:00
#     -> exits at Resolved 12:00: lead 3 h = 10800 (not 5 d 3 h)
# c2  New 09:00 | In Progress 10:00 | Resolved 11:00 | In Progress 13:00 (reopened) |
#     Resolved 14:00 | Closed 15:00 -> the first done after the last work: Resolved 14:00,
#     lead 5 h = 18000
# c3  New 09:00 | In Progress 10:00 | Resolved 11:00 | Awaiting Customer 12:00
#     -> its last status is not done: open
# c4  New 09:00 | In Progress 10:00 | Closed 11:00 (never resolved) -> exits 11:00, lead 7200
TICKETS = """number,state,sys_updated_on
c1,New,2026-03-02T09:00:00Z
c1,In Progress,2026-03-02T10:00:00Z
c1,Resolved,2026-03-02T12:00:00Z
c1,Closed,2026-03-07T12:00:00Z
c2,New,2026-03-02T09:00:00Z
c2,In Progress,2026-03-02T10:00:00Z
c2,Resolved,2026-03-02T11:00:00Z
c2,In Progress,2026-03-02T13:00:00Z
c2,Resolved,2026-03-02T14:00:00Z
c2,Closed,2026-03-02T15:00:00Z
c3,New,2026-03-02T09:00:00Z
c3,In Progress,2026-03-02T10:00:00Z
c3,Resolved,2026-03-02T11:00:00Z
c3,Awaiting Customer,2026-03-02T12:00:00Z
c4,New,2026-03-02T09:00:00Z
c4,In Progress,2026-03-02T10:00:00Z
c4,Closed,2026-03-02T11:00:00Z
"""


def cases(store):
    return rows(store, "SELECT case_id, exit_ts, lead_time_s, is_open FROM cases ORDER BY case_id")


def test_a_case_exits_at_its_first_entry_into_done_after_its_last_work(store, tmp_path):
    result = run(store, tmp_path, TICKETS)
    assert cases(store) == [
        ("c1", at("12:00"), 10800.0, False),  # resolved day 2; Closed on day 7 does not extend it
        ("c2", at("14:00"), 18000.0, False),  # reopened at 13:00: the second Resolved counts
        ("c3", None, None, True),  # resolved, then waiting on the customer: open
        ("c4", at("11:00"), 7200.0, False),
    ]
    assert result.end_steps == ["Closed", "Resolved"]  # every done status ends a case
    # the Closed period after c1's exit is still a period, and is not an event "after exit"
    assert rows(store, "SELECT count(*) FROM status_periods WHERE status = 'Closed'") == [(3,)]
    assert rows(store, "SELECT rule FROM quality_findings WHERE rule = 'events_after_exit'") == []


# ---------------------------------------------------------------- item 4: settings that act


def test_end_activities_are_the_only_statuses_that_end_a_case(store, tmp_path):
    result = run(store, tmp_path, TICKETS, end_activities=["Closed"])
    # Resolved no longer ends anything: each case runs to its Closed
    assert cases(store) == [
        ("c1", at("12:00", 7), 5 * 86400 + 10800.0, False),  # 09:00 day 2 -> 12:00 day 7
        ("c2", at("15:00"), 21600.0, False),
        ("c3", None, None, True),
        ("c4", at("11:00"), 7200.0, False),
    ]
    assert result.end_steps == ["Closed"]
    assert rows(store, "SELECT end_activities, ends_inferred FROM stream_summary") == [("Closed", False)]


def test_end_activities_resolved_leaves_a_case_closed_unresolved_open(store, tmp_path):
    run(store, tmp_path, TICKETS, end_activities=["Resolved"])
    # c4 went In Progress -> Closed: no Resolved in its final done stretch, so it is open
    assert cases(store) == [
        ("c1", at("12:00"), 10800.0, False),
        ("c2", at("14:00"), 18000.0, False),
        ("c3", None, None, True),
        ("c4", None, None, True),
    ]


@pytest.mark.parametrize(
    ("end", "message"),
    [
        (["In Progress"], "'In Progress' is a work status"),
        (["Resolvd"], "'Resolvd' is no status of this log"),
    ],
)
def test_end_activities_that_could_end_nothing_are_refused(store, tmp_path, end, message):
    with pytest.raises(SettingsError, match=message):
        run(store, tmp_path, TICKETS, end_activities=end)


def test_a_dropped_status_starts_no_period_and_its_time_stays_in_the_status_before(store, tmp_path):
    # d1 New 09:00 | In Progress 10:00 | Comment 10:30 | Resolved 12:00
    log = TICKETS + (
        "d1,New,2026-03-02T09:00:00Z\n"
        "d1,In Progress,2026-03-02T10:00:00Z\n"
        "d1,Comment,2026-03-02T10:30:00Z\n"
        "d1,Resolved,2026-03-02T12:00:00Z\n"
    )
    run(store, tmp_path, log, steps=Steps(drop=["Closed", "Comment"]))
    # d1's work runs 10:00-12:00 in one period (Comment is no status change): 7200 s of process
    assert rows(
        store,
        "SELECT status, entered_ts, left_ts FROM status_periods WHERE case_id = 'd1' ORDER BY entered_ts",
    ) == [
        ("New", at("09:00"), at("10:00")),
        ("In Progress", at("10:00"), at("12:00")),
        ("Resolved", at("12:00"), None),
    ]
    assert rows(store, "SELECT process_time_s FROM visits WHERE case_id = 'd1'") == [(7200.0,)]
    # no Closed periods at all; c1 stays in Resolved from 12:00 (left_ts: none after it)
    assert rows(store, "SELECT count(*) FROM status_periods WHERE status IN ('Closed', 'Comment')") == [(0,)]
    assert rows(store, "SELECT left_ts FROM status_periods WHERE case_id = 'c1' AND status = 'Resolved'") == [
        (None,)
    ]
    # c4's Closed is ignored: its last status is In Progress, so it is open (and in process)
    assert cases(store)[3] == ("c4", None, None, True)
    assert rows(store, "SELECT in_process FROM visits WHERE case_id = 'c4'") == [(True,)]


def test_merged_statuses_are_one_status(store, tmp_path):
    run(store, tmp_path, TICKETS, steps=Steps(merge={"Done": ["Resolved", "Closed"]}))
    # c1: Resolved 12:00 and Closed day 7 are one period "Done" from 12:00 on
    assert rows(
        store,
        "SELECT status, status_class, entered_ts, left_ts FROM status_periods WHERE case_id = 'c1'"
        " ORDER BY entered_ts",
    ) == [
        ("New", "wait", at("09:00"), at("10:00")),
        ("In Progress", "work", at("10:00"), at("12:00")),
        ("Done", "done", at("12:00"), None),
    ]
    # c2: Done 11:00-13:00, then Done again 14:00 (one period, Resolved and Closed alike)
    assert rows(store, "SELECT count(*) FROM status_periods WHERE case_id = 'c2' AND status = 'Done'") == [
        (2,)
    ]
    assert cases(store)[:2] == [("c1", at("12:00"), 10800.0, False), ("c2", at("14:00"), 18000.0, False)]


def test_merged_statuses_of_different_classes_are_refused_unless_the_settings_class_them(store, tmp_path):
    with pytest.raises(SettingsError, match=r"'Queue' joins statuses of different classes"):
        run(
            store,
            tmp_path,
            TICKETS,
            steps=Steps(merge={"Queue": ["New", "Awaiting Customer", "In Progress"]}),
        )
    run(store, tmp_path, TICKETS, steps=Steps(merge={"Queue": ["New", "Awaiting Customer"]}))
    assert rows(store, "SELECT DISTINCT status_class FROM status_periods WHERE status = 'Queue'") == [
        ("wait",)
    ]


def test_end_activities_may_name_the_merged_status(store, tmp_path):
    result = run(
        store, tmp_path, TICKETS, steps=Steps(merge={"Done": ["Resolved", "Closed"]}), end_activities=["Done"]
    )
    assert result.end_steps == ["Closed", "Resolved"]
    assert cases(store)[0] == ("c1", at("12:00"), 10800.0, False)


def test_renamed_statuses_carry_their_new_name_in_periods_and_visits(store, tmp_path):
    run(store, tmp_path, TICKETS, steps=Steps(rename={"In Progress": "Work", "New": "Queued"}))
    assert rows(store, "SELECT DISTINCT step FROM visits") == [("Work",)]
    assert rows(store, "SELECT status FROM status_periods WHERE case_id = 'c4' ORDER BY entered_ts") == [
        ("Queued",),
        ("Work",),
        ("Closed",),
    ]


def test_a_start_activity_moves_the_arrival(store, tmp_path):
    run(store, tmp_path, TICKETS, start_activities=["In Progress"])
    # c1 arrives at In Progress 10:00, exits at Resolved 12:00: 7200
    assert cases(store)[0] == ("c1", at("12:00"), 7200.0, False)


# ---------------------------------------------------------------- item 6: steps by team
#
# t1  New 09:00 SD | In Progress 09:30 SD ann | Assigned 10:00 NET | In Progress 11:00 NET bob
#     | Awaiting Vendor 12:00 NET bob | In Progress 13:00 NET bob | Resolved 14:00 NET
#     Service Desk 09:00-10:00: New 30 min (internal), work 30 min
#       -> ready 09:00, start 09:30, end 10:00: queue 1800 (internal), process 1800
#     Network 10:00-14:00: Assigned 1 h (internal), work 1 h, Awaiting Vendor 1 h (external),
#       work 1 h -> ready 10:00, start 12:00, end 14:00: queue 7200 (3600 + 3600), process 7200
#     exit Resolved 14:00: lead 5 h = 18000 = 1800 + 1800 + 7200 + 7200
# t2  New 09:00 SD | In Progress 09:15 SD ann | In Progress 09:45 NET bob | In Progress 10:45
#     SD ann | Resolved 11:00 SD | In Progress 12:00 SD ann (reopen) | Resolved 12:30 | Closed 13:00
#     Service Desk 09:00-09:45: queue 900, process 1800
#     Network 09:45-10:45: process 3600
#     Service Desk 10:45-11:00: process 900, back to a team that had the case: rework
#     (Resolved 11:00-12:00: no team's visit)
#     Service Desk 12:00-12:30: process 1800; ready 11:00 (end of the visit before), so its
#       queue is the hour in Resolved, external (the customer had it): rework again
#     exit Resolved 12:30 (Closed 13:00 does not extend it): lead 3.5 h = 12600
# t3  New 09:00 (no team) | In Progress 10:00 SD cat -> open, in process at the Service Desk
#     (no team) 09:00-10:00: queue 3600, process 0; Service Desk from 10:00, in process
TEAMS = """number,state,sys_updated_on,assigned_to,assignment_group
t1,New,2026-03-02T09:00:00Z,,Service Desk
t1,In Progress,2026-03-02T09:30:00Z,ann,Service Desk
t1,Assigned,2026-03-02T10:00:00Z,,Network
t1,In Progress,2026-03-02T11:00:00Z,bob,Network
t1,Awaiting Vendor,2026-03-02T12:00:00Z,bob,Network
t1,In Progress,2026-03-02T13:00:00Z,bob,Network
t1,Resolved,2026-03-02T14:00:00Z,bob,Network
t2,New,2026-03-02T09:00:00Z,,Service Desk
t2,In Progress,2026-03-02T09:15:00Z,ann,Service Desk
t2,In Progress,2026-03-02T09:45:00Z,bob,Network
t2,In Progress,2026-03-02T10:45:00Z,ann,Service Desk
t2,Resolved,2026-03-02T11:00:00Z,ann,Service Desk
t2,In Progress,2026-03-02T12:00:00Z,ann,Service Desk
t2,Resolved,2026-03-02T12:30:00Z,ann,Service Desk
t2,Closed,2026-03-02T13:00:00Z,ann,Service Desk
t3,New,2026-03-02T09:00:00Z,,
t3,In Progress,2026-03-02T10:00:00Z,cat,Service Desk
"""

NT, SD, NET = "(no team)", "Service Desk", "Network"


def test_auto_maps_a_status_log_with_teams_and_one_work_status_by_team(store, tmp_path):
    result = run(store, tmp_path, TEAMS)
    assert result.step_by == "team"
    assert result.step_by_reason.startswith("auto: a status log with a team column and 1 work status")
    assert rows(store, "SELECT step_by FROM stream_summary") == [("team",)]
    assert "steps by team (auto:" in rows(store, "SELECT message FROM runs WHERE kind = 'compute'")[0][0]
    N = None
    assert rows(
        store,
        "SELECT case_id, step, visit_no, ready_ts, start_ts, end_ts, queue_time_s, queue_internal_s, "
        "queue_external_s, process_time_s, resource, is_rework, in_process FROM visits ORDER BY case_id, seq",
    ) == [
        (
            "t1",
            SD,
            1,
            at("09:00"),
            at("09:30"),
            at("10:00"),
            1800.0,
            1800.0,
            0.0,
            1800.0,
            "ann",
            False,
            False,
        ),
        (
            "t1",
            NET,
            1,
            at("10:00"),
            at("12:00"),
            at("14:00"),
            7200.0,
            3600.0,
            3600.0,
            7200.0,
            "bob",
            False,
            False,
        ),
        ("t2", SD, 1, at("09:00"), at("09:15"), at("09:45"), 900.0, 900.0, 0.0, 1800.0, "ann", False, False),
        ("t2", NET, 1, at("09:45"), at("09:45"), at("10:45"), 0.0, 0.0, 0.0, 3600.0, "bob", False, False),
        ("t2", SD, 2, at("10:45"), at("10:45"), at("11:00"), 0.0, 0.0, 0.0, 900.0, "ann", True, False),
        ("t2", SD, 3, at("11:00"), at("12:00"), at("12:30"), 3600.0, 0.0, 3600.0, 1800.0, "ann", True, False),
        ("t3", NT, 1, at("09:00"), at("10:00"), at("10:00"), 3600.0, 3600.0, 0.0, 0.0, N, False, False),
        ("t3", SD, 1, at("10:00"), at("10:00"), N, 0.0, 0.0, 0.0, N, "cat", False, True),
    ]
    assert rows(
        store,
        "SELECT case_id, exit_ts, lead_time_s, rework_visits, is_first_pass FROM cases ORDER BY case_id",
    ) == [
        ("t1", at("14:00"), 18000.0, 0, True),
        ("t2", at("12:30"), 12600.0, 2, False),
        ("t3", None, None, 0, True),
    ]
    assert rows(store, "SELECT steps, cases FROM variants ORDER BY steps") == [
        ("Service Desk > Network", 1),
        ("Service Desk > Network > Service Desk > Service Desk", 1),
    ]
    # completed cases: t1 first pass, t2 not: FPY 1/2
    assert rows(store, "SELECT first_pass_yield FROM stream_summary") == [(0.5,)]


def test_team_visits_add_up_to_the_lead_time_of_completed_cases(store, tmp_path):
    run(store, tmp_path, TEAMS)
    assert (
        rows(
            store,
            "SELECT c.case_id FROM cases AS c JOIN visits AS v USING (case_id) WHERE NOT c.is_open "
            "GROUP BY c.case_id, c.lead_time_s "
            "HAVING sum(v.queue_time_s + v.process_time_s) <> c.lead_time_s",
        )
        == []
    )


def test_step_by_team_activity_names_steps_team_and_work_status(store, tmp_path):
    result = run(store, tmp_path, TEAMS, step_by="team_activity")
    assert (result.step_by, result.step_by_reason) == ("team_activity", "from settings")
    # a change of team inside In Progress starts a new visit (t2 at 09:45 and 10:45)
    assert rows(store, "SELECT step, start_ts, end_ts FROM visits WHERE case_id = 't2' ORDER BY seq") == [
        ("Service Desk / In Progress", at("09:15"), at("09:45")),
        ("Network / In Progress", at("09:45"), at("10:45")),
        ("Service Desk / In Progress", at("10:45"), at("11:00")),
        ("Service Desk / In Progress", at("12:00"), at("12:30")),
    ]


def test_step_by_activity_keeps_work_statuses_as_steps(store, tmp_path):
    result = run(store, tmp_path, TEAMS, step_by="activity")
    assert (result.step_by, result.step_by_reason) == ("activity", "from settings")
    assert rows(store, "SELECT DISTINCT step FROM visits") == [("In Progress",)]


def test_auto_keeps_activity_steps_with_three_work_statuses_or_no_team(store, tmp_path):
    log = TEAMS + "t4,Review,2026-03-02T09:00:00Z,ann,Quality\nt4,Testing,2026-03-02T09:30:00Z,ann,Quality\n"
    result = run(store, tmp_path, log, status_classes={"Review": "work", "Testing": "work"})
    assert (result.step_by, result.step_by_reason) == ("activity", "auto: 3 work statuses")
    assert run(store, tmp_path, TICKETS, name="u").step_by_reason == "auto: no event has a team"


def test_team_steps_are_refused_where_there_is_no_team_or_no_status_log(store, tmp_path):
    with pytest.raises(SettingsError, match="no event of the stream has a team"):
        run(store, tmp_path, TICKETS, step_by="team")
    point = (
        "case,activity,timestamp,team\np1,Receive,2026-03-02T09:00:00Z,A\np1,Check,2026-03-02T10:00:00Z,B\n"
    )
    with pytest.raises(SettingsError, match="this log is point"):
        run(store, tmp_path, point, name="p", log_shape="point", step_by="team")


def test_step_by_is_validated_and_written_back():
    base = {"stream": {"name": "s"}, "source": {"path": "x.csv"}}
    with pytest.raises(SettingsError, match=r"\[flow\] step_by = 'teams': expected one of auto, activity"):
        settings_from_dict(base | {"flow": {"step_by": "teams"}})
    settings = settings_from_dict(base | {"flow": {"step_by": "team"}})
    assert settings.step_by == "team"
    assert settings_from_dict(tomllib.loads(render_settings(settings))).step_by == "team"
    assert settings_from_dict(base).step_by == "auto"


def test_an_open_case_waiting_inside_a_team_is_waiting_at_that_team(store, tmp_path):
    # t4 New 09:00 SD | In Progress 09:30 SD ann | Awaiting Customer 10:00 SD ann, still there
    # t5 New 09:00 SD | In Progress 11:00 SD | Resolved 12:00 SD: as_of 12:00, lead 3 h
    # t4 is at the Service Desk, waiting on the customer: current step the team, state waiting,
    # in that team since it got the case at 09:00: 3 h. (Quiet since 10:00, 2 h: under the p99
    # lead time of 3 h, not stale.)
    log = """number,state,sys_updated_on,assigned_to,assignment_group
t4,New,2026-03-02T09:00:00Z,,Service Desk
t4,In Progress,2026-03-02T09:30:00Z,ann,Service Desk
t4,Awaiting Customer,2026-03-02T10:00:00Z,ann,Service Desk
t5,New,2026-03-02T09:00:00Z,,Service Desk
t5,In Progress,2026-03-02T11:00:00Z,,Service Desk
t5,Resolved,2026-03-02T12:00:00Z,,Service Desk
"""
    assert run(store, tmp_path, log).step_by == "team"
    assert rows(store, "SELECT case_id, current_step, current_state, time_in_step_s FROM aging_wip") == [
        ("t4", SD, "waiting", 10800.0)
    ]
