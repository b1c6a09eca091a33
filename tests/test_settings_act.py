"""Every setting acts (issue 14, item 4): each settings key, set to a value other than its
default on a tiny log, changes what a run gives (a figure, the column used, an error).

The keys are read from what `render_settings` writes (every key a settings file can hold,
cross-checked against the settings dataclasses), and each must have a case in CASES: a key
added later fails `test_every_settings_key_has_a_case` until its case is written. A free-form
table (`[status_classes]`: a status name per key) is one key, "*".

Also here: `vsm discover` on a stream whose settings file exists refuses options that differ
from the file, and `--coverage` acts on discover, ingest and compute.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import connectors.systems as systems
from connectors.systems import SYSTEMS
from pipeline.cli import app
from pipeline.errors import SettingsError, SystemSourceError, VsmError
from pipeline.flow import FlowResult, compute_flow
from pipeline.ingest import ingest
from pipeline.settings import (
    Columns,
    Discovery,
    Source,
    Steps,
    StreamSettings,
    render_settings,
    settings_from_dict,
)
from pipeline.streams import OPTION_KEYS
from tests.conftest import write
from tests.fakes.jira import FakeJira
from tests.fakes.loopback import FAST
from tests.test_system_sources import TOKEN as JIRA_TOKEN
from tests.test_system_sources import claims
from tests.test_system_sources import settings_for as jira_settings

Case = Callable[[object, Path], None]
CASES: dict[tuple[str, str], Case] = {}

# StreamSettings fields that are no key of the file: where the settings were read from, and
# where the window came from ([flow] window, or --window over it) for its errors.
NOT_KEYS = {"path", "window_key"}
# The dataclass behind each table whose keys are its fields.
TABLE_CLASSES = {"source": Source, "columns": Columns, "steps": Steps, "discovery": Discovery}


def case(table: str, key: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        assert (table, key) not in CASES, f"two cases for [{table}] {key}"
        CASES[(table, key)] = fn
        return fn

    return register


def settings_keys() -> set[tuple[str, str]]:
    """(table, key) for every key a settings file holds, as `render_settings` writes it."""
    written = tomllib.loads(render_settings(StreamSettings(name="t", source=Source(path="log.csv"))))
    keys = set()
    for table, values in written.items():
        keys |= {(table, k) for k in values} if values else {(table, "*")}
    return keys


def test_every_settings_key_has_a_case():
    keys = settings_keys()
    missing = sorted(keys - set(CASES))
    stale = sorted(set(CASES) - keys)
    assert not missing, f"settings keys with no case showing their effect (add one to CASES): {missing}"
    assert not stale, f"cases for keys the settings file no longer holds: {stale}"


def test_every_settings_field_is_written_to_the_file():
    keys = settings_keys()
    written = {k for _, k in keys} | {t for t, _ in keys}
    for table, cls in TABLE_CLASSES.items():
        for f in fields(cls):
            assert (table, f.name) in keys, f"{cls.__name__}.{f.name} is not written as [{table}] {f.name}"
    for f in fields(StreamSettings):
        if f.name in NOT_KEYS or f.name in TABLE_CLASSES:
            continue
        assert f.name in written, f"StreamSettings.{f.name} is not written to the settings file"
    assert all(is_dataclass(cls) for cls in TABLE_CLASSES.values())


# ---------------------------------------------------------------- running a tiny log


def run(
    store,
    tmp_path: Path,
    log: str | bytes,
    *,
    name: str = "t",
    file: str = "log.csv",
    model: bool = False,
    **tables,
) -> FlowResult:
    """Write `log`, read settings {stream: {name}, source: {path}} + `tables` through the
    settings validation, load the log and compute its flow."""
    path = tmp_path / name / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(log if isinstance(log, bytes) else log.encode("utf-8"))
    data: dict = {"stream": {"name": name}, "source": {"path": str(path)}}
    for table, values in tables.items():
        data.setdefault(table, {}).update(values)
    settings = settings_from_dict(data)
    ingest(store, settings)
    return compute_flow(store, settings, model_dir=tmp_path / name / "model" if model else None)


def one(store, sql: str, name: str = "t"):
    return store.execute(sql, {"stream": name}).fetchall()


# Point log, Monday 2026-03-02 UTC. Lead times: c1 09:00 -> 12:00 = 3 h, c2 09:30 -> 13:30 = 4 h.
# Teams: ann Front, bob and cat Back. End step inferred: C (where every case ends).
BASE = """case,activity,timestamp,resource,team
c1,A,2026-03-02T09:00:00Z,ann,Front
c1,B,2026-03-02T10:00:00Z,bob,Back
c1,C,2026-03-02T12:00:00Z,bob,Back
c2,A,2026-03-02T09:30:00Z,ann,Front
c2,B,2026-03-02T11:30:00Z,cat,Back
c2,C,2026-03-02T13:30:00Z,cat,Back
"""

LEAD_TIMES = "SELECT case_id, lead_time_s FROM cases WHERE stream = $stream ORDER BY case_id"
STEPS = "SELECT DISTINCT step FROM visits WHERE stream = $stream ORDER BY step"


# ---------------------------------------------------------------- [stream]


@case("stream", "name")
def _name(store, tmp_path):
    run(store, tmp_path, BASE, name="claims")  # every result row carries the stream's name
    count = "SELECT count(*) FROM cases WHERE stream = $stream"
    assert (one(store, count, "claims"), one(store, count, "t")) == ([(2,)], [(0,)])


@case("stream", "timezone")
def _timezone(store, tmp_path):
    naive = "case,activity,timestamp\nc1,A,2026-03-02 09:00:00\nc1,B,2026-03-02 10:00:00\n"
    first = "SELECT min(ts) FROM events WHERE stream = $stream"
    run(store, tmp_path, naive)
    assert one(store, first) == [(datetime(2026, 3, 2, 9, 0, tzinfo=UTC),)]
    run(store, tmp_path, naive, name="ams", stream={"timezone": "Europe/Amsterdam"})
    assert one(store, first, "ams") == [(datetime(2026, 3, 2, 8, 0, tzinfo=UTC),)]  # CET = UTC+1


@case("stream", "lead_time_target")
def _lead_time_target(store, tmp_path):
    breached = "SELECT case_id, target_breached FROM cases WHERE stream = $stream ORDER BY case_id"
    run(store, tmp_path, BASE)
    assert one(store, breached) == [("c1", None), ("c2", None)]
    run(store, tmp_path, BASE, name="slow", stream={"lead_time_target": "210m"})  # 3.5 h
    assert one(store, breached, "slow") == [("c1", False), ("c2", True)]


# ---------------------------------------------------------------- [source]


@case("source", "path")
def _path(store, tmp_path):
    only_c1 = "".join(line + "\n" for line in BASE.splitlines() if not line.startswith("c2"))
    other = write(tmp_path / "other.csv", only_c1)
    run(store, tmp_path, BASE, source={"path": str(other)})
    assert one(store, LEAD_TIMES) == [("c1", 10800.0)]


@case("source", "format")
def _format(store, tmp_path):
    # auto reads log.csv as CSV; a format set in the settings decides the reader
    run(store, tmp_path, BASE)
    assert len(one(store, LEAD_TIMES)) == 2
    with pytest.raises(VsmError, match="log.csv"):
        run(store, tmp_path, BASE, name="parquet", source={"format": "parquet"})


@case("source", "delimiter")
def _delimiter(store, tmp_path):
    semi = BASE.replace(",", ";")
    run(store, tmp_path, semi)  # detected
    assert len(one(store, LEAD_TIMES)) == 2
    with pytest.raises(VsmError):  # read as one column: no case, activity or timestamp column
        run(store, tmp_path, semi, name="comma", source={"delimiter": ","})


@case("source", "encoding")
def _encoding(store, tmp_path):
    latin1 = "case,activity,timestamp\nc1,Prüfung,2026-03-02T09:00:00Z\n".encode("latin-1")  # ü = 0xFC
    run(store, tmp_path, latin1)
    assert one(store, STEPS) == [("Prüfung",)]
    run(store, tmp_path, latin1, name="dos", source={"encoding": "cp437"})  # 0xFC is ⁿ in cp437
    assert one(store, STEPS, "dos") == [("Prⁿfung",)]


OCEL = json.dumps(
    {
        "objectTypes": [{"name": "Order", "attributes": []}, {"name": "Item", "attributes": []}],
        "eventTypes": [{"name": "Place", "attributes": []}, {"name": "Pick", "attributes": []}],
        "objects": [
            {"id": "o1", "type": "Order"},
            {"id": "i1", "type": "Item"},
            {"id": "i2", "type": "Item"},
        ],
        "events": [
            {
                "id": "e1",
                "type": "Place",
                "time": "2026-03-02T09:00:00Z",
                "relationships": [{"objectId": "o1", "qualifier": ""}, {"objectId": "i1", "qualifier": ""}],
            },
            {
                "id": "e2",
                "type": "Pick",
                "time": "2026-03-02T10:00:00Z",
                "relationships": [{"objectId": "i1", "qualifier": ""}],
            },
            {
                "id": "e3",
                "type": "Pick",
                "time": "2026-03-02T11:00:00Z",
                "relationships": [{"objectId": "i2", "qualifier": ""}, {"objectId": "o1", "qualifier": ""}],
            },
        ],
    }
)


@case("source", "object_type")
def _object_type(store, tmp_path):
    cases = "SELECT DISTINCT case_id FROM events WHERE stream = $stream ORDER BY case_id"
    run(
        store,
        tmp_path,
        OCEL,
        name="orders",
        file="log.jsonocel",
        source={"format": "ocel", "object_type": "Order"},
    )
    assert one(store, cases, "orders") == [("o1",)]
    run(
        store,
        tmp_path,
        OCEL,
        name="items",
        file="log.jsonocel",
        source={"format": "ocel", "object_type": "Item"},
    )
    assert one(store, cases, "items") == [("i1",), ("i2",)]


@case("source", "timestamp_format")
def _timestamp_format(store, tmp_path):
    log = "case,activity,timestamp\nc1,A,02/03/2026 09:00\nc1,B,02/03/2026 10:00\n"
    first = "SELECT min(ts) FROM events WHERE stream = $stream"
    run(store, tmp_path, log, name="us", source={"timestamp_format": "%m/%d/%Y %H:%M"})
    assert one(store, first, "us") == [(datetime(2026, 2, 3, 9, 0, tzinfo=UTC),)]
    run(store, tmp_path, log, name="eu", source={"timestamp_format": "%d/%m/%Y %H:%M"})
    assert one(store, first, "eu") == [(datetime(2026, 3, 2, 9, 0, tzinfo=UTC),)]


@case("source", "member")
def _member(store, tmp_path):
    # a zip of two logs: refused without a member, the named one read with it
    import zipfile

    only_c1 = "".join(line + "\n" for line in BASE.splitlines() if not line.startswith("c2"))
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("all.csv", BASE)
        z.writestr("c1.csv", only_c1)
    with pytest.raises(VsmError, match="all.csv.*c1.csv"):
        run(store, tmp_path, BASE, source={"path": str(archive)})
    run(store, tmp_path, BASE, name="one", source={"path": str(archive), "member": "c1.csv"})
    assert one(store, LEAD_TIMES, "one") == [("c1", 10800.0)]


@case("source", "sheet")
def _sheet(store, tmp_path):
    # a workbook: the first sheet by default, the named one with `sheet`; refused on a CSV
    import xlsxwriter

    book = tmp_path / "log.xlsx"
    with xlsxwriter.Workbook(book) as workbook:
        for sheet, text in (("all", BASE), ("c1", "".join(r + "\n" for r in BASE.splitlines()[:4]))):
            ws = workbook.add_worksheet(sheet)
            for r, line in enumerate(text.splitlines()):
                ws.write_row(r, 0, line.split(","))
    run(store, tmp_path, BASE, source={"path": str(book)})
    assert len(one(store, LEAD_TIMES)) == 2
    run(store, tmp_path, BASE, name="one", source={"path": str(book), "sheet": "c1"})
    assert one(store, LEAD_TIMES, "one") == [("c1", 10800.0)]
    with pytest.raises(VsmError, match="sheet"):
        run(store, tmp_path, BASE, name="csv", source={"sheet": "c1"})


@case("source", "null_values")
def _null_values(store, tmp_path):
    # "?" is no team by default (the built-in list); with null_values = ["n/a"] it is one again,
    # and "n/a" is missing instead
    log = BASE.replace("ann,Front", "ann,?").replace("cat,Back", "cat,n/a")
    teams = "SELECT DISTINCT team FROM events WHERE stream = $stream ORDER BY team NULLS FIRST"
    run(store, tmp_path, log)
    assert one(store, teams) == [(None,), ("Back",)]
    run(store, tmp_path, log, name="own", source={"null_values": ["n/a"]})
    assert one(store, teams, "own") == [(None,), ("?",), ("Back",)]


# ---------------------------------------------------------------- [source] of a system (issue 16)


def jira_run(store, tmp_path: Path, name: str, token: str = JIRA_TOKEN, **source) -> list[tuple]:
    """Pull the fake Jira's claims (tests/test_system_sources.py: 6 events in CLM-1..3) and an
    OPS-1 issue into stream `name` with [source] keys `source` over the defaults; its events."""
    jira = FakeJira(token=JIRA_TOKEN)
    claims(jira)
    jira.add_issue("OPS-1", created=datetime(2026, 3, 6, 8, 0, tzinfo=UTC))
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("VSM_TEST_JIRA_TOKEN", token)
            mp.setitem(SYSTEMS, "jira", dataclasses.replace(SYSTEMS["jira"], retry=FAST))
            mp.setattr(systems, "pause", lambda _: None)
            settings = jira_settings(jira, name=name, team="")
            data = {"stream": {"name": name}, "source": {**vars_of(settings.source), **source}}
            ingest(store, settings_from_dict(data))
    finally:
        jira.stop()
    return one(
        store, "SELECT case_id, activity FROM events WHERE stream = $stream ORDER BY case_id, ts", name
    )


def vars_of(source: Source) -> dict:
    keys = ("kind", "url", "query", "user", "auth", "since")
    return {k: getattr(source, k) for k in keys}


CLAIMS = [("CLM-1", "To Do"), ("CLM-1", "In Progress"), ("CLM-1", "Done"), ("CLM-2", "To Do")] + [
    ("CLM-3", "To Do"),
    ("CLM-3", "In Progress"),
]


@case("source", "kind")
def _kind(store, tmp_path):
    assert jira_run(store, tmp_path, "j") == CLAIMS  # pulled from Jira, no file read
    with pytest.raises(SettingsError, match="expected one of file, jira"):
        jira_run(store, tmp_path, "k", kind="jora")
    with pytest.raises(SettingsError, match="a file source has no use for it"):
        run(store, tmp_path, BASE, name="f", source={"url": "https://acme.atlassian.net"})


@case("source", "url")
def _url(store, tmp_path):
    assert jira_run(store, tmp_path, "j") == CLAIMS
    with pytest.raises(
        SystemSourceError, match="jira GET http://127.0.0.1:9/rest/api/3/myself: connection failed"
    ):
        jira_run(store, tmp_path, "nowhere", url="http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(SettingsError, match="expected the instance's base URL"):
        jira_run(store, tmp_path, "bare", url="acme.atlassian.net")


@case("source", "query")
def _query(store, tmp_path):
    assert jira_run(store, tmp_path, "j") == CLAIMS
    assert jira_run(store, tmp_path, "ops", query="project = OPS") == [("OPS-1", "To Do")]
    with pytest.raises(SettingsError, match="leave ORDER BY out"):
        jira_run(store, tmp_path, "ordered", query="project = OPS ORDER BY key")


@case("source", "table")
def _table(store, tmp_path):
    with pytest.raises(SettingsError, match="a jira source has no use for it"):  # servicenow's key
        jira_run(store, tmp_path, "j", table="incident")
    # servicenow: the case table whose records and sys_audit rows are read (empty = incident)
    from tests.fakes.servicenow import PASSWORD, PASSWORD_ENV, FakeServiceNow, incidents
    from tests.fakes.servicenow import settings_for as snow_settings

    snow = FakeServiceNow(password=PASSWORD, table="x_acme_claim")  # answers that table only
    incidents(snow)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(PASSWORD_ENV, PASSWORD)
            mp.setitem(SYSTEMS, "servicenow", dataclasses.replace(SYSTEMS["servicenow"], retry=FAST))
            mp.setattr(systems, "pause", lambda _: None)
            ingest(store, snow_settings(snow, name="claims", table="x_acme_claim"))
            assert snow.seen("/api/now/table/sys_audit")[0]["sysparm_query"].startswith(
                "tablename=x_acme_claim^"
            )
            with pytest.raises(
                SystemSourceError, match="sys_choice: no state choices for incident .nor task."
            ):
                ingest(store, snow_settings(snow, name="inc"))  # the default: incident
            with pytest.raises(SettingsError, match="expected a ServiceNow table name"):
                ingest(store, snow_settings(snow, name="bad", table="incident^active=true"))
    finally:
        snow.stop()
    assert one(store, "SELECT count(*) FROM events WHERE stream = $stream", "claims") == [(7,)]


@case("source", "user")
def _user(store, tmp_path):
    with pytest.raises(SystemSourceError, match="refused the credentials .401."):
        jira_run(store, tmp_path, "j", user="someone@else.example")


@case("source", "auth")
def _auth(store, tmp_path):
    with pytest.raises(SystemSourceError, match="refused the credentials .401."):
        jira_run(store, tmp_path, "j", token="not-the-token")  # env:VSM_TEST_JIRA_TOKEN holds another
    token = write(tmp_path / "token.txt", JIRA_TOKEN + "\n")
    assert jira_run(store, tmp_path, "f", auth=f"file:{token}") == CLAIMS
    with pytest.raises(SettingsError, match="never the secret itself"):
        jira_run(store, tmp_path, "raw", auth=JIRA_TOKEN)


@case("source", "since")
def _since(store, tmp_path):
    assert jira_run(store, tmp_path, "j") == CLAIMS  # since 2026-03-01
    # since 5 March: only issues updated since (CLM-3 on the 5th, OPS-1 not in the query)
    assert jira_run(store, tmp_path, "late", since="2026-03-05") == [
        ("CLM-3", "To Do"),
        ("CLM-3", "In Progress"),
    ]
    with pytest.raises(SettingsError, match="expected a date"):
        jira_run(store, tmp_path, "bad", since="March")


# ---------------------------------------------------------------- [source] of a database (issue 17)


def sqlite_run(store, tmp_path: Path, name: str, added=(), **source) -> list[tuple]:
    """Read a SQLite claims history (2 rows at 9:00 and 10:00 UTC on 6 Jan, ids 1 and 2) into
    stream `name`, then add the rows `added` and read again; the stream's events."""
    import sqlite3

    db = tmp_path / f"{name}.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE h (id INTEGER PRIMARY KEY, claim TEXT, status TEXT, at TEXT)")
    rows = [("C1", "Open", "2025-01-06 09:00"), ("C1", "Done", "2025-01-06 10:00")]
    con.executemany("INSERT INTO h (claim, status, at) VALUES (?, ?, ?)", rows)
    con.commit()
    data = {
        "stream": {"name": name},
        "source": {"kind": "sqlite", "url": f"sqlite:///{db}", "query": "SELECT * FROM h"} | source,
        "columns": {"case_id": "claim", "activity": "status", "timestamp": "at"},
    }
    ingest(store, settings_from_dict(data))
    con.executemany("INSERT INTO h (claim, status, at) VALUES (?, ?, ?)", added)
    con.commit()
    con.close()
    ingest(store, settings_from_dict(data))
    return one(store, "SELECT case_id, activity FROM events WHERE stream = $stream ORDER BY ts", name)


