"""Database sources (issue 17): a stream read with a SQL query from a real PostgreSQL server
(tests/pg.py starts one per session; the tests skip, saying why, when none can start) and
from a real SQLite file.

The claims status history below is drawn by hand; the stream's time zone is
Europe/Amsterdam (UTC+1 in January), so a `timestamp without time zone` of 10:00 is 09:00 UTC.
The query the server really ran, cursor value included, is read from its log
(`log_statement = all`: 'execute ...' then 'DETAIL: parameters: $1 = ...').
"""

from __future__ import annotations

import os
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

import connectors.database as database
from connectors.database import check_query
from pipeline.errors import SettingsError, SystemSourceError
from pipeline.ingest import ingest
from pipeline.settings import settings_from_dict
from pipeline.store import open_store
from tests.conftest import run_vsm_process
from tests.pg import PASSWORD

ENV = "VSM_TEST_PG_PASSWORD"
TZ = "Europe/Amsterdam"
HISTORY = [  # claim_id, status, changed_at (local, Amsterdam), changed_by, team
    (1001, "Registered", "2025-01-06 09:00", "ann", "intake"),
    (1001, "Assessed", "2025-01-06 11:00", "bob", "assess"),
    (1002, "Registered", "2025-01-06 10:00", "ann", "intake"),
    (1001, "Paid", "2025-01-07 10:00", "cat", "finance"),
]
QUERY = "SELECT claim_id, status, changed_at, changed_by, team FROM {table}"
COLUMNS = {"resource": "changed_by", "team": "team"}


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 1, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def pg(pg_server, monkeypatch, request):
    """The server, a fresh claims table named after the test, the password in ENV."""
    table = "h_" + re.sub(r"\W", "_", request.node.name)[:50].lower()
    pg_server.execute(
        f"DROP TABLE IF EXISTS {table}",
        f"CREATE TABLE {table} (id bigserial, claim_id bigint, status text, changed_at timestamp, "
        "changed_by text, team text)",
    )
    insert(pg_server, table, HISTORY)
    monkeypatch.setenv(ENV, PASSWORD)
    pg_server.table = table
    return pg_server


def insert(pg, table: str, rows) -> None:
    values = ", ".join(f"({c}, '{s}', '{t}', '{b}', '{m}')" for c, s, t, b, m in rows)
    pg.execute(f"INSERT INTO {table} (claim_id, status, changed_at, changed_by, team) VALUES {values}")


def pg_settings(pg, name: str = "claims", columns=None, **source):
    return settings_from_dict(
        {
            "stream": {"name": name, "timezone": TZ},
            "source": {
                "kind": "postgres",
                "url": pg.url,
                "auth": f"env:{ENV}",
                "query": QUERY.format(table=pg.table),
                "cursor_column": "changed_at",
            }
            | source,
            "columns": COLUMNS if columns is None else columns,
        }
    )


def events(con, stream: str = "claims") -> list[tuple]:
    return con.execute(
        "SELECT case_id, activity, ts, resource, team FROM events WHERE stream = ? ORDER BY ts, case_id",
        [stream],
    ).fetchall()


def cursor_of(con, stream: str = "claims") -> str | None:
    row = con.execute("SELECT cursor FROM source_cursors WHERE stream = ?", [stream]).fetchall()
    return row[0][0] if row else None


def queries_run(pg, table: str) -> list[tuple[str, str]]:
    """(statement, parameters) of each query on `table` the server ran, in order (its log:
    an entry per line starting with a date; 'DETAIL: parameters: $1 = ...' follows one)."""
    entries = re.split(r"\n(?=\d{4}-\d\d-\d\d )", pg.log_text())
    run = []
    for i, entry in enumerate(entries):
        if "execute" in entry and "vsm_source" in entry and f" {table}\n" in entry + "\n":
            after = entries[i + 1] if i + 1 < len(entries) else ""
            params = after.split("parameters:", 1)[1].strip() if "DETAIL:  parameters:" in after else ""
            run.append((" ".join(entry.split("execute <unnamed>:", 1)[1].split()), params))
    return run


def parameters_sent(pg, table: str) -> list[str]:
    """The $1 values sent with the queries on `table` that had one."""
    return [params for _, params in queries_run(pg, table) if params]


# ---------------------------------------------------------------- PostgreSQL


