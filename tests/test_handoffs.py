"""Handoffs and reassignments (handoff_pairs.sql), boundary markers (boundary_markers.sql)
and the cross-check with a log's own reassignment counter (handoff_counter.sql), on tiny
logs drawn here with every count worked out by hand. Times are UTC on 2026-03-02.
"""

from __future__ import annotations

from pipeline.flow import compute_flow
from pipeline.store import open_store
from pipeline.streams import discover
from tests.logs import load_log, rows


def day(text: str) -> str:
    """The log with 'HH:MM' times written out in full."""
    lines = text.strip().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        fields = line.split(",")
        fields = [f"2026-03-02T{f}:00Z" if len(f) == 5 and f[2] == ":" else f for f in fields]
        out.append(",".join(fields))
    return "\n".join(out) + "\n"


def findings(con) -> dict[str, tuple]:
    return {
        r[0]: r[1:] for r in rows(con, "SELECT rule, severity, count, example, detail FROM quality_findings")
    }


# ---------------------------------------------------------------- status logs: between events
#
# i1  New 09:00 (Service Desk) | In Progress 09:10 ann (SD) | 09:20 bob (SD): ann -> bob within
#     the Service Desk, a reassignment | New 09:30, no team, no assignee: skipped (the team is
#     still SD) | New 09:40 Network: a handoff SD -> Network, in a wait status | In Progress
#     10:00 carl (Network): bob -> carl comes with the new team, no reassignment | Resolved
#     -> 1 handoff, 1 reassignment
# i2  New 09:00 (SD) | In Progress 09:30 ann (SD) | 10:00 no assignee, Network: handoff SD ->
#     Network | 10:30 dan (Network): ann was of SD, no reassignment | 11:00 erin (Network):
#     dan -> erin, a reassignment | 11:30 no assignee, SD: handoff Network -> SD | Resolved
#     12:00 ann (SD): erin was of Network, no reassignment
#     -> 2 handoffs, 1 reassignment. All of i2's In Progress rows are one visit: the rule
#     between visits saw no handoff in it.
# i3  New 09:00 (SD) | In Progress 09:05 ann (SD) | Resolved 10:00 ann (SD) -> 0, 0
STATUS = day("""
number,state,sys_updated_on,assigned_to,assignment_group
i1,New,09:00,,Service Desk
i1,In Progress,09:10,ann,Service Desk
i1,In Progress,09:20,bob,Service Desk
i1,New,09:30,,
i1,New,09:40,,Network
i1,In Progress,10:00,carl,Network
i1,Resolved,11:00,carl,Network
i2,New,09:00,,Service Desk
i2,In Progress,09:30,ann,Service Desk
i2,In Progress,10:00,,Network
i2,In Progress,10:30,dan,Network
i2,In Progress,11:00,erin,Network
i2,In Progress,11:30,,Service Desk
i2,Resolved,12:00,ann,Service Desk
i3,New,09:00,,Service Desk
i3,In Progress,09:05,ann,Service Desk
i3,Resolved,10:00,ann,Service Desk
""")


def test_status_log_every_change_of_team_between_events_is_a_handoff(store, tmp_path):
    _, result = load_log(store, tmp_path, STATUS)
    assert result.log_shape == "status"
    assert rows(store, "SELECT case_id, handoffs, reassignments FROM cases ORDER BY case_id") == [
        ("i1", 1, 1),
        ("i2", 2, 1),
        ("i3", 0, 0),
    ]
    assert rows(store, "SELECT from_team, to_team, count, cases FROM handoffs ORDER BY ALL") == [
        ("Network", "Service Desk", 1, 1),
        ("Service Desk", "Network", 2, 2),
    ]
    # 3 handoffs over 3 cases
    assert rows(store, "SELECT handoffs_per_case FROM stream_summary") == [(1.0,)]


# j1: ann -> bob in In Progress, and no team anywhere: the resource is the owner, so that is
# a handoff (the rule between visits counted it as a reassignment within the visit); j2
# stays with ann.
NO_TEAM = day("""
number,state,sys_updated_on,assigned_to
j1,New,09:00,
j1,In Progress,09:10,ann
j1,In Progress,09:20,bob
j1,Resolved,09:30,bob
j2,New,09:00,ann
j2,In Progress,09:30,ann
j2,Resolved,10:00,ann
""")


def test_status_log_with_no_team_hands_off_between_resources(store, tmp_path):
    load_log(store, tmp_path, NO_TEAM)
    assert rows(store, "SELECT case_id, handoffs, reassignments FROM cases ORDER BY case_id") == [
        ("j1", 1, 0),
        ("j2", 0, 0),
    ]
    assert rows(store, "SELECT from_team, to_team, count, cases FROM handoffs") == [("ann", "bob", 1, 1)]