# a row committed late: stamped 9:30, before the stored cursor (10:00), read after it was stored
LATE = [("C2", "Open", "2025-01-06 09:30")]


@case("source", "cursor_column")
def _cursor_column(store, tmp_path):
    # no cursor: the whole query each run, the late row too (event ids drop what is stored)
    assert sqlite_run(store, tmp_path, "all", LATE) == [("C1", "Open"), ("C2", "Open"), ("C1", "Done")]
    # an id cursor: rows with id > 2 only, the late row (id 3) among them
    assert sqlite_run(store, tmp_path, "ids", LATE, cursor_column="id")[1] == ("C2", "Open")
    assert one(store, "SELECT cursor FROM source_cursors WHERE stream = $stream", "ids") == [("3",)]
    with pytest.raises(SystemSourceError, match="cursor_column = 'nope' is not among the query's columns"):
        sqlite_run(store, tmp_path, "nope", cursor_column="nope")


@case("source", "cursor_overlap")
def _cursor_overlap(store, tmp_path):
    # default 1h: the 9:30 row is read (from 9:00); 15 min: from 9:45, it is not
    assert ("C2", "Open") in sqlite_run(store, tmp_path, "hour", LATE, cursor_column="at")
    assert ("C2", "Open") not in sqlite_run(
        store, tmp_path, "quarter", LATE, cursor_column="at", cursor_overlap="15m"
    )
    with pytest.raises(SettingsError, match="cursor_overlap = 'soon': expected a duration"):
        sqlite_run(store, tmp_path, "bad", cursor_column="at", cursor_overlap="soon")


