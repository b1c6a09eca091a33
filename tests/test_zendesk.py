"""Zendesk Support as a system source (issue 16) against a real HTTP server on 127.0.0.1
(tests/fakes/zendesk.py) with faults injected; the shared layer's conformance test runs it
too (tests/test_system_sources.py::SYSTEM_FAKES).

Users: 11 Ann Agent, 12 Bob Billing, 13 Cy Customer; -1 is Zendesk itself. Groups: 201
Tier 1, 202 Billing, and 203 Escalations, deleted (not in groups.json, known by its id).
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import SystemSourceError
from pipeline.ingest import ingest
from pipeline.pull import dry_run
from pipeline.settings import StreamSettings, settings_from_dict
from pipeline.store import open_store
from tests.conftest import PROJECT
from tests.fakes.loopback import FAST, fast_retries
from tests.fakes.zendesk import CUSTOM_STATUSES, EVENTS, GROUP, GROUPS, TICKETS, USERS, FakeZendesk, unix

TOKEN = "zd-T0KEN-8c1e-s3cr3t"
EVENTS_SQL = (
    "SELECT case_id, activity, ts, resource, team FROM events WHERE stream = 'zd' ORDER BY case_id, ts"
)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    return fast_retries(monkeypatch, "zendesk")


@pytest.fixture
def zd(monkeypatch):
    monkeypatch.setenv("VSM_TEST_ZENDESK_TOKEN", TOKEN)
    fake = FakeZendesk(token=TOKEN)
    yield fake
    fake.stop()


def settings_for(zd: FakeZendesk, name: str = "zd", **source) -> StreamSettings:
    data = {
        "stream": {"name": name},
        "source": {
            "kind": "zendesk",
            "url": zd.url,
            "user": zd.email,
            "auth": "env:VSM_TEST_ZENDESK_TOKEN",
            "since": "2026-03-01",
        }
        | source,
    }
    return settings_from_dict(data)


def tickets(zd: FakeZendesk) -> None:
    """101: created New by Cy via web form; Ann opens it, sets group Tier 1 and assigns
    herself in one update; later Ann moves it to Billing (no status change); Bob sets it
    Pending, then Solved. 102: created Open in Billing by Ann by mail, high, an incident.
    103: created New by Cy; Ann puts it On-hold in group 203 (deleted since)."""
    zd.deleted_groups[203] = "Escalations"
    zd.create(101, at=at(2, 8), by=13)
    zd.change(101, at=at(2, 9), by=11, status="open", group_id=201, assignee_id=11)
    zd.change(101, at=at(3, 10), by=11, group_id=202)
    zd.change(101, at=at(3, 11), by=12, status="pending")
    zd.change(101, at=at(4, 9), by=12, status="solved")
    zd.create(
        102, at=at(4, 8), by=11, status="open", group=202, priority="high", ticket_type="incident", via="Mail"
    )
    zd.create(103, at=at(5, 8), by=13)
    zd.change(103, at=at(5, 9), by=11, status="hold", group_id=203)


# Worked out by hand from tickets(): one row per status entered, the first at the Create
# event by its updater, and one per change of group alone; team = the group in force (101's
# move to Billing at 3 March 10:00 is a row: still Open, now Billing, by Ann who moved it).
TICKET_EVENTS = [
    ("101", "New", at(2, 8), "Cy Customer", None),
    ("101", "Open", at(2, 9), "Ann Agent", "Tier 1"),
    ("101", "Open", at(3, 10), "Ann Agent", "Billing"),
    ("101", "Pending", at(3, 11), "Bob Billing", "Billing"),
    ("101", "Solved", at(4, 9), "Bob Billing", "Billing"),
    ("102", "Open", at(4, 8), "Ann Agent", "Billing"),
    ("103", "New", at(5, 8), "Cy Customer", None),
    ("103", "On-hold", at(5, 9), "Ann Agent", "Escalations"),
]


def cursor_of(con, stream: str = "zd"):
    return con.execute("SELECT cursor, run_id FROM source_cursors WHERE stream = ?", [stream]).fetchall()


def start_zendesk(monkeypatch) -> tuple[StreamSettings, object]:
    """The fake Zendesk with tickets() in it (for the conformance test)."""
    monkeypatch.setenv("VSM_TEST_ZENDESK_TOKEN", TOKEN)
    fake = FakeZendesk(token=TOKEN)
    tickets(fake)
    return settings_for(fake), fake.stop


# ---------------------------------------------------------------- first load


def test_first_load_gives_the_hand_worked_events(zd, store, waits):
    tickets(zd)
    load = ingest(store, settings_for(zd))
    assert store.execute(EVENTS_SQL).fetchall() == TICKET_EVENTS
    assert (load.events_read, load.events_loaded, load.events_rejected) == (8, 8, 0)
    attributes = store.execute(
        "SELECT case_id, attributes->>'assignee', attributes->>'priority', attributes->>'ticket_type', "
        "attributes->>'channel' FROM events ORDER BY case_id, ts"
    ).fetchall()
    # 101's assignee: none at creation, Ann from the update that also opened it; the channel
    # is the ticket's via.channel code (a web form: web; mail: email), not the export's name
    assert attributes == [
        ("101", None, "normal", "question", "web"),
        *[("101", "Ann Agent", "normal", "question", "web")] * 4,
        ("102", None, "high", "incident", "email"),
        ("103", None, "normal", "question", "web"),
        ("103", None, "normal", "question", "web"),
    ]
    # since 2026-03-01 (UTC) as unix seconds; Basic auth as e-mail/token (the fake refuses others)
    assert zd.seen(EVENTS) == [{"start_time": str(unix(at(1, 0)))}]
    assert zd.seen(GROUP)[-1:] == [{}] and ("/api/v2/groups/203.json", {}) in zd.requests
    (users,) = zd.seen(USERS)
    assert users == {"ids": "11,12,13"}  # one request for every updater and assignee
    # every ticket was created in the window (its state is known) but its channel is read there
    assert zd.seen(TICKETS) == [{"ids": "101,102,103"}]
    # the cursor: the export's end_time, the last event's time (103 On-hold, 5 March 09:00)
    assert cursor_of(store) == [("2026-03-05T09:00:00+00:00", load.run_id)]


def test_paging_follows_end_time_and_faults_are_retried(zd, store, waits):
    tickets(zd)
    zd.page_size = 3  # 8 ticket events: pages of 3 from 1 March, 2 March 09:00, 3 March 11:00, ...
    zd.group_page = 1  # groups.json one group a page: 2 pages
    zd.fail(EVENTS, "429")  # Retry-After: 1
    zd.fail(EVENTS, "500", paged=True)  # the second page
    zd.fail(GROUPS, "drop")  # the connection closed with no answer
    zd.fail(USERS, "500")
    ingest(store, settings_for(zd))
    assert store.execute(EVENTS_SQL).fetchall() == TICKET_EVENTS  # nothing lost, nothing twice
    assert 1.0 in waits and len(waits) == 4  # Retry-After honoured; one wait per fault
    starts = [int(p["start_time"]) for p in zd.seen(EVENTS)]
    # 429, page 1; 500 at page 2, page 2 again; then each page starts at the last one's end_time:
    # events at 2/8 2/9 3/10 | 3/10 3/11 4/8 | 4/8 4/9 5/8 | 5/8 5/9 (each page repeats its first)
    first = unix(at(1, 0))
    assert starts == [first, first, unix(at(3, 10)), unix(at(3, 10)), unix(at(4, 8)), unix(at(5, 8))]
    assert [p.get("page") for p in zd.seen(GROUPS)] == [None, None, "2"]  # a drop, page 1 again, page 2


def test_retries_are_bounded_and_the_failure_loads_nothing(zd, store, waits):
    tickets(zd)
    settings = settings_for(zd)
    first = ingest(store, settings)
    zd.change(102, at=at(10, 9), by=12, status="solved")
    for _ in range(FAST.attempts):
        zd.fail(EVENTS, "500")
    with pytest.raises(SystemSourceError) as error:
        ingest(store, settings)
    message = str(error.value)
    assert message.startswith(f"zendesk GET {zd.url}{EVENTS}: server error 500")
    assert "gave up after 4 attempts" in message and "\n" not in message
    assert store.execute(EVENTS_SQL).fetchall() == TICKET_EVENTS
    assert cursor_of(store) == [("2026-03-05T09:00:00+00:00", first.run_id)]


# ---------------------------------------------------------------- incremental runs


def test_a_second_run_starts_at_the_stored_end_time_and_adds_only_new_events(zd, store, waits):
    tickets(zd)
    settings = settings_for(zd)
    ingest(store, settings)
    # Later: Zendesk closes 101 (updater -1); Ann creates 104 in Tier 1; and 30 s before the
    # server's clock Ann sets 104 Pending: inside the last minute, left out of this export.
    zd.change(101, at=at(11, 9), by=-1, status="closed")
    zd.create(104, at=at(11, 10), by=11, status="open", group=201)
    zd.change(104, at=at(11, 11, 59, 30), by=11, status="pending")
    zd.clock = at(11, 12)
    second = ingest(store, settings)
    # the window starts at the stored end_time exactly (5 March 09:00)
    assert zd.seen(EVENTS)[-1] == {"start_time": str(unix(at(5, 9)))}
    # read: 103's On-hold again (at the cursor's second), 101 Closed, 104 Open; 2 are new
    assert (second.events_read, second.events_loaded, second.events_known) == (3, 2, 1)
    # 101 and 103 were created before the window: their state from tickets/show_many (and
    # every ticket's channel, 104's too)
    assert zd.seen(TICKETS)[-1] == {"ids": "101,103,104"}
    closed = ("101", "Closed", at(11, 9), "Zendesk", "Billing")  # the group in force since 3 March
    opened = ("104", "Open", at(11, 10), "Ann Agent", "Tier 1")
    assert store.execute(EVENTS_SQL).fetchall() == sorted(
        [*TICKET_EVENTS, closed, opened], key=lambda e: (e[0], e[2])
    )
    assert cursor_of(store) == [("2026-03-11T10:00:00+00:00", second.run_id)]
    # a third run a minute on picks up 104's Pending and nothing else
    zd.clock = at(11, 12, 1)
    third = ingest(store, settings)
    assert zd.seen(EVENTS)[-1] == {"start_time": str(unix(at(11, 10)))}
    assert (third.events_loaded, third.events_known) == (1, 1)
    pending = store.execute(
        "SELECT activity, resource, team, attributes->>'assignee' FROM events WHERE ts = ?",
        [at(11, 11, 59, 30)],
    ).fetchall()
    assert pending == [("Pending", "Ann Agent", "Tier 1", None)]


def test_dry_run_names_the_export_and_the_window_and_fetches_nothing(zd, store, waits):
    tickets(zd)
    settings = settings_for(zd)
    lines = dry_run(store, settings)
    assert any(f"GET {zd.url}{EVENTS}?start_time={unix(at(1, 0))}" in line for line in lines)
    assert lines[-2].startswith("changes from 2026-03-01 00:00:00 UTC")
    assert zd.requests == []
    ingest(store, settings)
    assert "the stored end_time" in dry_run(store, settings)[-2]


def test_a_since_still_to_come_reads_nothing_yet(zd, store, waits):
    tickets(zd)
    load = ingest(store, settings_for(zd, since="2099-01-01"))
    assert load.events_read == 0 and zd.seen(EVENTS) == []  # Zendesk would refuse the start_time
    assert cursor_of(store)[0][0] == "2099-01-01T00:00:00+00:00"  # the window has not moved


def _vsm(*args: str) -> list[str]:
    script = "import sys\nsys.argv = ['vsm'] + sys.argv[1:]\nfrom pipeline.cli import main\nmain()\n"
    return [sys.executable, "-c", script, *args]


def test_a_kill_mid_pagination_loses_and_duplicates_nothing(zd, tmp_path, monkeypatch):
    tickets(zd)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    init = [
        "init", "zd", "--source", "zendesk", "--url", zd.url, "--user", zd.email,
        "--auth", "env:VSM_TEST_ZENDESK_TOKEN", "--since", "2026-03-01",
    ]  # fmt: skip
    assert runner.invoke(app, init).exit_code == 0
    assert runner.invoke(app, ["ingest", "zd", "--no-compute"]).exit_code == 0
    con = open_store(tmp_path / "vsm.duckdb")
    before = (con.execute(EVENTS_SQL).fetchall(), cursor_of(con))
    con.close()
    assert before[0] == TICKET_EVENTS
    # Later: 104..106 created. Two ticket events a page: the window (103's On-hold again and
    # the three) is two pages, and the second stalls until the run is killed.
    for n in (4, 5, 6):
        zd.create(100 + n, at=at(11, 9 + n), by=11, status="open", group=201)
    zd.clock = at(11, 18)
    zd.page_size = 2
    zd.fail(EVENTS, "stall", paged=True)
    env = os.environ | {"PYTHONPATH": str(PROJECT)}
    process = subprocess.Popen(_vsm("ingest", "zd", "--no-compute"), cwd=tmp_path, env=env)
    try:
        deadline = time.monotonic() + 120
        while len(zd.seen(EVENTS)) < 3:  # the first run's page, this run's first and second
            assert process.poll() is None and time.monotonic() < deadline, "the run never reached page 2"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        assert process.wait(30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        zd.release()
    con = open_store(tmp_path / "vsm.duckdb")
    assert (con.execute(EVENTS_SQL).fetchall(), cursor_of(con)) == before  # nothing loaded, cursor kept
    con.close()
    result = runner.invoke(app, ["ingest", "zd", "--no-compute"])
    assert result.exit_code == 0, result.output
    con = open_store(tmp_path / "vsm.duckdb")
    new = [(str(100 + n), "Open", at(11, 9 + n), "Ann Agent", "Tier 1") for n in (4, 5, 6)]
    assert con.execute(EVENTS_SQL).fetchall() == TICKET_EVENTS + new
    assert cursor_of(con)[0][0] == "2026-03-11T15:00:00+00:00"  # 106's creation, the last end_time
    con.close()


# ---------------------------------------------------------------- bad answers


@pytest.mark.parametrize(
    ("fault", "endpoint", "says"),
    [
        ((EVENTS, "html"), EVENTS, "answered an HTML page, not JSON"),
        ((GROUPS, "truncated"), GROUPS, "the body is truncated JSON"),
        ("missing", EVENTS, "missing field ticket_id (ticket event "),
        ("unknown status", EVENTS, "ticket 103 event 5"),
        (
            "unknown group",
            "/api/v2/groups/299.json",
            "group id 299 is set on tickets but Zendesk does not know it",
        ),
        ("stuck", EVENTS, "end_time 1772442000 did not move past start_time 1772442000"),
    ],
    ids=["html", "truncated", "missing field", "unknown status", "unknown group", "stuck paging"],
)
def test_a_bad_answer_is_one_line_naming_system_and_endpoint(zd, store, waits, fault, endpoint, says):
    tickets(zd)
    if fault == "missing":
        del zd.events[2]["ticket_id"]
    elif fault == "unknown status":
        zd.events[-1]["child_events"][0]["value"] = "waiting"
    elif fault == "unknown group":
        zd.change(102, at=at(6, 8), by=11, group_id=299)
    elif fault == "stuck":
        zd.change(101, at=at(2, 9), by=11, priority="urgent")  # three events in the second 2/9 09:00
        zd.change(101, at=at(2, 9), by=11, priority="high")
        zd.page_size = 2  # page 2 starts at 09:00 and holds two of them: end_time stays there
    else:
        zd.fail(*fault)
    with pytest.raises(SystemSourceError) as error:
        ingest(store, settings_for(zd))
    message = str(error.value)
    assert message.startswith(f"zendesk GET {zd.url}{endpoint}: "), message
    assert says in message and "\n" not in message
    assert store.execute("SELECT count(*) FROM events").fetchall() == [(0,)]
    assert cursor_of(store) == []


# ---------------------------------------------------------------- custom statuses, shapes


def test_custom_statuses_name_the_status_a_change_sets(zd, store, waits):
    zd.custom_statuses = [
        {"id": 1, "agent_label": "Open", "status_category": "open", "active": True},
        {"id": 7, "agent_label": "Waiting on customer", "status_category": "pending", "active": True},
    ]
    zd.style = "keyed"  # the export's own shape: the field as a key next to previous_value
    zd.create(301, at=at(2, 8), by=11, status="open", custom_status=1)
    zd.change(301, at=at(2, 9), by=11, status="pending", custom_status_id=7)
    ingest(store, settings_for(zd))
    assert store.execute("SELECT activity FROM events ORDER BY ts").fetchall() == [
        ("Open",),
        ("Waiting on customer",),
    ]
    assert zd.seen(CUSTOM_STATUSES) == [{}]


def test_ticket_rows_from_a_recorded_payload():
    from connectors.zendesk import event_time, ticket_rows

    # Shaped as the export writes ticket events: the field as a child event's key; the
    # second event's `timestamp` missing, read from created_at; 2026-03-02 08:00 UTC = 1772438400.
    events = [
        {
            "id": 91, "ticket_id": 7, "timestamp": 1772438400, "updater_id": 5, "via": "Mail",
            "event_type": "Audit",
            "child_events": [
                {"id": 1, "status": "new", "event_type": "Create"},
                {"id": 2, "priority": "low", "event_type": "Create"},
                {"id": 3, "comment_present": True, "event_type": "Comment"},
            ],
        },
        {
            "id": 92, "ticket_id": 7, "created_at": "2026-03-02T08:30:00Z", "updater_id": 6,
            "via": "Web form", "event_type": "Audit",
            "child_events": [
                {"id": 4, "group_id": 40, "previous_value": None, "event_type": "Change"},
                {"id": 5, "status": "solved", "previous_value": "new", "event_type": "Change"},
            ],
        },
    ]  # fmt: skip
    for event in events:
        event["_at"] = event_time(event, "test")
    rows = ticket_rows(7, events, custom_statuses={}, groups={40: "Payroll"}, users={5: "Eve"})
    shape = [
        (r["case_id"], r["status"], r["changed_at"], r["changed_by"], r["team"], r["channel"]) for r in rows
    ]
    assert shape == [
        ("7", "New", datetime(2026, 3, 2, 8, 0, tzinfo=UTC), "Eve", None, "Mail"),
        ("7", "Solved", datetime(2026, 3, 2, 8, 30, tzinfo=UTC), "user 6", "Payroll", "Mail"),
    ]
    assert rows[0]["priority"] == "low" and rows[0]["ticket_type"] is None


# ---------------------------------------------------------------- secrets


def test_the_token_is_never_written_or_shown(zd, tmp_path, monkeypatch):
    tickets(zd)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()
    init = [
        "init", "zd", "--source", "zendesk", "--url", zd.url, "--user", zd.email,
        "--auth", "env:VSM_TEST_ZENDESK_TOKEN", "--since", "2026-03-01",
    ]  # fmt: skip
    outputs = [runner.invoke(app, init)]
    assert outputs[-1].exit_code == 0, outputs[-1].output
    outputs.append(runner.invoke(app, ["ingest", "zd", "--no-png"]))
    assert outputs[-1].exit_code == 0, outputs[-1].output
    zd.fail(EVENTS, "html")
    outputs.append(runner.invoke(app, ["ingest", "zd", "--debug"]))
    assert outputs[-1].exit_code == 5 and "Traceback" in outputs[-1].output
    for command in (["ingest", "zd", "--dry-run"], ["streams"], ["sql", "SELECT * FROM runs"]):
        outputs.append(runner.invoke(app, command))
    basic = base64.b64encode(f"{zd.email}/token:{TOKEN}".encode()).decode()
    for result in outputs:
        assert TOKEN not in result.output and basic not in result.output
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" for p in files) and any(p.suffix == ".duckdb" for p in files)
    for path in files:
        data = path.read_bytes()
        assert TOKEN.encode() not in data and basic.encode() not in data, path


# ---------------------------------------------------------------- re-read events, group changes


def test_an_event_read_again_is_known_and_a_later_edit_does_not_rewrite_it(zd, store, waits):
    """The export starts at the stored end_time: the events of that second come again, for
    tickets created before the window (state from tickets/show_many and previous values)."""
    tickets(zd)
    settings = settings_for(zd)
    ingest(store, settings)  # cursor: 103's On-hold, 5 March 09:00
    # Later: Ann raises 103's priority (no status change: no row), then reopens it
    zd.change(103, at=at(6, 8), by=11, priority="urgent")
    zd.change(103, at=at(6, 9), by=11, status="open")
    second = ingest(store, settings)
    # read: 103's On-hold again (identical: the priority in force then was normal, the channel
    # the ticket's code, web, as the first load stored it) and 103's Open, the one new row
    assert (second.events_read, second.events_loaded, second.events_known) == (2, 1, 1)
    assert second.events_replaced == 0
    assert store.execute(
        "SELECT activity, ts, attributes->>'priority', attributes->>'channel' FROM events "
        "WHERE case_id = '103' ORDER BY ts"
    ).fetchall() == [
        ("New", at(5, 8), "normal", "web"),
        ("On-hold", at(5, 9), "normal", "web"),  # not rewritten by the later edit
        ("Open", at(6, 9), "urgent", "web"),  # the edit shows on the next row
    ]


def flow_settings(zd: FakeZendesk) -> StreamSettings:
    return settings_from_dict(
        {
            "stream": {"name": "zd"},
            "source": {
                "kind": "zendesk",
                "url": zd.url,
                "user": zd.email,
                "auth": "env:VSM_TEST_ZENDESK_TOKEN",
                "since": "2026-03-01",
            },
            "flow": {"step_by": "team"},
            "status_classes": {"Open": "work"},
        }
    )


def test_a_group_change_alone_is_an_event_and_the_handoff_is_dated_there(zd, store, waits):
    from pipeline.flow import compute_flow

    # 401: created Open in Tier 1 by Ann at 08:00; Ann passes it to Billing at 10:00 (still
    # Open); Bob solves it at 12:00. Events: Open/Tier 1 08:00, Open/Billing 10:00 (the group
    # change alone), Solved/Billing 12:00.
    zd.create(401, at=at(2, 8), by=11, status="open", group=201)
    zd.change(401, at=at(2, 10), by=11, group_id=202)
    zd.change(401, at=at(2, 12), by=12, status="solved")
    settings = flow_settings(zd)
    ingest(store, settings)
    assert store.execute(EVENTS_SQL).fetchall() == [
        ("401", "Open", at(2, 8), "Ann Agent", "Tier 1"),
        ("401", "Open", at(2, 10), "Ann Agent", "Billing"),
        ("401", "Solved", at(2, 12), "Bob Billing", "Billing"),
    ]
    compute_flow(store, settings)
    # steps by team, Open is work: Tier 1 works 08:00-10:00 (7200 s), Billing 10:00-12:00
    # (7200 s); carried to the Solved event, Tier 1 would have had all 4 hours
    assert store.execute(
        "SELECT step, start_ts, end_ts, process_time_s FROM visits WHERE stream = 'zd' ORDER BY start_ts"
    ).fetchall() == [("Tier 1", at(2, 8), at(2, 10), 7200.0), ("Billing", at(2, 10), at(2, 12), 7200.0)]
    assert store.execute("SELECT from_team, to_team, count FROM handoffs WHERE stream = 'zd'").fetchall() == [
        ("Tier 1", "Billing", 1)
    ]


def test_a_group_change_of_a_ticket_created_before_the_window_keeps_its_status(zd, store, waits):
    tickets(zd)
    settings = settings_for(zd)
    ingest(store, settings)
    # 102 (created Open in Billing on 4 March, before the next window) is passed to Tier 1
    zd.change(102, at=at(6, 8), by=12, group_id=201)
    ingest(store, settings)
    # its status in force is read back from tickets/show_many (open, unchanged in the window)
    assert store.execute(
        "SELECT activity, ts, resource, team FROM events WHERE case_id = '102' ORDER BY ts"
    ).fetchall() == [("Open", at(4, 8), "Ann Agent", "Billing"), ("Open", at(6, 8), "Bob Billing", "Tier 1")]


def test_a_change_in_the_last_minute_is_not_read_into_the_window(zd, store, waits):
    """The export leaves the last minute out, but tickets/show_many shows the ticket now: its
    values then come from the first audit after the export's end, not from the ticket now."""
    tickets(zd)
    settings = settings_for(zd)
    ingest(store, settings)
    # 102 (created Open, high, in Billing, before the next window) is passed to Tier 1 on
    # 6 March; 30 s before the server's clock Bob sets it Pending and urgent: left out
    zd.change(102, at=at(6, 8), by=12, group_id=201)
    zd.change(102, at=at(11, 11, 59, 30), by=12, status="pending", priority="urgent")
    zd.clock = at(11, 12)
    second = ingest(store, settings)
    # the group change's row: the status and priority in force then (Open, high), read from
    # the audit at 11:59:30's previous values, not the ticket now (Pending, urgent)
    group_row = ("Open", at(6, 8), "Tier 1", "high")
    sql = "SELECT activity, ts, team, attributes->>'priority' FROM events WHERE case_id = '102' ORDER BY ts"
    assert store.execute(sql).fetchall()[1:] == [group_row]
    assert zd.seen("/api/v2/tickets/102/audits.json") == [{"per_page": "100"}]
    assert zd.seen("/api/v2/tickets/103/audits.json") == []  # not updated since the export's end
    # a minute on, the change is in the window: the group change's row is read again, the same
    zd.clock = at(11, 12, 1)
    third = ingest(store, settings)
    assert (third.events_read, third.events_loaded, third.events_known, third.events_replaced) == (2, 1, 1, 0)
    assert store.execute(sql).fetchall()[1:] == [
        group_row,
        ("Pending", at(11, 11, 59, 30), "Tier 1", "urgent"),
    ]
    assert second.events_replaced == 0
