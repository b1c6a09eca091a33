"""System sources (issue 16): the shared layer's conformance test over the registry, and Jira
Cloud against a real HTTP server on 127.0.0.1 (tests/fakes/jira.py) with faults injected.

Jira's API user is in Europe/Berlin (UTC+1 in March 2026): the fake writes every instant
with +0100 and reads JQL date literals in that zone, as Jira does.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from connectors.systems import CASE, CHANGED_AT, CHANGED_BY, STATUS, SYSTEMS, TEAM
from pipeline.cli import app
from pipeline.errors import SettingsError, SystemSourceError
from pipeline.ingest import ingest
from pipeline.pull import pull_events, system_columns
from pipeline.settings import StreamSettings, settings_from_dict
from pipeline.store import open_store
from tests.conftest import PROJECT
from tests.fakes.jira import CHANGELOG, MYSELF, SEARCH, STATUSES, FakeJira
from tests.fakes.loopback import FAST, fast_retries
from tests.fakes.servicenow import start as start_servicenow
from tests.test_zendesk import start_zendesk

TOKEN = "s3cr3t-jira-T0KEN-4f9a"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The waits between attempts, recorded instead of slept; and the fast retry policy."""
    return fast_retries(monkeypatch, "jira")


@pytest.fixture
def jira(monkeypatch):
    monkeypatch.setenv("VSM_TEST_JIRA_TOKEN", TOKEN)
    fake = FakeJira(token=TOKEN)
    yield fake
    fake.stop()


def settings_for(jira: FakeJira, name: str = "cl", team: str = "customfield_10010", **source):
    data = {
        "stream": {"name": name},
        "source": {
            "kind": "jira",
            "url": jira.url,
            "query": "project = CLM",
            "user": jira.user,
            "auth": "env:VSM_TEST_JIRA_TOKEN",
            "since": "2026-03-01",
        }
        | source,
        "columns": {"team": team} if team else {},
    }
    return settings_from_dict(data)


def claims(jira: FakeJira) -> None:
    """Three issues. CLM-1: created in To Do by Cy with team Intake; one history moves it to
    In Progress and assigns Bob together; then the team becomes Claims (no status change);
    then Done. CLM-2: created, never changed. CLM-3: created, then In Progress."""
    jira.add_issue("CLM-1", created=at(2, 8), creator="Cy", team="Intake")
    jira.change("CLM-1", at=at(2, 9), author="Ann", status="In Progress", assignee="Bob")
    jira.change("CLM-1", at=at(3, 10), author="Bob", team="Claims")
    jira.change("CLM-1", at=at(3, 11), author="Bob", status="Done")
    jira.add_issue("CLM-2", created=at(4, 8), creator="Cy")
    jira.add_issue("CLM-3", created=at(5, 8), creator="Dee", team="Intake")
    jira.change("CLM-3", at=at(5, 9), author="Ann", status="In Progress")


# Worked out by hand from claims(): one row per status entered; the first at creation (its
# status = the first change's `from`, or the status now); one per change of the team field
# alone (CLM-1 passed to Claims by Bob at 3 March 10:00, still In Progress); team =
# customfield_10010 in force.
CLAIMS_EVENTS = [
    ("CLM-1", "To Do", at(2, 8), "Cy", "Intake"),
    ("CLM-1", "In Progress", at(2, 9), "Ann", "Intake"),
    ("CLM-1", "In Progress", at(3, 10), "Bob", "Claims"),
    ("CLM-1", "Done", at(3, 11), "Bob", "Claims"),
    ("CLM-2", "To Do", at(4, 8), "Cy", None),
    ("CLM-3", "To Do", at(5, 8), "Dee", "Intake"),
    ("CLM-3", "In Progress", at(5, 9), "Ann", "Intake"),
]
EVENTS = "SELECT case_id, activity, ts, resource, team FROM events WHERE stream = 'cl' ORDER BY case_id, ts"


def cursor_of(con, stream: str = "cl"):
    return con.execute("SELECT cursor, run_id FROM source_cursors WHERE stream = ?", [stream]).fetchall()


# ---------------------------------------------------------------- conformance over the registry