@case("source", "statement_timeout")
def _statement_timeout(store, tmp_path):
    # acts on the server (tests/test_database_sources.py: a 3 s query cut at 1s); here: what
    # the read is told, and the refusals
    from pipeline.pull import database_dry_run

    base = {"kind": "postgres", "url": "postgresql://r@db/c", "query": "SELECT * FROM h"}
    settings = settings_from_dict({"stream": {"name": "p"}, "source": base | {"statement_timeout": "45m"}})
    assert "in a read-only transaction, statement timeout 45m" in database_dry_run(None, settings)
    default = settings_from_dict({"stream": {"name": "p"}, "source": base})
    assert "in a read-only transaction, statement timeout 30m" in database_dry_run(None, default)
    with pytest.raises(SettingsError, match="a sqlite source has no use for it"):
        sqlite_run(store, tmp_path, "lite", statement_timeout="1m")


# ---------------------------------------------------------------- [columns]

# Every role has a second column the detection does not pick: `order` (two cases' worth of
# rows in one order), `state`... is a candidate name, so the second activity is `stage`;
# `logged` an hour after `timestamp`; `phase` start/complete; `who`, `squad`, `began`.
WIDE = """case,order,activity,stage,timestamp,logged,phase,who,squad,began
c1,o1,A,x,2026-03-02T09:00:00Z,2026-03-02T10:00:00Z,start,ann,Front,2026-03-02T08:30:00Z
c1,o1,A,x,2026-03-02T09:30:00Z,2026-03-02T10:30:00Z,complete,ann,Front,2026-03-02T09:00:00Z
c2,o1,B,y,2026-03-02T11:00:00Z,2026-03-02T12:00:00Z,start,bob,Back,2026-03-02T10:00:00Z
c2,o1,B,y,2026-03-02T12:00:00Z,2026-03-02T13:00:00Z,complete,bob,Back,2026-03-02T11:30:00Z
"""