# ---------------------------------------------------------------- the log's own counter
#
# STATUS with ServiceNow's reassignment_count: i1 reaches 1, i2 2, i3 0: 3 in all, and the
# flow counts 1 + 2 + 0 = 3 handoffs: they agree.
COUNTED = day("""
number,state,sys_updated_on,assigned_to,assignment_group,reassignment_count
i1,New,09:00,,Service Desk,0
i1,In Progress,09:10,ann,Service Desk,0
i1,New,09:40,,Network,1
i1,Resolved,11:00,carl,Network,1
i2,New,09:00,,Service Desk,0
i2,In Progress,10:00,,Network,1
i2,In Progress,11:30,,Service Desk,2
i2,Resolved,12:00,ann,Service Desk,2
i3,New,09:00,,Service Desk,0
i3,Resolved,10:00,ann,Service Desk,0
""")


def test_a_reassignment_counter_that_agrees_is_reported_as_checked(store, tmp_path):
    load_log(store, tmp_path, COUNTED)
    severity, count, example, detail = findings(store)["handoff_crosscheck"]
    assert (severity, count, example) == ("info", 3, "i1")
    assert "reassignment_count counts 3 reassignments in 3 cases (1.00 per case)" in detail
    assert "the flow counts 3 handoffs (1.00 per case)" in detail
    assert "agree within 10%" in detail


# k1's counter says 3 and k2's 1 (4 in all), but both stay with the Service Desk: the flow
# counts 0 handoffs, far more than 10% off the column's 4.
MISCOUNTED = day("""
number,state,sys_updated_on,assigned_to,assignment_group,Reassignment Count
k1,New,09:00,,Service Desk,0
k1,In Progress,09:30,ann,Service Desk,3
k1,Resolved,10:00,ann,Service Desk,3
k2,New,09:00,,Service Desk,0
k2,Resolved,10:00,bob,Service Desk,1
""")


def test_a_reassignment_counter_that_disagrees_is_a_warning_naming_both_figures(store, tmp_path):
    load_log(store, tmp_path, MISCOUNTED)
    severity, count, example, detail = findings(store)["handoff_crosscheck"]
    assert (severity, count, example) == ("warning", 2, "k1")
    assert "Reassignment Count counts 4 reassignments in 2 cases (2.00 per case)" in detail
    assert "the flow counts 0 handoffs (0.00 per case)" in detail
    assert "differ by more than 10%" in detail


def test_no_counter_column_no_crosscheck(store, tmp_path):
    load_log(store, tmp_path, STATUS)
    assert "handoff_crosscheck" not in findings(store)


# ---------------------------------------------------------------- boundary markers
#
# Point log; owner = team, else resource. Every case opens with Start (resource "Start", the
# same instant as Register) and closes with End (resource "End").
#   p1  Start 09:00 | Register 09:00 ann, Intake | Assess 10:00 bob, Assessment | End 10:00
#   p2  Start 09:00 | Register 09:00 ann, Intake | End 09:30
#   p3  Start 09:00 | Register 09:00 cat, Intake | Assess 11:00 bob, Assessment | End 11:00
# Between visits, counting the markers: p1 Start>Intake>Assessment>End 3, p2 2, p3 3 = 8.
# Without them: p1 Intake > Assessment 1, p2 0, p3 1 = 2.
POINT_MARKERS = day("""
case,activity,timestamp,resource,team
p1,Start,09:00,Start,
p1,Register,09:00,ann,Intake
p1,Assess,10:00,bob,Assessment
p1,End,10:00,End,
p2,Start,09:00,Start,
p2,Register,09:00,ann,Intake
p2,End,09:30,End,
p3,Start,09:00,Start,
p3,Register,09:00,cat,Intake
p3,Assess,11:00,bob,Assessment
p3,End,11:00,End,
""")


def test_point_log_start_and_end_markers_make_no_handoffs(store, tmp_path):
    _, result = load_log(store, tmp_path, POINT_MARKERS)
    assert result.log_shape == "point"
    assert rows(store, "SELECT case_id, handoffs FROM cases ORDER BY case_id") == [
        ("p1", 1),
        ("p2", 0),
        ("p3", 1),
    ]
    assert rows(store, "SELECT from_team, to_team, count, cases FROM handoffs") == [
        ("Intake", "Assessment", 2, 2)
    ]
    severity, count, example, detail = findings(store)["boundary_markers"]
    # 3 Start and 3 End events left out. Start: at the instant of Register in all 3 cases,
    # and by "Start" (its own name); End: by "End", at the instant of Assess in only 2 of 3
    assert (severity, count, example) == ("info", 6, "p1")
    assert detail == (
        "artificial start/end activities left out of handoffs and reassignments: "
        "Start (start: first event of 3 of 3 cases, at the same instant as the next event in 3 of 3, "
        "by a pseudo-resource or team in 3), "
        "End (end: last event of 3 of 3 cases, by a pseudo-resource or team in 3); "
        "they stay on the map as steps ([steps] drop takes them off)"
    )
    assert rows(store, "SELECT count(*) FROM visits WHERE step IN ('Start', 'End')") == [(6,)]