def start_jira(monkeypatch) -> tuple[StreamSettings, Callable[[], None]]:
    """The fake Jira with claims() in it: the stream's settings, and how to stop the fake."""
    monkeypatch.setenv("VSM_TEST_JIRA_TOKEN", TOKEN)
    fake = FakeJira(token=TOKEN)
    claims(fake)
    return settings_for(fake), fake.stop


# Every declared system with how to start its fake (a real HTTP server on 127.0.0.1 holding a
# few cases) given pytest's monkeypatch (for its token's environment variable): the stream's
# settings, and a function that stops the fake. A system added to SYSTEMS without one fails.
SYSTEM_FAKES: dict[str, Callable[[pytest.MonkeyPatch], tuple[StreamSettings, Callable[[], None]]]] = {
    "jira": start_jira,
    "servicenow": start_servicenow,
    "zendesk": start_zendesk,
}


def test_every_declared_system_has_a_fake():
    assert set(SYSTEM_FAKES) == set(SYSTEMS)


@pytest.mark.parametrize("kind", sorted(SYSTEMS))
def test_system_source_conformance(kind, store, monkeypatch):
    """Any system: canonical columns then its declared attributes, non-null keys, instants in
    UTC, unique event ids, the cursor stored with the load, and a second pull adds nothing."""
    fast_retries(monkeypatch, kind)
    settings, stop = SYSTEM_FAKES[kind](monkeypatch)
    try:
        system = SYSTEMS[kind]
        pulled = pull_events(store, settings)
        raw = pulled.raw
        team = [TEAM] if system_columns(settings).team else []
        assert raw.columns == [CASE, STATUS, CHANGED_AT, CHANGED_BY, *team, *system.attributes, "_line"]
        assert raw.height > 0
        for key in (CASE, STATUS, CHANGED_AT):
            assert raw[key].null_count() == 0, key
        assert str(raw.schema[CHANGED_AT]) == "Datetime(time_unit='us', time_zone='UTC')"
        assert pulled.cursor.kind == kind and pulled.cursor.value
        load = ingest(store, settings)
        assert (load.events_loaded, load.events_rejected) == (raw.height, 0)
        ids = store.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM events WHERE stream = ?", [settings.name]
        ).fetchall()
        assert ids == [(raw.height, raw.height)]
        assert cursor_of(store, settings.name) == [(pulled.cursor.value, load.run_id)]
        assert ingest(store, settings).events_loaded == 0  # the window again: nothing new
    finally:
        stop()


# ---------------------------------------------------------------- Jira: first load, faults


def test_first_load_gives_the_hand_worked_events(jira, store, waits):
    claims(jira)
    load = ingest(store, settings_for(jira))
    assert store.execute(EVENTS).fetchall() == CLAIMS_EVENTS
    assert (load.events_read, load.events_loaded, load.events_rejected) == (7, 7, 0)
    attributes = store.execute(
        "SELECT attributes->>'assignee', attributes->>'priority', attributes->>'issue_type', "
        "attributes->>'project' FROM events WHERE case_id = 'CLM-1' ORDER BY ts"
    ).fetchall()
    # the assignee in force: none at creation, Bob from the history that also set In Progress
    assert attributes == [(None, "Medium", "Task", "CLM")] + [("Bob", "Medium", "Task", "CLM")] * 3
    # the JQL: since 2026-03-01 00:00 UTC = 01:00 in Berlin, the API user's zone
    (search,) = jira.seen(SEARCH)
    assert search["jql"] == '(project = CLM) AND updated >= "2026/03/01 01:00" ORDER BY updated ASC'
    assert search["expand"] == "changelog" and "customfield_10010" in search["fields"]
    # the cursor: the server's clock when the pull began (its Date header)
    assert cursor_of(store) == [("2026-03-10T12:00:00+00:00", load.run_id)]


def test_without_a_team_field_events_have_no_team(jira, store, waits):
    claims(jira)
    ingest(store, settings_for(jira, team=""))
    assert store.execute("SELECT count(*) FROM events WHERE team IS NOT NULL").fetchall() == [(0,)]
    # with no team field, CLM-1's change of team alone (3 March 10:00) is no row: 6 status rows
    assert store.execute("SELECT count(*) FROM events").fetchall() == [(6,)]