@case("columns", "case_id")
def _case_id(store, tmp_path):
    cases = "SELECT DISTINCT case_id FROM events WHERE stream = $stream ORDER BY case_id"
    run(store, tmp_path, WIDE)
    assert one(store, cases) == [("c1",), ("c2",)]
    run(store, tmp_path, WIDE, name="o", columns={"case_id": "order"})
    assert one(store, cases, "o") == [("o1",)]


@case("columns", "activity")
def _activity(store, tmp_path):
    activities = "SELECT DISTINCT activity FROM events WHERE stream = $stream ORDER BY activity"
    run(store, tmp_path, WIDE)
    assert one(store, activities) == [("A",), ("B",)]
    run(store, tmp_path, WIDE, name="stage", columns={"activity": "stage"})
    assert one(store, activities, "stage") == [("x",), ("y",)]
    run(store, tmp_path, WIDE, name="both", columns={"activity": ["activity", "stage"]})
    assert one(store, activities, "both") == [("A / x",), ("B / y",)]


@case("columns", "timestamp")
def _timestamp(store, tmp_path):
    first = "SELECT min(ts) FROM events WHERE stream = $stream"
    run(store, tmp_path, WIDE)
    assert one(store, first) == [(datetime(2026, 3, 2, 9, 0, tzinfo=UTC),)]
    run(store, tmp_path, WIDE, name="logged", columns={"timestamp": "logged"})
    assert one(store, first, "logged") == [(datetime(2026, 3, 2, 10, 0, tzinfo=UTC),)]