def test_first_load_then_only_new_rows_and_late_rows_inside_the_overlap(pg, store):
    settings = pg_settings(pg)
    first = ingest(store, settings)
    # 4 rows; naive times read in Amsterdam (UTC+1); numeric claim ids become text
    assert (first.events_read, first.events_loaded) == (4, 4)
    assert events(store) == [
        ("1001", "Registered", utc(6, 8), "ann", "intake"),
        ("1002", "Registered", utc(6, 9), "ann", "intake"),
        ("1001", "Assessed", utc(6, 10), "bob", "assess"),
        ("1001", "Paid", utc(7, 9), "cat", "finance"),
    ]
    # the highest changed_at, 7 Jan 10:00 Amsterdam = 09:00 UTC, stored with the events
    assert cursor_of(store) == "2025-01-07T09:00:00+00:00"
    # the first run (no since) reads every row: no filter, no parameter
    assert queries_run(pg, pg.table) == [
        (
            f"COPY (SELECT * FROM (SELECT claim_id, status, changed_at, changed_by, team FROM {pg.table} ) "
            "AS vsm_source) TO STDOUT (FORMAT binary)",
            "",
        )
    ]

    insert(
        pg,
        pg.table,
        [
            (1002, "Assessed", "2025-01-07 12:00", "bob", "assess"),  # new
            (1003, "Registered", "2025-01-07 09:30", "ann", "intake"),  # late, inside the 1h overlap
            (1004, "Registered", "2025-01-07 08:30", "ann", "intake"),  # late beyond the overlap
        ],
    )
    second = ingest(store, settings)
    # the server was asked for changed_at >= cursor - 1h = 08:00 UTC (09:00 Amsterdam):
    # 1001 Paid (10:00, already stored), 1002 Assessed (12:00) and 1003 (09:30); not 1004 (08:30)
    assert parameters_sent(pg, pg.table) == ["$1 = '2025-01-07T08:00:00+00:00'"]
    assert (second.events_read, second.events_loaded, second.events_known) == (3, 2, 1)
    assert [e[:2] for e in events(store)][-3:] == [
        ("1003", "Registered"),
        ("1001", "Paid"),
        ("1002", "Assessed"),
    ]
    assert "1004" not in {e[0] for e in events(store)}
    assert cursor_of(store) == "2025-01-07T11:00:00+00:00"  # 12:00 Amsterdam


def test_timestamptz_is_read_as_is_and_since_starts_the_first_run(pg, store):
    table = pg.table + "_tz"
    pg.execute(
        f"DROP TABLE IF EXISTS {table}",
        f"CREATE TABLE {table} (claim_id numeric(8,0), status text, changed_at timestamptz)",
        f"INSERT INTO {table} VALUES (7, 'Registered', '2025-01-05 23:30+00'), "
        "(7, 'Closed', '2025-01-06 10:00+05'), (8, 'Registered', '2025-01-07 00:00+00')",
    )
    settings = pg_settings(
        pg, columns={}, query=f"SELECT * FROM {table}", since="2025-01-06"
    )  # since: midnight Amsterdam = 5 Jan 23:00 UTC
    result = ingest(store, settings)
    assert parameters_sent(pg, table) == ["$1 = '2025-01-05T23:00:00+00:00'"]
    # offsets kept as given (10:00+05 = 05:00 UTC), no local-time note; numeric ids as text
    assert [e[:3] for e in events(store)] == [
        ("7", "Registered", utc(5, 23, 30)),
        ("7", "Closed", utc(6, 5)),
        ("8", "Registered", utc(7, 0)),
    ]
    assert "local time" not in result.message()
    assert cursor_of(store) == "2025-01-07T00:00:00+00:00"


def test_an_integer_id_cursor_reads_only_newer_ids_without_overlap(pg, store):
    settings = pg_settings(pg, query=f"SELECT * FROM {pg.table}", cursor_column="id")
    assert ingest(store, settings).events_loaded == 4
    assert cursor_of(store) == "4"  # ids 1..4
    insert(pg, pg.table, [(1002, "Paid", "2025-01-08 09:00", "cat", "finance")])  # id 5
    again = ingest(store, settings)
    assert parameters_sent(pg, pg.table)[-1] == "$1 = '4'"
    assert (again.events_read, again.events_loaded) == (1, 1)
    assert cursor_of(store) == "5"
    nothing = ingest(store, settings)  # ids > 5: no row; a runs row says so, the cursor stays
    assert (nothing.events_read, nothing.events_loaded, cursor_of(store)) == (0, 0, "5")
    assert store.execute("SELECT count(*) FROM runs WHERE stream = 'claims'").fetchall() == [(3,)]


def test_nothing_new_loads_nothing_and_keeps_the_cursor(pg, store):
    settings = pg_settings(pg)
    ingest(store, settings)
    again = ingest(store, settings)  # 1001 Paid at the cursor is read again, nothing added
    assert (again.events_read, again.events_loaded) == (1, 0)
    assert cursor_of(store) == "2025-01-07T09:00:00+00:00"


