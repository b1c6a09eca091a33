"""`vsm sql` reads the store and nothing else (issue 15 item 2).

Every statement the issue found writing files, reading secrets, attaching or installing is
tried through the CLI: each exits 1 with one `Error: query refused: ...` line, and no file
appears or changes anywhere under the test's folder. Reading the results still works, in
a table, as CSV and as JSON. Both locks are also tried on their own: the statement check
(pipeline/query.py check_statement) and the locked connection (open_for_analysts), so
either one alone still holds if the other ever lets something by.
"""

from __future__ import annotations

import json

import duckdb
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.query import QueryError, check_statement, open_for_analysts, run_query
from tests.conftest import run_vsm_process, write

runner = CliRunner()

# Two cases, two events each: case c1 A then B, case c2 A then B.
LOG = (
    "case_id,activity,timestamp\n"
    "c1,A,2026-03-02T08:00:00Z\n"
    "c1,B,2026-03-02T09:00:00Z\n"
    "c2,A,2026-03-02T10:00:00Z\n"
    "c2,B,2026-03-02T12:00:00Z\n"
)
TOKEN = "vsm-test-token-5b1e0c"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sqlro")
    write(folder / "log.csv", LOG)
    done = run_vsm_process("discover", "log.csv", "--stream", "t", "--no-png", cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    write(folder / "outside.csv", "secret\nkept-out\n")
    (folder / "x.duckdb").write_bytes(b"")  # an ATTACH target that exists (empty file)
    return folder


def snapshot(folder):
    """Every file under `folder` with its size and modification time (but the store's spill
    folder `vsm.duckdb.tmp/`, DuckDB's own)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.endswith(".tmp") for part in p.relative_to(folder).parts)
    }


def vsm_sql(folder, monkeypatch, *args):
    monkeypatch.chdir(folder)
    return runner.invoke(app, ["sql", *args])


REFUSED = [
    "COPY (SELECT 1) TO 'copied.csv'",
    "COPY events TO 'events.parquet' (FORMAT parquet)",
    "EXPORT DATABASE 'exported'",
    "ATTACH 'x.duckdb' (READ_WRITE)",
    "ATTACH 'x.duckdb'",
    "ATTACH 'new.duckdb' AS n",
    "DETACH vsm",
    "SELECT * FROM read_text('/proc/self/environ')",
    "SELECT * FROM read_blob('outside.csv')",
    "SELECT * FROM read_csv('outside.csv')",
    "SELECT * FROM 'outside.csv'",
    "SELECT * FROM glob('*')",
    "SELECT * FROM read_parquet('*.parquet')",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "RESET enable_external_access",
    "SET lock_configuration = false",
    "PRAGMA enable_profiling",
    "PRAGMA import_database('exported')",
    "SET VARIABLE v = 1",
    "CREATE TEMP TABLE scratch AS SELECT 1",
    "CHECKPOINT",
    "CALL pragma_version()",
    "UPDATE EXTENSIONS",
    "VACUUM",
    "SELECT 1; COPY (SELECT 1) TO 'sneaked.csv'",
    "SELECT count(*) FROM events; SELECT 2",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO 'explained.csv'",
    "SELECT * FROM enable_logging()",
]


@pytest.mark.parametrize("query", REFUSED)
def test_a_statement_that_does_more_than_read_is_refused_and_writes_nothing(workdir, monkeypatch, query):
    before = snapshot(workdir)
    result = vsm_sql(workdir, monkeypatch, query)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: query refused: "), result.output
    assert lines[0].endswith("(vsm sql only reads the store; use --csv/--json or vsm export to write files)")
    assert "kept-out" not in result.output
    assert snapshot(workdir) == before


@pytest.mark.parametrize("query", REFUSED)
def test_the_locked_connection_alone_refuses_what_the_statement_check_would(workdir, monkeypatch, query):
    """Without the statement check, the connection still writes, reads and attaches
    nothing (a statement that only reads, SET VARIABLE or a temp table, is let through)."""
    monkeypatch.chdir(workdir)
    before = snapshot(workdir)
    con = open_for_analysts(workdir / "vsm.duckdb")
    try:
        try:
            rows = con.sql(query)
            rows = rows.fetchall() if rows is not None else []
        except duckdb.Error:
            rows = []
        assert "kept-out" not in str(rows) and TOKEN not in str(rows)
        settings = dict(
            con.sql(
                "SELECT name, value FROM duckdb_settings() WHERE name IN "
                "('enable_external_access', 'lock_configuration', 'autoinstall_known_extensions',"
                " 'autoload_known_extensions', 'allow_community_extensions')"
            ).fetchall()
        )
        assert set(settings.values()) == {"false", "true"}
        assert settings["lock_configuration"] == "true"
        assert settings["enable_external_access"] == "false"
        assert {k for k, v in settings.items() if v == "false"} == set(settings) - {"lock_configuration"}
        assert con.sql("SELECT count(*) FROM duckdb_databases() WHERE NOT internal").fetchall() == [(1,)]
    finally:
        con.close()
    assert snapshot(workdir) == before


def test_the_process_environment_is_not_readable(workdir, monkeypatch):
    """A token in the environment (as connectors hold them) stays out of stdout and stderr,
    also with --debug's traceback. A process of its own: /proc/self/environ is the
    environment the process was started with."""
    monkeypatch.setenv("VSM_TEST_TOKEN", TOKEN)
    env_query = "SELECT * FROM read_text('/proc/self/environ')"
    for args in (["--csv"], ["--json", "--debug"]):
        done = run_vsm_process("sql", env_query, *args, cwd=workdir)
        assert done.returncode == 1, done.stdout + done.stderr
        assert TOKEN not in done.stdout and TOKEN not in done.stderr
        assert "Error: query refused: Permission Error: " in done.stderr


READS = [
    # (query, expected rows as JSON) -- the log above: 4 events, 2 cases, steps A and B.
    ("SELECT count(*) AS n, count(DISTINCT case_id) AS cases FROM events", [{"n": 4, "cases": 2}]),
    (
        "WITH s AS (SELECT step, visits FROM step_metrics WHERE stream = 't') SELECT * FROM s ORDER BY step",
        [{"step": "A", "visits": 2}, {"step": "B", "visits": 2}],
    ),
    # lead times: c1 08:00 -> 09:00 = 3600 s, c2 10:00 -> 12:00 = 7200 s
    (
        "FROM cases SELECT case_id, lead_time_s ORDER BY case_id",
        [
            {"case_id": "c1", "lead_time_s": 3600.0},
            {"case_id": "c2", "lead_time_s": 7200.0},
        ],
    ),
    (
        "SELECT strftime(min(ts) AT TIME ZONE 'Europe/Paris', '%H:%M') AS first FROM events",
        [{"first": "09:00"}],
    ),
    ("PRAGMA table_info('runs')", None),
    ("SHOW TABLES", None),
    ("DESCRIBE events", None),
    ("SELECT * FROM pragma_version()", None),
    ("EXPLAIN SELECT * FROM events", None),
    (
        "PIVOT (SELECT case_id, activity FROM events) ON activity USING count(*) ORDER BY case_id",
        [
            {"case_id": "c1", "A": 1, "B": 1},
            {"case_id": "c2", "A": 1, "B": 1},
        ],
    ),
    ("SELECT 1 AS one;", [{"one": 1}]),
]


@pytest.mark.parametrize("query, expected", READS)
def test_reading_the_store_still_works(workdir, monkeypatch, query, expected):
    before = snapshot(workdir)
    as_json = vsm_sql(workdir, monkeypatch, query, "--json")
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.output)
    assert rows
    if expected is not None:
        assert rows == expected
    assert snapshot(workdir) == before


def test_csv_and_table_output_still_work(workdir, monkeypatch):
    as_csv = vsm_sql(workdir, monkeypatch, "SELECT case_id FROM cases ORDER BY case_id", "--csv")
    assert as_csv.exit_code == 0 and as_csv.output == "case_id\nc1\nc2\n"
    table = vsm_sql(workdir, monkeypatch, "SELECT case_id FROM cases ORDER BY case_id")
    assert table.exit_code == 0 and "c1" in table.output and "c2" in table.output


def test_a_failing_query_is_one_line_with_duckdbs_hint(workdir):
    with pytest.raises(QueryError, match=r'^query failed: Catalog Error: .*evnts.* Did you mean "events"\?$'):
        run_query(workdir / "vsm.duckdb", "SELECT * FROM evnts")
    with pytest.raises(QueryError, match=r'^query failed: Parser Error: syntax error at or near "SELEC"$'):
        run_query(workdir / "vsm.duckdb", "SELEC 1")
    with pytest.raises(QueryError, match="^query failed: no SQL statement in the query$"):
        check_statement(" ;; -- nothing\n")


# --- vsm export: files are written by Python, never by the analyst's SQL ----------------------

# cases of LOG: c1 lead time 3600 s, c2 7200 s
CASES = "SELECT case_id, lead_time_s FROM cases ORDER BY case_id"


def vsm_export(folder, monkeypatch, *args):
    monkeypatch.chdir(folder)
    return runner.invoke(app, ["export", *args])


def test_export_writes_each_format(workdir, monkeypatch, tmp_path):
    import polars as pl

    out = tmp_path / "out"
    for name in ("c.csv", "c.json", "c.jsonl", "c.ndjson", "c.parquet"):
        result = vsm_export(workdir, monkeypatch, CASES, "--out", str(out / name))
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f"Wrote 2 rows to {out / name}"
    assert (out / "c.csv").read_text() == "case_id,lead_time_s\nc1,3600.0\nc2,7200.0\n"
    rows = [{"case_id": "c1", "lead_time_s": 3600.0}, {"case_id": "c2", "lead_time_s": 7200.0}]
    assert json.loads((out / "c.json").read_text()) == rows
    # the same text `vsm sql --json` prints
    assert (out / "c.json").read_text() == vsm_sql(workdir, monkeypatch, CASES, "--json").output
    for name in ("c.jsonl", "c.ndjson"):
        assert [json.loads(line) for line in (out / name).read_text().splitlines()] == rows
    assert pl.read_parquet(out / "c.parquet").to_dicts() == rows
    assert sorted(p.name for p in out.iterdir()) == ["c.csv", "c.json", "c.jsonl", "c.ndjson", "c.parquet"]


def test_export_streams_batches_and_an_empty_result_keeps_its_columns(workdir, monkeypatch, tmp_path):
    import pipeline.query as query

    monkeypatch.setattr(query, "EXPORT_BATCH_ROWS", 1)  # one row a batch: 4 events, 4 batches
    many = "SELECT case_id, activity FROM events ORDER BY case_id, activity"
    for name in ("e.csv", "e.json"):
        assert vsm_export(workdir, monkeypatch, many, "--out", str(tmp_path / name)).exit_code == 0
    assert (tmp_path / "e.csv").read_text() == "case_id,activity\nc1,A\nc1,B\nc2,A\nc2,B\n"
    assert [r["activity"] for r in json.loads((tmp_path / "e.json").read_text())] == ["A", "B", "A", "B"]
    none = "SELECT case_id, activity FROM events WHERE false"
    assert vsm_export(workdir, monkeypatch, none, "--out", str(tmp_path / "n.csv")).exit_code == 0
    assert (tmp_path / "n.csv").read_text() == "case_id,activity\n"
    assert vsm_export(workdir, monkeypatch, none, "--out", str(tmp_path / "n.json")).exit_code == 0
    assert (tmp_path / "n.json").read_text() == "[]\n"


@pytest.mark.parametrize(
    "query, code, message",
    [
        ("COPY (SELECT 1) TO 'copied.csv'", 1, "Error: query refused: a COPY statement does more than read"),
        ("SELECT * FROM read_text('outside.csv')", 1, "Error: query refused: Permission Error"),
        ("SELECT * FROM evnts", 1, "Error: query failed: Catalog Error"),
        (
            "SELECT max(ts) - min(ts) AS span FROM events",
            1,
            "Error: query failed: column 'span' is an INTERVAL, which cannot be output",
        ),
    ],
)
def test_a_failed_export_leaves_the_older_file_as_it_was(
    workdir, monkeypatch, tmp_path, query, code, message
):
    older = write(tmp_path / "kept.csv", "older\n")
    before = snapshot(workdir)
    result = vsm_export(workdir, monkeypatch, query, "--out", str(older))
    assert result.exit_code == code and result.output.startswith(message), result.output
    assert older.read_text() == "older\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.csv"]  # no part file left
    assert snapshot(workdir) == before


def test_export_refuses_a_format_it_cannot_name(workdir, monkeypatch, tmp_path):
    result = vsm_export(workdir, monkeypatch, CASES, "--out", str(tmp_path / "c.xlsx"))
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"Error: --out {tmp_path / 'c.xlsx'}: expected a file name ending in "
        ".csv, .json, .jsonl, .ndjson, .parquet (the format)"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_query_bigger_than_memory_still_spills_to_the_stores_temp_folder(workdir, monkeypatch):
    """File access is off for queries, not for DuckDB's own spilling into `vsm.duckdb.tmp/`:
    1M distinct 32-character strings sorted under a 48 MB limit (on DuckDB 2.0.1 the same
    query with spilling turned off, temp_directory = '', runs out of memory)."""
    monkeypatch.setenv("VSM_MEMORY_LIMIT", "48MB")
    frame = run_query(
        workdir / "vsm.duckdb",
        "SELECT count(*) AS n, max(rn) AS last FROM "
        "(SELECT row_number() OVER (ORDER BY md5(i::VARCHAR)) AS rn FROM range(1000000) r(i))",
    )
    assert frame.to_dicts() == [{"n": 1_000_000, "last": 1_000_000}]