@case("columns", "lifecycle")
def _lifecycle(store, tmp_path):
    # without it each row is an event of a point log; with it, start + complete make one visit
    process = "SELECT step, process_time_s FROM visits WHERE stream = $stream ORDER BY step, end_ts"
    run(store, tmp_path, WIDE, flow={"log_shape": "point"})
    assert one(store, process) == [("A", None), ("A", None), ("B", None), ("B", None)]
    run(store, tmp_path, WIDE, name="phase", columns={"lifecycle": "phase"})
    assert one(store, process, "phase") == [("A", 1800.0), ("B", 3600.0)]


@case("columns", "resource")
def _resource(store, tmp_path):
    who = "SELECT DISTINCT resource FROM visits WHERE stream = $stream ORDER BY resource"
    run(store, tmp_path, WIDE)
    assert one(store, who) == [(None,)]
    run(store, tmp_path, WIDE, name="who", columns={"resource": "who"})
    assert one(store, who, "who") == [("ann",), ("bob",)]


@case("columns", "team")
def _team(store, tmp_path):
    teams = "SELECT DISTINCT team FROM visits WHERE stream = $stream ORDER BY team"
    run(store, tmp_path, WIDE)
    assert one(store, teams) == [(None,)]
    run(store, tmp_path, WIDE, name="squad", columns={"team": "squad"})
    assert one(store, teams, "squad") == [("Back",), ("Front",)]


@case("columns", "start_timestamp")
def _start_timestamp(store, tmp_path):
    # each row is then a whole session, from `began` to `timestamp`; a case's back-to-back
    # sessions of one step are one visit: c1 A 08:30-09:00 + 09:00-09:30 = 1 h worked,
    # c2 B 10:00-11:00 + 11:30-12:00 = 1.5 h worked (30 min paused between)
    spans = "SELECT process_time_s, sessions, paused_s FROM visits WHERE stream = $stream ORDER BY end_ts"
    run(store, tmp_path, WIDE, name="began", columns={"start_timestamp": "began"})
    assert one(store, spans, "began") == [(3600.0, 2, 0.0), (5400.0, 2, 1800.0)]


@case("columns", "sequence")
def _sequence(store, tmp_path):
    # A and B at the same minute: the file says A first, the update number `rev` says B first
    ties = """case,activity,timestamp,rev
c1,A,2026-03-02T09:00:00Z,2
c1,B,2026-03-02T09:00:00Z,1
c1,C,2026-03-02T10:00:00Z,3
"""
    order = "SELECT step FROM visits WHERE stream = $stream ORDER BY seq"
    run(store, tmp_path, ties)
    assert one(store, order) == [("A",), ("B",), ("C",)]
    run(store, tmp_path, ties, name="byrev", columns={"sequence": "rev"})
    assert one(store, order, "byrev") == [("B",), ("A",), ("C",)]


@case("columns", "event_key")
def _event_key(store, tmp_path):
    # B's resource corrected (bob -> bea) in a newer export of BASE. The default key (case,
    # activity, timestamp, lifecycle) makes it the same event: replaced, 6 events, no B by
    # bob left (bob's C stays). [] (no key): a second event beside the first, 7 events.
    fixed = BASE.replace("c1,B,2026-03-02T10:00:00Z,bob", "c1,B,2026-03-02T10:00:00Z,bea")
    count = (
        "SELECT count(*), count(*) FILTER (WHERE activity = 'B' AND resource = 'bob') "
        "FROM events WHERE stream = $stream"
    )
    run(store, tmp_path, BASE)
    run(store, tmp_path, fixed)
    assert one(store, count) == [(6, 0)]
    run(store, tmp_path, BASE, name="nokey", columns={"event_key": []})
    run(store, tmp_path, fixed, name="nokey", columns={"event_key": []})
    assert one(store, count, "nokey") == [(7, 1)]