def test_faults_are_retried_and_a_lowered_page_size_read_back(jira, store, waits):
    claims(jira)
    jira.page_size = 2  # asked for 100 a page, the server hands out 2: 2 search pages
    jira.inline_histories = 1  # CLM-1's 3 histories are read from its changelog, 2 a page
    jira.fail(MYSELF, "drop")  # the connection closed with no answer
    jira.fail(STATUSES, "429")  # Retry-After: 1
    jira.fail(SEARCH, "500")
    jira.fail(CHANGELOG, "500")
    jira.fail(SEARCH, "expire")  # the second page's token has expired: the search starts again
    ingest(store, settings_for(jira))
    assert store.execute(EVENTS).fetchall() == CLAIMS_EVENTS  # nothing lost, nothing twice
    assert 1.0 in waits  # Retry-After honoured
    assert len(waits) == 4  # one wait each: the drop, the 429, the two 500s
    changelog = [p["startAt"] for p in jira.seen("/rest/api/3/issue/10000/changelog")]
    # a 500, again, then on from the 2 histories that came; read again after the search restarted
    assert changelog == ["0", "0", "2", "0", "2"]
    pages = [p.get("nextPageToken") for p in jira.seen(SEARCH)]
    # a 500, page 1, page 2 expired, page 1 again, page 2
    assert pages == [None, None, "t-0-2", None, "t-0-2"]


def test_retries_are_bounded_and_the_failure_loads_nothing(jira, store, waits):
    claims(jira)
    settings = settings_for(jira)
    first = ingest(store, settings)
    jira.change("CLM-2", at=at(10, 13), author="Ann", status="In Progress")
    for _ in range(FAST.attempts):
        jira.fail(SEARCH, "500")
    with pytest.raises(SystemSourceError) as error:
        ingest(store, settings)
    message = str(error.value)
    assert message.startswith(f"jira GET {jira.url}{SEARCH}: server error 500")
    assert "gave up after 4 attempts" in message and "\n" not in message
    assert len(waits) == FAST.attempts - 1
    assert store.execute(EVENTS).fetchall() == CLAIMS_EVENTS  # nothing of the failed run
    assert cursor_of(store) == [("2026-03-10T12:00:00+00:00", first.run_id)]  # cursor where it was


def test_a_retry_after_beyond_the_bound_gives_up_at_once(jira, store, waits, monkeypatch):
    monkeypatch.setitem(
        SYSTEMS,
        "jira",
        dataclasses.replace(SYSTEMS["jira"], retry=dataclasses.replace(FAST, max_total_s=0.5)),
    )
    jira.fail(MYSELF, "429")  # Retry-After: 1 s, beyond the 0.5 s bound
    with pytest.raises(SystemSourceError, match="rate limited .429. .gave up after 1 attempts"):
        ingest(store, settings_for(jira))
    assert waits == []


# ---------------------------------------------------------------- Jira: incremental runs


def test_a_second_run_fetches_only_the_new_window_and_adds_only_new_events(jira, store, waits):
    claims(jira)
    settings = settings_for(jira)
    ingest(store, settings)
    # Later: CLM-3 is done and CLM-4 is new; the server's clock has moved on
    jira.change("CLM-3", at=at(11, 9), author="Ann", status="Done")
    jira.add_issue("CLM-4", created=at(11, 10), creator="Cy")
    jira.clock = at(11, 12)
    second = ingest(store, settings)
    # the window: the stored cursor 2026-03-10 12:00 UTC minus 5 minutes = 11:55 UTC = 12:55 Berlin
    last = jira.seen(SEARCH)[-1]
    assert last["jql"] == '(project = CLM) AND updated >= "2026/03/10 12:55" ORDER BY updated ASC'
    # only CLM-3 and CLM-4 changed since: their 3 + 1 events are read, 2 of them are new
    assert (second.events_read, second.events_loaded, second.events_known) == (4, 2, 2)
    assert store.execute(EVENTS).fetchall() == sorted(
        CLAIMS_EVENTS
        + [("CLM-3", "Done", at(11, 9), "Ann", "Intake"), ("CLM-4", "To Do", at(11, 10), "Cy", None)],
        key=lambda e: (e[0], e[2]),
    )
    assert cursor_of(store) == [("2026-03-11T12:00:00+00:00", second.run_id)]