def failing(store, settings, match: str, on_stage=lambda _: None) -> str:
    before = (events(store), cursor_of(store))
    runs = store.execute("SELECT count(*) FROM runs").fetchall()[0][0]
    with pytest.raises(SystemSourceError, match=match) as caught:
        ingest(store, settings, on_stage=on_stage)
    message = str(caught.value)
    assert "\n" not in message and PASSWORD not in message
    assert (events(store), cursor_of(store)) == before  # nothing loaded, cursor unchanged
    assert store.execute("SELECT count(*) FROM runs").fetchall()[0][0] == runs
    return message


def test_a_connection_lost_mid_read_loads_nothing_and_keeps_the_cursor(pg, store, monkeypatch):
    settings = pg_settings(pg)
    ingest(store, settings)
    pg.execute(
        "CREATE OR REPLACE FUNCTION slow(g int) RETURNS int LANGUAGE plpgsql AS "
        "$$ BEGIN IF g % 500 = 0 THEN PERFORM pg_sleep(0.02); END IF; RETURN g; END $$"
    )
    query = (
        "SELECT slow(g) AS claim_id, 'Registered' AS status, "
        "timestamp '2025-02-01' + g * interval '1 second' AS changed_at FROM generate_series(1, 20000) g"
    )
    slow = pg_settings(pg, query=query, columns={})
    monkeypatch.setattr(database, "BATCH_BYTES", 4096)  # many small batches
    killed = []

    def kill_after_the_first_batch(stage: str) -> None:
        if "rows read" in stage and not killed:
            killed.append(stage)
            pg.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE '%vsm_source%' AND pid <> pg_backend_pid()"
            )

    message = failing(
        store, slow, r"postgres stream 'claims' at vsm_admin@127\.0\.0\.1", kill_after_the_first_batch
    )
    assert killed  # the read had begun: batches were in hand when the server dropped it
    assert "terminat" in message.lower() or "connection" in message.lower()
    assert cursor_of(store) == "2025-01-07T09:00:00+00:00"


def test_a_wrong_password_a_server_down_an_unknown_column_and_a_timeout_are_one_line(pg, store, monkeypatch):
    settings = pg_settings(pg)
    ingest(store, settings)
    monkeypatch.setenv(ENV, "not-the-password")
    message = failing(store, settings, "password authentication failed")
    assert message.startswith(f"postgres stream 'claims' at vsm_admin@127.0.0.1:{pg.port}/postgres: ")
    assert "not-the-password" not in message
    monkeypatch.setenv(ENV, PASSWORD)

    down = pg_settings(pg, url="postgresql://vsm_admin@127.0.0.1:1/postgres")
    failing(store, down, "127.0.0.1:1/postgres: .*[Cc]onnection refused")

    unknown = pg_settings(pg, query=f"SELECT claim_id, nope FROM {pg.table}")
    failing(store, unknown, 'column "nope" does not exist')
    failing(store, pg_settings(pg, query="SELECT * FROM no_such_table"), "no_such_table")

    sleepy = pg_settings(pg, statement_timeout="1s", query=f"SELECT h.* FROM {pg.table} h, pg_sleep(3) AS s")
    failing(store, sleepy, "statement timeout")


def test_the_read_is_a_read_only_transaction_with_the_timeout(pg, store):
    ingest(store, pg_settings(pg, statement_timeout="45m"))
    log = pg.log_text()
    assert "SET TRANSACTION READ ONLY" in log
    assert "SET LOCAL statement_timeout = 2700000" in log  # 45 min in ms
    # the server itself refuses a write in that transaction, whatever got past the check
    # (a function with side effects called from a SELECT)
    pg.execute(
        f"CREATE OR REPLACE FUNCTION sneaky() RETURNS int LANGUAGE sql AS "
        f"$$ DELETE FROM {pg.table}; SELECT 1 $$"
    )
    sneaky = pg_settings(
        pg, query="SELECT sneaky() AS claim_id, 'x' AS status, now() AS changed_at", columns={}
    )
    message = failing(store, sneaky, "read-only transaction")
    assert "cannot execute DELETE" in message
    assert len(pg.execute(f"SELECT * FROM {pg.table}")) == 4