# ---------------------------------------------------------------- [flow]


@case("flow", "log_shape")
def _log_shape(store, tmp_path):
    process = "SELECT count(process_time_s) FROM visits WHERE stream = $stream"
    run(store, tmp_path, WIDE, columns={"lifecycle": "phase"})
    assert one(store, process) == [(2,)]  # detected: interval
    run(store, tmp_path, WIDE, name="point", columns={"lifecycle": "phase"}, flow={"log_shape": "point"})
    assert one(store, process, "point") == [(0,)]


@case("flow", "start_activities")
def _start_activities(store, tmp_path):
    run(store, tmp_path, BASE)
    assert one(store, LEAD_TIMES) == [("c1", 10800.0), ("c2", 14400.0)]
    run(store, tmp_path, BASE, name="from_b", flow={"start_activities": ["B"]})
    assert one(store, LEAD_TIMES, "from_b") == [("c1", 7200.0), ("c2", 7200.0)]  # B -> C


@case("flow", "stale_after")
def _stale_after(store, tmp_path):
    # c3 did A at 09:00 and was never heard of again (C ends a case); as_of is c2's end, 13:30. By default
    # (the p99 lead time of c1 and c2, under 4 h) 4.5 quiet hours make it stale; with
    # stale_after = "1d" it is an open case in WIP.
    log = BASE + "c3,A,2026-03-02T09:00:00Z,ann,Front\n"
    stale = "SELECT case_id, is_open, is_stale FROM cases WHERE stream = $stream AND is_open"
    run(store, tmp_path, log, flow={"end_activities": ["C"]})
    assert one(store, stale) == [("c3", True, True)]
    run(store, tmp_path, log, name="patient", flow={"end_activities": ["C"], "stale_after": "1d"})
    assert one(store, stale, "patient") == [("c3", True, False)]


@case("flow", "window")
def _window(store, tmp_path):
    # Add c3 (A Mar 3 09:00, C Mar 3 10:00, 1 h). The whole history: c1, c2, c3 completed, p50
    # 3 h; the window 2026-03-03 (its one day): c3 alone, p50 1 h, and a few_completed_cases
    # finding. The per-case tables keep every case.
    log = BASE + "c3,A,2026-03-03T09:00:00Z,ann,Front\nc3,C,2026-03-03T10:00:00Z,bob,Back\n"
    figures = 'SELECT "window", completed_cases, lead_time_p50_s FROM stream_summary WHERE stream = $stream'
    run(store, tmp_path, log)
    assert one(store, figures) == [("all", 3, 3 * 3600.0)]
    run(store, tmp_path, log, name="day", flow={"window": "2026-03-03..2026-03-03"})
    assert one(store, figures, "day") == [("2026-03-03..2026-03-03", 1, 3600.0)]
    assert one(store, "SELECT count(*) FROM cases WHERE stream = $stream", "day") == [(3,)]
    few = "SELECT count FROM quality_findings WHERE stream = $stream AND rule = 'few_completed_cases'"
    assert (one(store, few), one(store, few, "day")) == ([], [(1,)])


@case("flow", "step_by")
def _step_by(store, tmp_path):
    # A status log with teams and one work status: auto maps by team (Desk, then L2), activity
    # by status (one box "In Progress").
    log = """case,status,timestamp,team
c1,New,2026-03-02T09:00:00Z,Desk
c1,In Progress,2026-03-02T10:00:00Z,Desk
c1,In Progress,2026-03-02T11:00:00Z,L2
c1,Resolved,2026-03-02T12:00:00Z,L2
"""
    auto = run(store, tmp_path, log)
    assert auto.step_by == "team"
    assert one(store, STEPS) == [("Desk",), ("L2",)]
    run(store, tmp_path, log, name="bystatus", flow={"step_by": "activity"})
    assert one(store, STEPS, "bystatus") == [("In Progress",)]


@case("flow", "end_activities")
def _end_activities(store, tmp_path):
    inferred = run(store, tmp_path, BASE)
    assert inferred.end_steps == ["C"]
    set_b = run(store, tmp_path, BASE, name="to_b", flow={"end_activities": ["B"]})
    assert set_b.end_steps == ["B"]
    # the exits move: how a case whose end step is followed by more work ends is the exit
    # rule's (docs/metrics.md); its lead time is no longer A -> C's
    lead_times = one(store, LEAD_TIMES, "to_b")
    assert lead_times != one(store, LEAD_TIMES)
    assert all(lead is None or lead < 14400.0 for _, lead in lead_times)


# ---------------------------------------------------------------- [status_classes]

STATUS = """number,state,sys_updated_on
s1,New,2026-03-02T09:00:00Z
s1,Triage,2026-03-02T10:00:00Z
s1,In Progress,2026-03-02T11:00:00Z
s1,Resolved,2026-03-02T12:00:00Z
"""


@case("status_classes", "*")
def _status_classes(store, tmp_path):
    run(store, tmp_path, STATUS)
    assert one(store, STEPS) == [("In Progress",)]  # Triage guessed a wait status
    run(store, tmp_path, STATUS, name="triage", status_classes={"Triage": "work"})
    assert one(store, STEPS, "triage") == [("In Progress",), ("Triage",)]


# ---------------------------------------------------------------- [steps]


@case("steps", "rename")
def _rename(store, tmp_path):
    run(store, tmp_path, BASE, steps={"rename": {"B": "Check"}})
    assert one(store, STEPS) == [("A",), ("C",), ("Check",)]


@case("steps", "merge")
def _merge(store, tmp_path):
    run(store, tmp_path, BASE, steps={"merge": {"Decide": ["B", "C"]}})
    assert one(store, STEPS) == [("A",), ("Decide",)]


@case("steps", "drop")
def _drop(store, tmp_path):
    run(store, tmp_path, BASE, steps={"drop": ["B"]})
    assert one(store, STEPS) == [("A",), ("C",)]