def test_issues_read_again_give_known_events_and_a_later_edit_rewrites_none(jira, store, waits):
    """A pull reads an updated issue's whole history again: every row must come out as stored."""
    claims(jira)
    settings = settings_for(jira)
    ingest(store, settings)
    # Later: CLM-1's priority is raised (no status or team change: no row); CLM-3's too, then
    # it is done
    jira.change("CLM-1", at=at(11, 9), author="Ann", priority="High")
    jira.change("CLM-3", at=at(11, 9, 30), author="Ann", priority="High")
    jira.change("CLM-3", at=at(11, 10), author="Ann", status="Done")
    jira.clock = at(11, 12)
    second = ingest(store, settings)
    # read: CLM-1's 4 rows and CLM-3's 2 again, identical (priority Medium was in force when
    # they happened), and CLM-3's Done, the one new row; nothing replaced
    assert (second.events_read, second.events_loaded, second.events_known) == (7, 1, 6)
    assert second.events_replaced == 0
    assert store.execute(
        "SELECT case_id, activity, attributes->>'priority' FROM events WHERE case_id <> 'CLM-2' "
        "ORDER BY case_id, ts"
    ).fetchall() == [
        *[("CLM-1", a, "Medium") for a in ("To Do", "In Progress", "In Progress", "Done")],
        ("CLM-3", "To Do", "Medium"),
        ("CLM-3", "In Progress", "Medium"),
        ("CLM-3", "Done", "High"),  # the edit shows on the next row
    ]


def test_a_team_change_alone_is_an_event_and_the_handoff_is_dated_there(jira, store, waits):
    from pipeline.flow import compute_flow

    # CLM-7: created To Do in Intake by Cy at 08:00; Ann starts it at 09:00; Ann passes it to
    # Claims at 10:00 (still In Progress); Bob finishes it at 12:00.
    jira.add_issue("CLM-7", created=at(2, 8), creator="Cy", team="Intake")
    jira.change("CLM-7", at=at(2, 9), author="Ann", status="In Progress")
    jira.change("CLM-7", at=at(2, 10), author="Ann", team="Claims")
    jira.change("CLM-7", at=at(2, 12), author="Bob", status="Done")
    settings = settings_for(jira)
    settings.step_by = "team"
    ingest(store, settings)
    assert store.execute(EVENTS).fetchall() == [
        ("CLM-7", "To Do", at(2, 8), "Cy", "Intake"),
        ("CLM-7", "In Progress", at(2, 9), "Ann", "Intake"),
        ("CLM-7", "In Progress", at(2, 10), "Ann", "Claims"),  # the team change alone
        ("CLM-7", "Done", at(2, 12), "Bob", "Claims"),
    ]
    compute_flow(store, settings)
    # steps by team: Intake waits 08:00-09:00 (To Do) and works 09:00-10:00; Claims works
    # 10:00-12:00. Carried to Done, Intake would have had 09:00-12:00 of work
    assert store.execute(
        "SELECT step, ready_ts, start_ts, end_ts, queue_time_s, process_time_s FROM visits "
        "WHERE stream = 'cl' ORDER BY start_ts"
    ).fetchall() == [
        ("Intake", at(2, 8), at(2, 9), at(2, 10), 3600.0, 3600.0),
        ("Claims", at(2, 10), at(2, 10), at(2, 12), 0.0, 7200.0),
    ]
    assert store.execute("SELECT from_team, to_team, count FROM handoffs WHERE stream = 'cl'").fetchall() == [
        ("Intake", "Claims", 1)
    ]


def test_a_changed_query_starts_again_from_since(jira, store, waits):
    claims(jira)
    ingest(store, settings_for(jira))
    ingest(store, settings_for(jira, query="project = CLM AND priority = Medium"))
    last = jira.seen(SEARCH)[-1]["jql"]
    assert 'updated >= "2026/03/01 01:00"' in last  # not the cursor of the other query
    assert store.execute("SELECT count(*) FROM events").fetchall() == [(7,)]