@pytest.mark.parametrize(
    "query, why",
    [
        ("SELECT 1; DROP TABLE claims", "more than one statement"),
        ("DELETE FROM claims", "not a SELECT"),
        ("/* a SELECT */ DROP TABLE claims", "not a SELECT"),
        ("-- SELECT\nUPDATE claims SET status = 'x'", "not a SELECT"),
        ("WITH d AS (DELETE FROM claims RETURNING *) SELECT * FROM d", "holds DELETE"),
        ("SELECT * INTO archive FROM claims", "holds INTO"),
        ("SELECT * FROM claims FOR UPDATE", "holds UPDATE"),
        ("SELECT replace(status, '_', ' ') AS status, comment, set FROM claims", "ok"),  # not keywords here
        ("SELECT 'x' AS a; -- ; \n", "ok"),  # one statement, its trailing ';' and a comment
        ("SELECT ';' AS a, \"update\" FROM claims -- DROP TABLE claims", "ok"),
        ("WITH a AS (SELECT 1 AS n) SELECT n FROM a", "ok"),
        ("SELECT $$; DROP TABLE x$$ AS a", "ok"),
        ("SELECT 'unterminated", "unterminated"),
        ("", "empty"),
    ],
)
def test_only_one_select_is_sent(query, why):
    if why == "ok":
        assert check_query(query)
    else:
        with pytest.raises(SettingsError, match=why):
            check_query(query)