# ---------------------------------------------------------------- [discovery]

# Eight cases A > B > C, one A > X > C and one A > Y > C. Visits: A 10, C 10, B 8, X 1, Y 1 (30).
# The map keeps the most visited steps until they cover `coverage` of the visits: 0.995 needs
# all five; 0.9 stops after A, C, B (28 of 30) and folds X and Y into "other".
RARE = "case,activity,timestamp\n" + "".join(
    f"k{k},A,2026-03-02T{9 + k:02d}:00:00Z\nk{k},{'BBBBBBBBXY'[k]},2026-03-02T{9 + k:02d}:10:00Z\n"
    f"k{k},C,2026-03-02T{9 + k:02d}:20:00Z\n"
    for k in range(10)
)


# Eight cases A > B > C and one A > C: skipping B is rare.
SKIP = "case,activity,timestamp\n" + "".join(
    f"k{k},A,2026-03-02T{9 + k:02d}:00:00Z\n"
    + (f"k{k},B,2026-03-02T{9 + k:02d}:10:00Z\n" if k < 8 else "")
    + f"k{k},C,2026-03-02T{9 + k:02d}:20:00Z\n"
    for k in range(9)
)


@case("discovery", "noise_threshold")
def _noise_threshold(store, tmp_path):
    # the default (0.2) filters the rare edge A -> C (1 against A -> B's 8) out of the
    # discovered model: A, B, C in sequence. 0 (the plain inductive miner) keeps it: B may
    # be skipped, a choice (exclusive gateway) in the BPMN model.
    filtered = run(store, tmp_path, SKIP, model=True)
    plain = run(store, tmp_path, SKIP, name="plain", model=True, discovery={"noise_threshold": 0.0})
    model = lambda result: next(p for p in result.model_files if p.suffix == ".bpmn").read_text()  # noqa: E731
    assert "exclusiveGateway" not in model(filtered)
    assert "exclusiveGateway" in model(plain)


@case("discovery", "coverage")
def _coverage(store, tmp_path):
    assert run(store, tmp_path, RARE).folded_steps == []
    assert run(store, tmp_path, RARE, name="top", discovery={"coverage": 0.9}).folded_steps == ["X", "Y"]


@case("discovery", "max_steps")
def _max_steps(store, tmp_path):
    assert run(store, tmp_path, RARE, name="three", discovery={"max_steps": 3}).folded_steps == ["X", "Y"]


# ---------------------------------------------------------------- business hours and service levels
# (tests/test_business_hours.py works them through; here: each key changes the results)

WEEKDAYS_9_TO_5 = {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
LEAD_BH = "SELECT case_id, lead_time_bh_s FROM cases WHERE stream = $stream ORDER BY case_id"


@case("calendar", "*")
def _calendar(store, tmp_path):
    # Monday 2026-03-02 (UTC): c1 09:00 -> 12:00, c2 09:30 -> 13:30; 24x7 the twins are the lead
    # times; with hours 09:00-12:00 only, c1 has 3 h and c2 2.5 h (09:30-12:00)
    run(store, tmp_path, BASE)
    assert one(store, LEAD_BH) == [("c1", 3 * 3600.0), ("c2", 4 * 3600.0)]
    run(store, tmp_path, BASE, name="cal", calendar={"timezone": "UTC", "hours": {"mon": ["09:00-12:00"]}})
    assert one(store, LEAD_BH, "cal") == [("c1", 3 * 3600.0), ("c2", 2.5 * 3600.0)]


@case("calendars", "teams")
def _team_calendars(store, tmp_path):
    # team Back's calendar opens at 11:00: c1's B (Back, ready 09:00 after A, done 10:00) has no
    # business elapsed time; the stream's calendar (09:00-17:00) would give it 1 h
    visit_b = "SELECT elapsed_bh_s FROM visits WHERE stream = $stream AND case_id = 'c1' AND step = 'B'"
    calendar = {"timezone": "UTC", "hours": WEEKDAYS_9_TO_5}
    run(store, tmp_path, BASE, calendar=calendar)
    assert one(store, visit_b) == [(3600.0,)]
    teams = {"teams": {"Back": {"hours": {"mon": ["11:00-17:00"]}}}}
    run(store, tmp_path, BASE, name="teams", calendar=calendar, calendars=teams)
    assert one(store, visit_b, "teams") == [(0.0,)]


@case("sla", "*")
def _sla(store, tmp_path):
    # one service level, 3.5 h: c1 (3 h) met it, c2 (4 h) breached it at 13:00
    run(store, tmp_path, BASE)
    states = "SELECT case_id, state, breached_at FROM sla WHERE stream = $stream ORDER BY case_id"
    assert one(store, states) == []
    path = tmp_path / "t" / "log.csv"
    settings = settings_from_dict(
        {"stream": {"name": "sla"}, "source": {"path": str(path)}, "sla": [{"name": "s", "target": "3.5h"}]}
    )
    ingest(store, settings)
    compute_flow(store, settings)
    assert one(store, states, "sla") == [
        ("c1", "met", None),
        ("c2", "breached", datetime(2026, 3, 2, 13, 0, tzinfo=UTC)),
    ]


# ---------------------------------------------------------------- [engine]
# (tests/test_spark_parity.py computes every table on both engines; here: the key is read and acts)


@case("engine", "name")
def _engine_name(store, tmp_path):
    # spark: the compute goes to pipeline/engine_spark.py spark_compute (stood in for here: a
    # JVM per test would cost more than the whole case; the Spark computes themselves are in
    # tests/test_spark_parity.py); duckdb (the default): it computes in the store
    import pipeline.engine_spark

    path = tmp_path / "t" / "log.csv"
    run(store, tmp_path, BASE)
    data = {"stream": {"name": "e"}, "source": {"path": str(path)}, "sla": [{"name": "s", "target": "3.5h"}]}
    settings = settings_from_dict(data | {"engine": {"name": "spark"}})
    ingest(store, settings)
    asked = []

    class Stop(Exception):
        pass

    def spark_compute(con, settings, out_dir=None, session=None):
        asked.append((settings.engine.name, out_dir))
        raise Stop

    real, pipeline.engine_spark.spark_compute = pipeline.engine_spark.spark_compute, spark_compute
    try:
        with pytest.raises(Stop):
            compute_flow(store, settings)
    finally:
        pipeline.engine_spark.spark_compute = real
    assert asked == [("spark", None)]
    compute_flow(store, settings_from_dict(data | {"engine": {"name": "duckdb"}}))
    assert len(one(store, "SELECT case_id FROM sla WHERE stream = $stream", "e")) == 2


@pytest.mark.parametrize("key", sorted(CASES), ids=lambda k: f"{k[0]}.{k[1]}")  # after every @case
def test_the_setting_acts(key, store, tmp_path):
    CASES[key](store, tmp_path)


# ---------------------------------------------------------------- options of the CLI

runner = CliRunner()


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "log.csv", WIDE)
    return tmp_path


