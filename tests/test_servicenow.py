"""ServiceNow as a system source (issue 16) against a real HTTP server on 127.0.0.1
(tests/fakes/servicenow.py: the Table API with raw values, X-Total-Count and Link headers),
with faults injected. The conformance test over every declared system is in
tests/test_system_sources.py; these are ServiceNow's own cases.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import SettingsError, SystemSourceError
from pipeline.ingest import ingest
from tests.fakes.loopback import FAST, fast_retries
from tests.fakes.servicenow import (
    AUDIT,
    CHOICES,
    GROUPS,
    INCIDENT,
    PASSWORD,
    PASSWORD_ENV,
    USERS,
    FakeServiceNow,
    at,
    incidents,
    settings_for,
)
from tests.test_system_sources import cursor_of


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The waits between attempts, recorded instead of slept; and the fast retry policy."""
    return fast_retries(monkeypatch, "servicenow")


@pytest.fixture
def snow(monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    fake = FakeServiceNow(password=PASSWORD)
    yield fake
    fake.stop()


# Worked out by hand from incidents(): one row per state entered and one per change of group
# (same state, the new team); the first at creation (state, group: the old value of the first
# change of each, or the value now); resource = who saved; team = the group in force.
INCIDENT_EVENTS = [
    ("INC1", "New", at(2, 8), "cy", "Service Desk"),
    ("INC1", "In Progress", at(2, 9), "ann", "Service Desk"),  # state and assignee in one save
    ("INC1", "In Progress", at(3, 10), "ann", "Network"),  # the group alone: a team change
    ("INC1", "Resolved", at(3, 11), "bob", "Network"),
    ("INC2", "New", at(4, 8), "cy", None),  # no group
    ("INC3", "New", at(5, 8), "dee", "Service Desk"),
    ("INC3", "On Hold", at(5, 9), "ann", "Network"),  # state and group in one save: one event
]
EVENTS = "SELECT case_id, activity, ts, resource, team FROM events WHERE stream = 'inc' ORDER BY case_id, ts"
WINDOW = "sys_created_on>=2026-03-01 00:00:00"


def test_first_load_gives_the_hand_worked_events(snow, store, waits):
    incidents(snow)
    load = ingest(store, settings_for(snow))
    assert store.execute(EVENTS).fetchall() == INCIDENT_EVENTS
    assert (load.events_read, load.events_loaded, load.events_rejected) == (7, 7, 0)
    attributes = store.execute(
        "SELECT attributes->>'assignee', attributes->>'priority', attributes->>'category' "
        "FROM events WHERE case_id = 'INC1' ORDER BY ts"
    ).fetchall()
    # the assignee in force (bob from the save that set In Progress); labels from sys_choice
    assert attributes == [(None, "2 - High", "Inquiry / Help")] + [("bob", "2 - High", "Inquiry / Help")] * 3
    # every query raw, ordered, and the window in UTC to the second
    (audit,) = snow.seen(AUDIT)
    assert audit["sysparm_query"] == (
        f"tablename=incident^fieldnameINstate,assignment_group,assigned_to,priority,impact,urgency,category^{WINDOW}"
        "^ORDERBYsys_created_on^ORDERBYsys_id"
    )
    (cases,) = snow.seen(INCIDENT)
    assert cases["sysparm_query"] == "sys_updated_on>=2026-03-01 00:00:00^ORDERBYsys_created_on^ORDERBYsys_id"
    (choices,) = snow.seen(CHOICES)
    assert (
        choices["sysparm_query"].startswith("nameINincident,task^elementINstate,")
        and "language=en" in (choices["sysparm_query"])
    )
    for path in (AUDIT, INCIDENT, CHOICES, GROUPS, USERS):
        for params in snow.seen(path):
            assert params["sysparm_display_value"] == "false" and "ORDERBY" in params["sysparm_query"]
    # names by sys_id: the two groups and the one assignee met, one request each
    assert len(snow.seen(GROUPS)) == 1 and snow.seen(GROUPS)[0]["sysparm_query"].count(",") == 1
    # the cursor: the server's clock when the pull began (its Date header)
    assert cursor_of(store, "inc") == [("2026-03-10T12:00:00+00:00", load.run_id)]


def test_a_second_run_fetches_only_the_new_window_and_adds_only_new_events(snow, store, waits):
    incidents(snow)
    snow.change("INC2", at=at(10, 11, 58), user="ann", state="In Progress")  # 2 min before the clock
    settings = settings_for(snow)
    first = ingest(store, settings)
    assert first.events_loaded == 8
    # Later: INC3 resolved (its group, Network, unchanged since), INC4 new; the clock moves on
    snow.change("INC3", at=at(11, 9), user="bob", state="Resolved")
    snow.add_case("INC4", created=at(11, 10), by="cy", group="Network")
    snow.clock = at(11, 12)
    second = ingest(store, settings)
    # the window: the stored cursor 2026-03-10 12:00 UTC minus 5 minutes
    assert snow.seen(AUDIT)[-1]["sysparm_query"] == (
        "tablename=incident^fieldnameINstate,assignment_group,assigned_to,priority,impact,urgency,category"
        "^sys_created_on>=2026-03-10 11:55:00^ORDERBYsys_created_on^ORDERBYsys_id"
    )
    assert snow.seen(INCIDENT)[-1]["sysparm_query"].startswith("sys_updated_on>=2026-03-10 11:55:00^")
    # read again: INC2's 11:58 change (in the overlap, known); new: INC3 Resolved, INC4 New
    assert (second.events_read, second.events_loaded, second.events_known) == (3, 2, 1)
    new = [
        ("INC2", "In Progress", at(10, 11, 58), "ann", None),
        ("INC3", "Resolved", at(11, 9), "bob", "Network"),  # the group in force, read back
        ("INC4", "New", at(11, 10), "cy", "Network"),
    ]
    assert store.execute(EVENTS).fetchall() == sorted(INCIDENT_EVENTS + new, key=lambda e: (e[0], e[2]))
    assert cursor_of(store, "inc") == [("2026-03-11T12:00:00+00:00", second.run_id)]


def test_a_row_read_again_is_known_and_a_later_edit_does_not_rewrite_it(snow, store, waits):
    incidents(snow)
    snow.change("INC2", at=at(10, 11, 58), user="ann", state="In Progress")  # 2 min before the clock
    settings = settings_for(snow)
    ingest(store, settings)
    # Later: ann raises INC2's priority to 1 (no state or group change: no row), then resolves it
    snow.change("INC2", at=at(11, 9), user="ann", priority="1")
    snow.change("INC2", at=at(11, 10), user="ann", state="Resolved")
    snow.clock = at(11, 12)
    second = ingest(store, settings)
    # read: INC2's 11:58 change again (in the overlap; priority in force then: 3, the old value
    # of the priority's audit row) and its Resolved, the one new row; nothing replaced
    assert (second.events_read, second.events_loaded, second.events_known) == (2, 1, 1)
    assert second.events_replaced == 0
    assert store.execute(
        "SELECT activity, ts, attributes->>'priority' FROM events WHERE case_id = 'INC2' ORDER BY ts"
    ).fetchall() == [
        ("New", at(4, 8), "3 - Moderate"),
        ("In Progress", at(10, 11, 58), "3 - Moderate"),  # not rewritten by the later edit
        ("Resolved", at(11, 10), "1 - Critical"),  # the edit shows on the next row
    ]


@pytest.mark.parametrize(
    ("headers", "offsets"),
    [
        ("total", ["0", "0", "2", "2", "4"]),  # X-Total-Count 6: done after 6 rows
        ("link", ["0", "0", "2", "2", "4"]),  # the last page's Link has no rel="next"
        ("none", ["0", "0", "2", "2", "4", "6"]),  # neither: read on until an empty page
    ],
)
def test_faults_are_retried_and_a_lowered_page_size_read_back(snow, store, waits, headers, offsets):
    incidents(snow)
    snow.headers = headers
    snow.page_size = 2  # asked for 1000 a page, the server hands out 2: a short page is not the end
    snow.fail(CHOICES, "drop")  # the connection closed with no answer
    snow.fail(INCIDENT, "429")  # Retry-After: 1
    snow.fail(AUDIT, "500")
    snow.fail(AUDIT, "500", paged=True)  # the second page
    ingest(store, settings_for(snow))
    assert store.execute(EVENTS).fetchall() == INCIDENT_EVENTS  # nothing lost, nothing twice
    assert 1.0 in waits and len(waits) == 4  # one wait each; Retry-After honoured
    # 6 audit rows (INC1: state + assignee, group, state; INC3: state + group), 2 a page
    assert [p["sysparm_offset"] for p in snow.seen(AUDIT)] == offsets


def test_retries_are_bounded_and_the_failure_loads_nothing(snow, store, waits):
    incidents(snow)
    settings = settings_for(snow)
    first = ingest(store, settings)
    snow.change("INC2", at=at(10, 13), user="ann", state="In Progress")
    for _ in range(FAST.attempts):
        snow.fail(AUDIT, "500")
    with pytest.raises(SystemSourceError) as error:
        ingest(store, settings)
    message = str(error.value)
    assert message.startswith(f"servicenow GET {snow.url}{AUDIT}: server error 500"), message
    assert "gave up after 4 attempts" in message and "\n" not in message
    assert store.execute(EVENTS).fetchall() == INCIDENT_EVENTS
    assert cursor_of(store, "inc") == [("2026-03-10T12:00:00+00:00", first.run_id)]


@pytest.mark.parametrize(
    ("fault", "endpoint", "says"),
    [
        ((AUDIT, "html"), AUDIT, "answered an HTML page, not JSON"),
        ((CHOICES, "truncated"), CHOICES, "the body is truncated JSON"),
        ("missing", INCIDENT, "missing field sys_created_on (incident INC2)"),
        ("unknown state", AUDIT, "incident INC3: state '9' is not among the choices sys_choice lists"),
        ("no result", GROUPS, 'expected {"result": [records]}'),
    ],
    ids=["html", "truncated", "missing field", "unknown state", "no result"],
)
def test_a_bad_answer_is_one_line_naming_system_and_endpoint(snow, store, waits, fault, endpoint, says):
    incidents(snow)
    if fault == "missing":
        snow.blank.add(("INC2", "sys_created_on"))
    elif fault == "unknown state":
        last = next(a for a in reversed(snow.audit) if a["fieldname"] == "state")
        last["newvalue"] = "9"  # INC3's last save: a state sys_choice does not list
    elif fault == "no result":
        snow.no_result.add("sys_user_group")
    else:
        snow.fail(*fault)
    with pytest.raises(SystemSourceError) as error:
        ingest(store, settings_for(snow))
    message = str(error.value)
    assert message.startswith(f"servicenow GET {snow.url}{endpoint}: "), message
    assert says in message and "\n" not in message
    assert store.execute("SELECT count(*) FROM events").fetchall() == [(0,)]
    assert cursor_of(store, "inc") == []


def test_query_and_table_act_or_are_refused(snow, store, waits, monkeypatch):
    incidents(snow)
    # an encoded query on the case table: only INC1 has priority 2
    ingest(store, settings_for(snow, query="priority=2"))
    assert store.execute("SELECT DISTINCT case_id FROM events").fetchall() == [("INC1",)]
    assert snow.seen(INCIDENT)[-1]["sysparm_query"].startswith("priority=2^sys_updated_on>=")
    for query, says in [
        ("active=true^ORDERBYnumber", "leave ORDERBY out"),
        ("priority=1^NQpriority=2", "^NQ (a second query) is not supported"),
    ]:
        with pytest.raises(SettingsError, match=re.escape(says)):
            ingest(store, settings_for(snow, name="q", query=query))
    with pytest.raises(SettingsError, match="expected a ServiceNow table name"):
        ingest(store, settings_for(snow, name="t", table="incident; drop"))
    # another case table: its records, audit rows and choices
    other = FakeServiceNow(password=PASSWORD, table="x_acme_claim")
    try:
        incidents(other)
        ingest(store, settings_for(other, name="claims", table="x_acme_claim"))
        assert other.seen(AUDIT)[0]["sysparm_query"].startswith("tablename=x_acme_claim^")
        assert other.seen(CHOICES)[0]["sysparm_query"].startswith("nameINx_acme_claim,task^")
        assert store.execute("SELECT count(*) FROM events WHERE stream = 'claims'").fetchall() == [(7,)]
    finally:
        other.stop()


def test_dry_run_and_the_password_never_shown(snow, tmp_path, monkeypatch, waits):
    incidents(snow)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()
    init = [
        "init", "inc", "--source", "servicenow", "--url", snow.url, "--user", snow.user,
        "--auth", f"env:{PASSWORD_ENV}", "--since", "2026-03-01",
    ]  # fmt: skip
    outputs = [runner.invoke(app, init)]
    assert outputs[-1].exit_code == 0, outputs[-1].output
    outputs.append(runner.invoke(app, ["ingest", "inc", "--dry-run"]))
    assert outputs[-1].exit_code == 0, outputs[-1].output
    assert f"GET {snow.url}{AUDIT} pages of 1000" in outputs[-1].output and WINDOW in outputs[-1].output
    assert snow.requests == [] and not (tmp_path / "vsm.duckdb").exists()
    outputs.append(runner.invoke(app, ["ingest", "inc", "--no-png"]))  # loads, computes, reports
    assert outputs[-1].exit_code == 0, outputs[-1].output
    snow.fail(AUDIT, "html")  # a forced error, with its traceback
    outputs.append(runner.invoke(app, ["ingest", "inc", "--debug"]))
    assert outputs[-1].exit_code == 5 and "Traceback" in outputs[-1].output
    outputs.append(runner.invoke(app, ["sql", "SELECT * FROM runs"]))
    basic = base64.b64encode(f"{snow.user}:{PASSWORD}".encode()).decode()
    for result in outputs:
        assert PASSWORD not in result.output and basic not in result.output
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" for p in files)
    for path in files:
        data = path.read_bytes()
        assert PASSWORD.encode() not in data and basic.encode() not in data, path


def test_case_rows_from_a_recorded_payload():
    from connectors.servicenow import case_rows

    # Shaped as the Table API answers with sysparm_display_value=false, reference links left
    # in ({"link", "value"}), and an instance that audits inserts (glide.sys.audit_inserts):
    # the insert's rows have no old value and carry the first state and group.
    case = {
        "sys_id": "9d38",
        "number": "INC0010042",
        "sys_created_on": "2026-03-02 10:30:00",
        "sys_created_by": "priya",
        "state": "2",
        "assignment_group": {"link": "https://x/api/now/table/sys_user_group/g2", "value": "g2"},
        "assigned_to": "",
        "priority": "1",
        "category": "network",
    }
    audits = [
        {"sys_id": "a1", "fieldname": "state", "oldvalue": "", "newvalue": "1"}
        | {"sys_created_on": "2026-03-02 10:30:00", "user": "priya", "record_checkpoint": "0"},
        {"sys_id": "a2", "fieldname": "assignment_group", "oldvalue": "", "newvalue": "g1"}
        | {"sys_created_on": "2026-03-02 10:30:00", "user": "priya", "record_checkpoint": "0"},
        {"sys_id": "a3", "fieldname": "assignment_group", "oldvalue": "g1", "newvalue": "g2"}
        | {"sys_created_on": "2026-03-02 11:00:00", "user": "ravi", "record_checkpoint": "1"},
        {"sys_id": "a4", "fieldname": "state", "oldvalue": "1", "newvalue": "2"}
        | {"sys_created_on": "2026-03-02 11:00:00", "user": "ravi", "record_checkpoint": "1"},
    ]
    labels = {"state": {"1": "New", "2": "In Progress"}, "priority": {"1": "1 - Critical"}}
    groups = {"g1": "Service Desk", "g2": "Network"}
    rows = case_rows(case, audits, labels, groups, {}, datetime(2026, 3, 1, tzinfo=UTC))
    shape = [(r["case_id"], r["status"], r["changed_at"], r["changed_by"], r["team"]) for r in rows]
    # the insert's rows are the creation, not a change; the second save moves state and group
    assert shape == [
        ("INC0010042", "New", datetime(2026, 3, 2, 10, 30, tzinfo=UTC), "priya", "Service Desk"),
        ("INC0010042", "In Progress", datetime(2026, 3, 2, 11, 0, tzinfo=UTC), "ravi", "Network"),
    ]
    assert rows[0]["priority"] == "1 - Critical" and rows[0]["category"] == "network"
    # a window starting after the creation: only the change, its group read back the same
    later = case_rows(case, audits[2:], labels, groups, {}, datetime(2026, 3, 2, 10, 45, tzinfo=UTC))
    assert [(r["status"], r["team"]) for r in later] == [("In Progress", "Network")]


def test_a_deleted_group_is_kept_as_its_sys_id_and_counted(snow, store, waits):
    incidents(snow)
    network = snow.group_id("Network")
    del snow.groups[network]  # the group was deleted since: sys_user_group no longer has it
    stages: list[str] = []
    ingest(store, settings_for(snow), on_stage=stages.append)
    teams = store.execute("SELECT DISTINCT team FROM events WHERE team IS NOT NULL ORDER BY team").fetchall()
    assert teams == [("Service Desk",), (network,)]
    assert f"servicenow: 1 sys_id(s) not found in {GROUPS} (deleted?): kept as the sys_id" in stages


def test_a_kill_mid_pagination_loses_and_duplicates_nothing(snow, tmp_path, monkeypatch):
    import os
    import signal
    import subprocess
    import time

    from pipeline.store import open_store
    from tests.conftest import PROJECT
    from tests.test_system_sources import _vsm

    incidents(snow)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    init = [
        "init", "inc", "--source", "servicenow", "--url", snow.url, "--user", snow.user,
        "--auth", f"env:{PASSWORD_ENV}", "--since", "2026-03-01",
    ]  # fmt: skip
    assert runner.invoke(app, init).exit_code == 0
    assert runner.invoke(app, ["ingest", "inc", "--no-compute"]).exit_code == 0
    con = open_store(tmp_path / "vsm.duckdb")
    before = (con.execute(EVENTS).fetchall(), cursor_of(con, "inc"))
    con.close()
    assert before[0] == INCIDENT_EVENTS
    # Later: INC3 resolved, INC4 assigned to Network and bob; 2 audit rows a page, the second stalls
    snow.change("INC3", at=at(11, 9), user="bob", state="Resolved")
    snow.add_case("INC4", created=at(11, 10), by="cy")
    snow.change("INC4", at=at(11, 11), user="ann", group="Network", assignee="bob")  # 3 audit rows
    snow.clock = at(11, 18)
    snow.page_size = 2
    snow.fail(AUDIT, "stall", paged=True)
    env = os.environ | {"PYTHONPATH": str(PROJECT)}
    process = subprocess.Popen(_vsm("ingest", "inc", "--no-compute"), cwd=tmp_path, env=env)
    try:
        deadline = time.monotonic() + 120
        while not any(p["sysparm_offset"] != "0" for p in snow.seen(AUDIT)):
            assert process.poll() is None and time.monotonic() < deadline, "the run never reached page 2"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        assert process.wait(30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        snow.release()
    con = open_store(tmp_path / "vsm.duckdb")
    assert (con.execute(EVENTS).fetchall(), cursor_of(con, "inc")) == before  # nothing loaded, cursor kept
    con.close()
    result = runner.invoke(app, ["ingest", "inc", "--no-compute"])
    assert result.exit_code == 0, result.output
    con = open_store(tmp_path / "vsm.duckdb")
    new = [
        ("INC3", "Resolved", at(11, 9), "bob", "Network"),
        ("INC4", "New", at(11, 10), "cy", None),
        ("INC4", "New", at(11, 11), "ann", "Network"),  # the group alone: a team change
    ]
    assert con.execute(EVENTS).fetchall() == sorted(INCIDENT_EVENTS + new, key=lambda e: (e[0], e[2]))
    assert cursor_of(con, "inc")[0][0] == "2026-03-11T18:00:00+00:00"
    con.close()


def test_a_narrow_query_on_a_busy_table_reads_the_audit_by_record(snow, store, waits):
    incidents(snow)
    for n in range(20):  # 20 other incidents, one change each: 26 audit rows in the window
        snow.add_case(f"INC9{n:02d}", created=at(6, 8), priority="4")
        snow.change(f"INC9{n:02d}", at=at(6, 9), state="In Progress")
    snow.page_size = 2
    ingest(store, settings_for(snow, query="priority=2"))  # INC1 only
    # the table's window: 26 rows, 12 pages after the first; INC1's by record: 1 query of
    # about 10 rows / 2 a page = 6 requests at most: read by record (its 4 rows: 2 pages)
    queries = [(p["sysparm_query"], p["sysparm_offset"]) for p in snow.seen(AUDIT)]
    inc1 = snow.cases["INC1"].sys_id
    window = "tablename=incident^fieldnameINstate,assignment_group,assigned_to,priority,impact,urgency,"
    window += f"category^{WINDOW}"
    window += "^ORDERBYsys_created_on^ORDERBYsys_id"
    assert queries == [
        (window, "0"),
        (f"documentkeyIN{inc1}^{window}", "0"),
        (f"documentkeyIN{inc1}^{window}", "2"),
    ]
    assert store.execute(EVENTS).fetchall() == INCIDENT_EVENTS[:4]