def test_a_non_select_query_is_refused_before_anything_is_sent(pg, tmp_path):
    streams = tmp_path / "streams"
    streams.mkdir()
    (streams / "bad.toml").write_text(
        f'[stream]\nname = "bad"\n[source]\nkind = "postgres"\nurl = "{pg.url}"\n'
        f'auth = "env:{ENV}"\nquery = "SELECT 1; DROP TABLE {pg.table}"\n',
        encoding="utf-8",
    )
    done = run_vsm_process("ingest", "bad", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "more than one statement" in done.stdout + done.stderr
    assert f"DROP TABLE {pg.table}" not in pg.log_text()
    assert len(pg.execute(f"SELECT * FROM {pg.table}")) == 4


def test_the_password_is_in_no_file_output_or_traceback(pg, tmp_path):
    """init, ingest (with --debug), a failing ingest with --debug: the password appears
    nowhere, neither in outputs nor in any file the runs wrote (store, settings, reports)."""
    env_before = os.environ.get(ENV)
    assert env_before == PASSWORD
    query = QUERY.format(table=pg.table)
    init = run_vsm_process(
        "init", "claims", "--source", "postgres", "--url", pg.url, "--auth", f"env:{ENV}",
        "--query", query, "--cursor-column", "changed_at", "--resource-column", "changed_by",
        "--timezone", TZ, cwd=tmp_path,
    )  # fmt: skip
    assert init.returncode == 0, init.stdout + init.stderr
    text = (tmp_path / "streams" / "claims.toml").read_text(encoding="utf-8")
    assert 'cursor_column = "changed_at"' in text and f'auth = "env:{ENV}"' in text
    ok = run_vsm_process("ingest", "claims", "--debug", cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    with open_store(tmp_path / "vsm.duckdb", read_only=True) as con:
        assert [e[:3] for e in events(con)][-1] == ("1001", "Paid", utc(7, 9))  # 10:00 in Amsterdam
        assert cursor_of(con) == "2025-01-07T09:00:00+00:00"
    dry = run_vsm_process("ingest", "claims", "--dry-run", cwd=tmp_path)
    assert "changed_at >= 2025-01-07 08:00:00 UTC" in dry.stdout, dry.stdout
    (tmp_path / "wrong").write_text("wrong-" + PASSWORD[::-1], encoding="utf-8")
    bad = run_vsm_process(
        "ingest",
        "claims",
        "--debug",
        cwd=tmp_path,
        before=f"import os\nos.environ['{ENV}'] = 'x{PASSWORD}x'\n",
    )
    assert bad.returncode == 5, bad.stdout + bad.stderr
    assert "password authentication failed" in bad.stdout + bad.stderr
    for done in (init, ok, dry, bad):
        assert PASSWORD not in done.stdout + done.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


# ---------------------------------------------------------------- SQLite


def sqlite_db(path: Path, rows) -> Path:
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE IF NOT EXISTS history (id INTEGER PRIMARY KEY, claim_id INTEGER, status TEXT, "
        "changed_at TEXT, changed_by TEXT)"
    )
    con.executemany("INSERT INTO history (claim_id, status, changed_at, changed_by) VALUES (?,?,?,?)", rows)
    con.commit()
    con.close()
    return path


def test_sqlite_first_load_then_incremental_by_timestamp_and_by_id(tmp_path, store):
    db = sqlite_db(tmp_path / "claims.db", [r[:4] for r in HISTORY])
    by_time = settings_from_dict(
        {
            "stream": {"name": "claims", "timezone": TZ},
            "source": {
                "kind": "sqlite",
                "url": f"sqlite:///{db}",
                "query": "SELECT * FROM history",
                "cursor_column": "changed_at",
                "cursor_overlap": "30m",
            },  # fmt: skip
            "columns": {"resource": "changed_by"},
        }
    )
    by_id = settings_from_dict(
        {
            "stream": {"name": "ids", "timezone": TZ},
            "source": {
                "kind": "sqlite",
                "url": f"sqlite:///{db}",
                "query": "SELECT * FROM history",
                "cursor_column": "id",
            },  # fmt: skip
            "columns": {"resource": "changed_by"},
        }
    )
    assert ingest(store, by_time).events_loaded == 4
    assert ingest(store, by_id).events_loaded == 4
    assert (cursor_of(store), cursor_of(store, "ids")) == ("2025-01-07T09:00:00+00:00", "4")
    sqlite_db(
        db,
        [
            (1002, "Assessed", "2025-01-07 12:00", "bob"),  # new
            (1003, "Registered", "2025-01-07T09:45", "ann"),  # late, inside 30 min ('T' written)
            (1004, "Registered", "2025-01-07 09:15", "ann"),  # late, beyond 30 min
        ],
    )
    again = ingest(store, by_time)
    # from 09:30 Amsterdam: 1001 Paid (known), 1002 Assessed, 1003
    assert (again.events_read, again.events_loaded, again.events_known) == (3, 2, 1)
    assert cursor_of(store) == "2025-01-07T11:00:00+00:00"
    ids = ingest(store, by_id)  # ids 5, 6, 7: all three, 1004 too
    assert (ids.events_read, ids.events_loaded) == (3, 3)
    assert cursor_of(store, "ids") == "7"
    assert events(store, "ids")[0] == ("1001", "Registered", utc(6, 8), "ann", None)


def test_a_missing_sqlite_file_is_one_line_and_the_file_is_opened_read_only(tmp_path, store):
    settings = settings_from_dict(
        {
            "stream": {"name": "gone"},
            "source": {"kind": "sqlite", "url": f"sqlite:///{tmp_path}/none.db", "query": "SELECT 1 AS a"},
        }
    )
    with pytest.raises(SystemSourceError, match=r"sqlite stream 'gone' at .*none\.db: no such database file"):
        ingest(store, settings)
    assert not (tmp_path / "none.db").exists()  # not created by the read


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "source, message",
    [
        ({"url": "postgresql://u:pw@db/claims"}, "holds a password; put it in"),
        ({"url": "https://db/claims"}, "expected a postgres URL"),
        ({"auth": "hunter2"}, "never the secret itself"),
        ({"statement_timeout": "soon"}, "statement_timeout = 'soon': expected a duration"),
        ({"cursor_overlap": "1 hour"}, "cursor_overlap = '1 hour': expected a duration"),
        ({"cursor_column": "", "cursor_overlap": "1h"}, "needs \\[source\\] cursor_column"),
        ({"cursor_column": "", "since": "2025-01-01"}, "needs \\[source\\] cursor_column"),
        ({"user": "bob"}, "a postgres source has no use for it"),
        ({"path": "x.csv"}, "reads no file"),
        ({"query": "UPDATE claims SET x = 1"}, "not a SELECT"),
        (
            {"kind": "sqlite", "url": "sqlite:///c.db", "statement_timeout": "1m"},
            "a sqlite source has no use",
        ),
        ({"kind": "mysql"}, "expected one of file, .*postgres, sqlite"),
    ],
)
def test_database_settings_are_refused_with_one_line(source, message):
    base = {"kind": "postgres", "url": "postgresql://vsm_reader@db/claims", "auth": "env:X",
            "query": "SELECT * FROM claims", "cursor_column": "changed_at"}  # fmt: skip
    with pytest.raises(SettingsError, match=message) as caught:
        settings_from_dict({"stream": {"name": "s"}, "source": base | source})
    assert "pw@" not in str(caught.value) and "hunter2" not in str(caught.value)


def test_database_keys_are_refused_for_a_file_and_for_jira():
    with pytest.raises(SettingsError, match="cursor_column = 'changed_at': a file source has no use"):
        settings_from_dict(
            {"stream": {"name": "s"}, "source": {"path": "x.csv", "cursor_column": "changed_at"}}
        )
    jira = {"kind": "jira", "url": "https://a.atlassian.net", "query": "project = X", "user": "u",
            "auth": "env:T", "statement_timeout": "1m"}  # fmt: skip
    with pytest.raises(SettingsError, match="statement_timeout = '1m': a jira source has no use"):
        settings_from_dict({"stream": {"name": "s"}, "source": jira})