# Status log: every ticket opens and closes with a status by "System" of team "System".
#   m1  Start 09:00 System | New 09:00 SD | In Progress 09:30 ann SD | Resolved 10:00 ann SD | End
#   m2  Start | New 09:00 SD | In Progress 09:20 carl Network | Resolved 10:00 carl Network | End
#   m3  Start | New 09:00 SD | Resolved 09:45 ann SD | End 09:45
# With the markers: m1 System>SD>System 2, m2 System>SD>Network>System 3, m3 2 = 7.
# Without: m1 0, m2 SD > Network 1, m3 0. No reassignment: every new assignee comes with a
# new team (System -> SD ann; carl with Network), none within a team.
STATUS_MARKERS = day("""
number,state,sys_updated_on,assigned_to,assignment_group
m1,Start,09:00,System,System
m1,New,09:00,,Service Desk
m1,In Progress,09:30,ann,Service Desk
m1,Resolved,10:00,ann,Service Desk
m1,End,10:00,System,System
m2,Start,09:00,System,System
m2,New,09:00,,Service Desk
m2,In Progress,09:20,carl,Network
m2,Resolved,10:00,carl,Network
m2,End,10:00,System,System
m3,Start,09:00,System,System
m3,New,09:00,,Service Desk
m3,Resolved,09:45,ann,Service Desk
m3,End,09:45,System,System
""")


def test_status_log_markers_by_system_make_no_handoffs(store, tmp_path):
    load_log(
        store, tmp_path, STATUS_MARKERS, log_shape="status", status_classes={"Start": "wait", "End": "done"}
    )
    assert rows(store, "SELECT case_id, handoffs, reassignments FROM cases ORDER BY case_id") == [
        ("m1", 0, 0),
        ("m2", 1, 0),
        ("m3", 0, 0),
    ]
    assert rows(store, "SELECT from_team, to_team, count, cases FROM handoffs") == [
        ("Service Desk", "Network", 1, 1)
    ]
    _, count, _, detail = findings(store)["boundary_markers"]
    assert count == 6
    assert (
        "Start (start: first event of 3 of 3 cases" in detail and "End (end: last event of 3 of 3" in detail
    )


# Interval log: each case opens with Begin, started and completed by "bot" at the instant
# Register starts. "bot" is no pseudo-name: Begin is a marker by time alone.
#   c1  Begin 09:00-09:00 bot | Register 09:00-09:30 ann Intake | Assess 10:00-11:00 bob Assessment
#   c2  Begin 09:00-09:00 bot | Register 09:00-09:20 ann Intake | Assess 10:00-10:30 eve Assessment
#   c3  Begin 09:00-09:00 bot | Register 09:00-09:10 cat Intake
# With Begin: bot>Intake>Assessment 2, 2, bot>Intake 1 = 5; without: 1, 1, 0.
INTERVAL_MARKERS = day("""
case,activity,lifecycle,timestamp,resource,team
c1,Begin,start,09:00,bot,
c1,Begin,complete,09:00,bot,
c1,Register,start,09:00,ann,Intake
c1,Register,complete,09:30,ann,Intake
c1,Assess,start,10:00,bob,Assessment
c1,Assess,complete,11:00,bob,Assessment
c2,Begin,start,09:00,bot,
c2,Begin,complete,09:00,bot,
c2,Register,start,09:00,ann,Intake
c2,Register,complete,09:20,ann,Intake
c2,Assess,start,10:00,eve,Assessment
c2,Assess,complete,10:30,eve,Assessment
c3,Begin,start,09:00,bot,
c3,Begin,complete,09:00,bot,
c3,Register,start,09:00,cat,Intake
c3,Register,complete,09:10,cat,Intake
""")


def test_interval_log_zero_time_start_marker_makes_no_handoffs(store, tmp_path):
    _, result = load_log(store, tmp_path, INTERVAL_MARKERS)
    assert result.log_shape == "interval"
    assert rows(store, "SELECT case_id, handoffs FROM cases ORDER BY case_id") == [
        ("c1", 1),
        ("c2", 1),
        ("c3", 0),
    ]
    assert rows(store, "SELECT from_team, to_team, count FROM handoffs") == [("Intake", "Assessment", 2)]
    _, count, _, detail = findings(store)["boundary_markers"]
    assert count == 3
    assert (
        "Begin (start: first event of 3 of 3 cases, at the same instant as the next event in 3 of 3)"
        in detail
    )