def vsm(*args: str):
    return runner.invoke(app, [*args, "--no-png"])


def test_discover_refuses_a_column_option_the_settings_file_does_not_hold(project):
    assert vsm("discover", "log.csv", "--stream", "x").exit_code == 0
    before = (project / "streams" / "x.toml").read_text()
    result = vsm("discover", "log.csv", "--stream", "x", "--activity-column", "stage")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == [
        f"Error: {Path('streams/x.toml')} exists with [columns] activity = 'activity'; "
        "--activity-column 'stage' differs: edit the file, or write it anew with "
        "`vsm init x --source FILE --force ...`"
    ]
    assert (project / "streams" / "x.toml").read_text() == before
    runs = runner.invoke(app, ["sql", "SELECT count(*) AS n FROM runs WHERE kind = 'ingest'", "--csv"])
    assert runs.output.splitlines()[1] == "1"  # nothing loaded by the refused run


def test_discover_names_every_differing_option_on_one_line(project):
    assert vsm("discover", "log.csv", "--stream", "x").exit_code == 0
    result = vsm(
        "discover", "log.csv", "--stream", "x", "--team-column", "squad", "--timezone", "Europe/Paris",
        "--delimiter", ";",
    )  # fmt: skip
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    for said in (
        "[columns] team = ''; --team-column 'squad' differs",
        "[source] delimiter = ''; --delimiter ';' differs",
        "[stream] timezone = 'UTC'; --timezone 'Europe/Paris' differs",
    ):
        assert said in result.output


def test_discover_accepts_options_equal_to_the_settings_file(project):
    first = vsm("discover", "log.csv", "--stream", "x", "--team-column", "squad", "--timezone", "UTC")
    assert first.exit_code == 0, first.output
    again = vsm("discover", "log.csv", "--stream", "x", "--team-column", "squad", "--timezone", "UTC")
    assert again.exit_code == 0, again.output
    plain = vsm("discover", "log.csv", "--stream", "x")  # no options: the file decides
    assert plain.exit_code == 0, plain.output


def test_coverage_acts_on_discover_ingest_and_compute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "rare.csv", RARE)
    folded = "2 rare steps drawn as 'other'"
    assert folded not in vsm("discover", "rare.csv", "--stream", "r").output
    assert folded in vsm("discover", "rare.csv", "--stream", "r", "--coverage", "0.9").output
    assert folded not in vsm("compute", "r").output
    assert folded in vsm("compute", "r", "--coverage", "0.9").output
    assert folded in vsm("ingest", "r", "--coverage", "0.9").output
    assert "coverage = 0.995" in (tmp_path / "streams" / "r.toml").read_text()  # the file keeps its own


def test_coverage_without_compute_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "rare.csv", RARE)
    assert vsm("discover", "rare.csv", "--stream", "r").exit_code == 0
    result = vsm("ingest", "r", "--no-compute", "--coverage", "0.9")
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: --coverage shapes the map, which --no-compute does not draw: drop one of them"
    )


def test_sql_output_options_act_or_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "log.csv", BASE)
    assert vsm("discover", "log.csv", "--stream", "t").exit_code == 0
    query = "SELECT case_id FROM cases ORDER BY case_id"
    sql = lambda *options: runner.invoke(app, ["sql", query, *options])  # noqa: E731
    assert sql("--csv").output.splitlines() == ["case_id", "c1", "c2"]
    assert sql("--csv", "--limit", "1").output.splitlines() == ["case_id", "c1"]
    assert sql("--json", "--limit", "1").output.strip() == '[{"case_id":"c1"}]'
    both = sql("--csv", "--json")
    assert (both.exit_code, both.output.strip()) == (2, "Error: --csv and --json: choose one output")


# discover's options that are not settings: they act on the run itself.
# --window overrides [flow] window for the run, as --coverage does [discovery] coverage.
RUN_OPTIONS = {"--stream", "--coverage", "--window", "--png", "--db", "--wait", "--streams-dir", "--debug"}


def test_every_discover_option_is_a_run_option_or_checked_against_the_settings_file():
    # a new column or source option must join OPTION_KEYS (pipeline/streams.py), or an
    # existing settings file would silently win over it
    command = typer.main.get_command(app).commands["discover"]
    options = {p.opts[0] for p in command.params if p.opts[0].startswith("--")}
    unclassified = sorted(options - RUN_OPTIONS - set(OPTION_KEYS.values()))
    assert not unclassified, f"discover options neither in OPTION_KEYS nor RUN_OPTIONS: {unclassified}"
    assert set(OPTION_KEYS.values()) <= options