def test_dry_run_prints_endpoints_and_window_and_fetches_nothing(jira, tmp_path, monkeypatch, waits):
    claims(jira)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    init = [
        "init", "cl", "--source", "jira", "--url", jira.url, "--query", "project = CLM", "--user", jira.user,
        "--auth", "env:VSM_TEST_JIRA_TOKEN", "--since", "2026-03-01",
    ]  # fmt: skip
    assert runner.invoke(app, init).exit_code == 0
    result = runner.invoke(app, ["ingest", "cl", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"GET {jira.url}{SEARCH}" in result.output
    assert "changes from 2026-03-01 00:00:00 UTC ([source] since) to now" in result.output
    assert jira.requests == [] and not (tmp_path / "vsm.duckdb").exists()
    assert runner.invoke(app, ["ingest", "cl", "--no-compute"]).exit_code == 0
    result = runner.invoke(app, ["ingest", "cl", "--dry-run"])
    assert "changes from 2026-03-10 11:55:00 UTC (the stored cursor minus 5 min) to now" in result.output
    assert len(jira.requests) == 3  # myself, status, one search page: the real run's only


# ---------------------------------------------------------------- Jira: bad answers


@pytest.mark.parametrize(
    ("fault", "endpoint", "says"),
    [
        ((SEARCH, "html"), SEARCH, "answered an HTML page, not JSON"),
        ((STATUSES, "truncated"), STATUSES, "the body is truncated JSON"),
        ("missing", SEARCH, "missing field created (issue CLM-2)"),
        ("unknown status", SEARCH, "issue CLM-3: status id '10042' is not among the statuses"),
    ],
    ids=["html", "truncated", "missing field", "unknown status id"],
)
def test_a_bad_answer_is_one_line_naming_system_and_endpoint(jira, store, waits, fault, endpoint, says):
    claims(jira)
    if fault == "missing":
        jira.blank_created.add("CLM-2")
    elif fault == "unknown status":
        jira.issues["CLM-3"].histories[-1]["items"][0]["to"] = "10042"
    else:
        jira.fail(*fault)
    with pytest.raises(SystemSourceError) as error:
        ingest(store, settings_for(jira))
    message = str(error.value)
    assert message.startswith(f"jira GET {jira.url}{endpoint}: "), message
    assert says in message and "\n" not in message
    assert store.execute("SELECT count(*) FROM events").fetchall() == [(0,)]
    assert cursor_of(store) == []


# ---------------------------------------------------------------- Jira: a kill mid-pagination


def _vsm(*args: str) -> list[str]:
    script = "import sys\nsys.argv = ['vsm'] + sys.argv[1:]\nfrom pipeline.cli import main\nmain()\n"
    return [sys.executable, "-c", script, *args]


def test_a_kill_mid_pagination_loses_and_duplicates_nothing(jira, tmp_path, monkeypatch):
    claims(jira)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    init = [
        "init", "cl", "--source", "jira", "--url", jira.url, "--query", "project = CLM", "--user", jira.user,
        "--auth", "env:VSM_TEST_JIRA_TOKEN", "--since", "2026-03-01", "--team-column", "customfield_10010",
    ]  # fmt: skip
    assert runner.invoke(app, init).exit_code == 0
    assert runner.invoke(app, ["ingest", "cl", "--no-compute"]).exit_code == 0
    con = open_store(tmp_path / "vsm.duckdb")
    before = (con.execute(EVENTS).fetchall(), cursor_of(con))
    con.close()
    assert before[0] == CLAIMS_EVENTS
    # Later: CLM-3 done, CLM-4..6 new. Two issues a page: the window's 4 issues are 2 pages,
    # and the second stalls until the run is killed.
    jira.change("CLM-3", at=at(11, 9), author="Ann", status="Done")
    for n in (4, 5, 6):
        jira.add_issue(f"CLM-{n}", created=at(11, 9 + n), creator="Cy")
    jira.clock = at(11, 18)
    jira.page_size = 2
    jira.fail(SEARCH, "stall", paged=True)
    env = os.environ | {"PYTHONPATH": str(PROJECT)}
    process = subprocess.Popen(_vsm("ingest", "cl", "--no-compute"), cwd=tmp_path, env=env)
    try:
        deadline = time.monotonic() + 120
        while not any("nextPageToken" in p for p in jira.seen(SEARCH)):
            assert process.poll() is None and time.monotonic() < deadline, "the run never reached page 2"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        assert process.wait(30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        jira.release()
    con = open_store(tmp_path / "vsm.duckdb")
    assert (con.execute(EVENTS).fetchall(), cursor_of(con)) == before  # nothing loaded, cursor kept
    con.close()
    result = runner.invoke(app, ["ingest", "cl", "--no-compute"])
    assert result.exit_code == 0, result.output
    con = open_store(tmp_path / "vsm.duckdb")
    new = [("CLM-3", "Done", at(11, 9), "Ann", "Intake")] + [
        (f"CLM-{n}", "To Do", at(11, 9 + n), "Cy", None) for n in (4, 5, 6)
    ]
    assert con.execute(EVENTS).fetchall() == sorted(CLAIMS_EVENTS + new, key=lambda e: (e[0], e[2]))
    assert cursor_of(con)[0][0] == "2026-03-11T18:00:00+00:00"
    con.close()


# ---------------------------------------------------------------- secrets


def test_the_token_is_never_written_or_shown(jira, tmp_path, monkeypatch):
    import base64

    claims(jira)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()
    init = [
        "init", "cl", "--source", "jira", "--url", jira.url, "--query", "project = CLM", "--user", jira.user,
        "--auth", "env:VSM_TEST_JIRA_TOKEN", "--since", "2026-03-01",
    ]  # fmt: skip
    outputs = [runner.invoke(app, init)]
    outputs.append(runner.invoke(app, ["ingest", "cl", "--no-png"]))  # loads, computes, writes the report
    assert outputs[-1].exit_code == 0, outputs[-1].output
    jira.fail(SEARCH, "html")  # a forced error, with its traceback
    outputs.append(runner.invoke(app, ["ingest", "cl", "--debug"]))
    assert outputs[-1].exit_code == 5 and "Traceback" in outputs[-1].output
    for command in (["ingest", "cl", "--dry-run"], ["streams"], ["sql", "SELECT * FROM runs"]):
        outputs.append(runner.invoke(app, command))
    # the secret pasted where its reference belongs is refused without being echoed
    outputs.append(runner.invoke(app, [*init[:-4], "--auth", TOKEN, "--force"]))
    assert outputs[-1].exit_code == 2 and "never the secret itself" in outputs[-1].output
    basic = base64.b64encode(f"{jira.user}:{TOKEN}".encode()).decode()
    for result in outputs:
        assert TOKEN not in result.output and basic not in result.output
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" for p in files) and any(p.suffix == ".duckdb" for p in files)
    for path in files:
        data = path.read_bytes()
        assert TOKEN.encode() not in data and basic.encode() not in data, path


def test_the_readme_and_the_cli_help_name_every_declared_system():
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    help_text = CliRunner().invoke(app, ["init", "--help"], env={"COLUMNS": "300"}).output
    for kind in SYSTEMS:
        assert f"| `{kind}` |" in readme, f"README's system sources table has no row for {kind}"
        assert kind in help_text


# ---------------------------------------------------------------- Jira: the pure mapping


def test_issue_rows_from_a_recorded_payload():
    from connectors.jira import issue_rows

    # Shaped as /rest/api/3/search/jql returns an issue with expand=changelog; the account's
    # zone is Asia/Kolkata (+0530). One history sets the status and the assignee together.
    issue = {
        "id": "10042",
        "key": "SUP-7",
        "fields": {
            "created": "2026-03-02T10:30:00.000+0530",  # = 05:00 UTC
            "status": {"id": "3", "name": "In Progress"},
            "creator": {"accountId": "a1", "displayName": "Priya"},
            "priority": {"name": "High"},
            "issuetype": {"name": "Bug"},
            "project": {"key": "SUP"},
            "assignee": {"displayName": "Ravi"},
        },
    }
    histories = [
        {
            "id": "501",
            "author": {"displayName": "Ravi"},
            "created": "2026-03-02T11:00:00.000+0530",  # = 05:30 UTC
            "items": [
                {"field": "assignee", "fieldId": "assignee", "fromString": None, "toString": "Ravi"},
                {"field": "status", "fieldId": "status", "from": "1", "to": "3", "toString": "In Progress"},
            ],
        }
    ]
    rows = issue_rows(issue, histories, {"1": "Open", "3": "In Progress"})
    shape = [
        (r["case_id"], r["status"], r["changed_at"].astimezone(UTC), r["changed_by"], r["assignee"])
        for r in rows
    ]
    assert shape == [
        ("SUP-7", "Open", datetime(2026, 3, 2, 5, 0, tzinfo=UTC), "Priya", None),
        ("SUP-7", "In Progress", datetime(2026, 3, 2, 5, 30, tzinfo=UTC), "Ravi", "Ravi"),
    ]
    assert rows[0]["priority"] == "High" and rows[0]["issue_type"] == "Bug" and rows[0]["team"] is None


# ---------------------------------------------------------------- settings and options refused


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"source": {"path": "log.csv"}}, "[source] path = 'log.csv': a jira source reads no file"),
        ({"source": {"delimiter": ";"}}, "[source] delimiter = ';': a jira source reads no file"),
        ({"source": {"query": ""}}, "query missing: a jira source needs url"),
        (
            {"columns": {"case_id": "key"}},
            "[columns] case_id = 'key': a jira source's events have fixed columns",
        ),
        ({"source": {"auth": "Bearer abc"}}, "[source] auth: expected env:NAME"),
    ],
    ids=["path", "delimiter", "required", "columns", "auth"],
)
def test_system_settings_refuse_what_they_have_no_use_for(extra, says):
    data = {
        "stream": {"name": "cl"},
        "source": {"kind": "jira", "url": "https://acme.atlassian.net", "query": "project = CLM"}
        | {"user": "bot@acme.example", "auth": "env:VSM_JIRA_TOKEN"},
    }
    for table, values in extra.items():
        data.setdefault(table, {}).update(values)
    with pytest.raises(SettingsError) as error:
        settings_from_dict(data)
    assert says in str(error.value)
    assert "abc" not in str(error.value)