# Every case opens with Register, but it takes time (the next event is an hour later) and is
# done by a person of a team: no marker, and its handoff counts.
#   r1  Register 09:00 ann Intake | Assess 10:00 bob Assessment       1 handoff
#   r2  Register 09:00 ann Intake | Assess 11:00 bob Assessment       1
#   r3  Register 09:00 cat Intake | Decide 10:00 dan Intake           0
NO_MARKERS = day("""
case,activity,timestamp,resource,team
r1,Register,09:00,ann,Intake
r1,Assess,10:00,bob,Assessment
r2,Register,09:00,ann,Intake
r2,Assess,11:00,bob,Assessment
r3,Register,09:00,cat,Intake
r3,Decide,10:00,dan,Intake
""")


def test_a_first_activity_that_takes_time_by_a_person_is_no_marker(store, tmp_path):
    load_log(store, tmp_path, NO_MARKERS)
    assert "boundary_markers" not in findings(store)
    assert rows(store, "SELECT case_id, handoffs FROM cases ORDER BY case_id") == [
        ("r1", 1),
        ("r2", 1),
        ("r3", 0),
    ]


# ---------------------------------------------------------------- a real status log


def test_bpic2013_handoffs_equal_a_plain_count_case_by_case(real_logs, tmp_path):
    # The set-wise SQL against the rule applied the plain way, one case at a time, on the
    # events as loaded (time, then line in the file): the last known team and assignee.
    con = open_store(tmp_path / "vsm.duckdb")
    found = discover(con, real_logs / "bpic2013_incidents.xes.gz", "inc", streams_dir=tmp_path / "streams")
    assert compute_flow(con, found.settings).log_shape == "status"
    events = rows(
        con,
        "SELECT case_id, team, resource FROM events WHERE stream = 'inc' ORDER BY case_id, ts, source_line",
    )
    state: dict[str, tuple] = {}
    for case, team, resource in events:
        handoffs, reassignments, known_team, last_resource, team_at_resource = state.get(
            case, (0, 0, None, None, None)
        )
        if team is not None:
            if known_team is not None and team != known_team:
                handoffs += 1
            known_team = team
        if resource is not None:
            if last_resource is not None and resource != last_resource and team_at_resource == known_team:
                reassignments += 1
            last_resource, team_at_resource = resource, known_team
        state[case] = (handoffs, reassignments, known_team, last_resource, team_at_resource)
    expected = {case: s[:2] for case, s in state.items()}
    got = {
        c: (h, r)
        for c, h, r in rows(con, "SELECT case_id, handoffs, reassignments FROM cases WHERE stream = 'inc'")
    }
    assert got == expected
    assert sum(h for h, _ in got.values()) > 0.5 * len(got)  # teams do change hands here
    con.close()


# Point log with a team column, the WABO receipt way: a blank group between two events of
# one group.
#   b1  Register 09:00 ann Group 1 | Check 10:00 bob (blank) | Decide 11:00 ann Group 1
#       -> Group 1 all along (the blank keeps the team before it; bob never stands in): 0
#   b2  Register 09:00 ann Group 1 | Check 10:00 cat Group 2 | Decide 11:00 cat (blank) -> 1
# Without a team column the resources are the owners: b1 ann > bob > ann 2, b2 ann > cat 1.
BLANK_GROUPS = day("""
case,activity,timestamp,resource,team
b1,Register,09:00,ann,Group 1
b1,Check,10:00,bob,
b1,Decide,11:00,ann,Group 1
b2,Register,09:00,ann,Group 1
b2,Check,10:00,cat,Group 2
b2,Decide,11:00,cat,
""")


def test_point_log_a_visit_without_a_team_keeps_the_team_before_it(store, tmp_path):
    load_log(store, tmp_path, BLANK_GROUPS, end_activities=["Decide"])
    assert rows(store, "SELECT case_id, handoffs FROM cases ORDER BY case_id") == [("b1", 0), ("b2", 1)]
    assert rows(store, "SELECT from_team, to_team, count FROM handoffs") == [("Group 1", "Group 2", 1)]
    no_teams = "\n".join(line.rsplit(",", 1)[0] for line in BLANK_GROUPS.splitlines()) + "\n"
    load_log(store, tmp_path, no_teams, name="people", end_activities=["Decide"])
    assert rows(store, "SELECT case_id, handoffs FROM cases WHERE stream = 'people' ORDER BY 1") == [
        ("b1", 2),
        ("b2", 1),
    ]