def test_file_options_and_system_streams_are_kept_apart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "log.csv").write_text("case,activity,timestamp\nc1,A,2026-03-02T09:00:00Z\n")
    runner = CliRunner()
    jira = ["--url", "https://acme.atlassian.net", "--query", "project = CLM", "--user", "u@acme.example"]
    refused = runner.invoke(app, ["init", "f", "--source", "log.csv", *jira])
    assert (
        refused.exit_code == 2
        and "--url https://acme.atlassian.net: --source log.csv is a file" in refused.output
    )
    refused = runner.invoke(
        app, ["init", "j", "--source", "jira", *jira, "--auth", "env:T", "--format", "csv"]
    )
    assert refused.exit_code == 2 and "--format csv: a jira source reads no file" in refused.output
    assert runner.invoke(app, ["init", "j", "--source", "jira", *jira, "--auth", "env:T"]).exit_code == 0
    # a file stream's dry run names the file and reads and writes nothing
    assert runner.invoke(app, ["init", "f", "--source", "log.csv"]).exit_code == 0
    planned = runner.invoke(app, ["ingest", "f", "--dry-run"])
    assert planned.exit_code == 0 and "reads log.csv" in planned.output.replace(str(tmp_path) + "/", "")
    assert not (tmp_path / "vsm.duckdb").exists()
    refused = runner.invoke(app, ["ingest", "j", "--source", "log.csv"])
    assert refused.exit_code == 2 and "it loads no file: drop --source" in refused.output
    refused = runner.invoke(app, ["discover", "log.csv", "--stream", "j"])
    assert refused.exit_code == 2 and "run `vsm ingest j`" in refused.output


def test_a_first_pull_that_matches_nothing_is_no_failure(jira, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    init = [
        "init", "cl", "--source", "jira", "--url", jira.url, "--query", "project = CLM", "--user", jira.user,
        "--auth", "env:VSM_TEST_JIRA_TOKEN",
    ]  # fmt: skip
    assert runner.invoke(app, init).exit_code == 0
    result = runner.invoke(app, ["ingest", "cl", "--no-png"])  # no issue in the fake: nothing to compute
    assert result.exit_code == 0, result.output
    assert "events read 0" in result.output and "no events for stream 'cl' yet" in result.output
    con = open_store(tmp_path / "vsm.duckdb")
    assert cursor_of(con)[0][0] == "2026-03-10T12:00:00+00:00"  # the window was read: it moves on
    con.close()
