"""`vsm export STREAM --format parquet|csv --out DIR`: every result table of a stream, one
file per table, its rows only, written aside and renamed into place; and how a stream name
is told from a query.
"""

from __future__ import annotations

import re
import subprocess
import sys

import polars as pl
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.exports import PART_PREFIX, STREAM_TABLES, export_stream, is_stream_name
from pipeline.query import run_query
from pipeline.store import open_store
from pipeline.streams import discover, init_stream
from tests.conftest import write

runner = CliRunner()

# The stream `claims`, a point log (one timestamp per step), Close its end step:
#   C1: Submit 03-02 09:00 > Review 03-03 09:00 > Close 03-04 09:00   lead time 2 d = 172800 s
#   C2: Submit 03-02 09:00 > Close 03-05 09:00                         lead time 3 d = 259200 s
#   C3: Submit 03-03 09:00, never closed: open, no lead time
#   C4's row has no readable timestamp: rejected (1 reject), the other 6 rows loaded
CLAIMS = """case,activity,timestamp
C1,Submit,2026-03-02 09:00:00
C1,Review,2026-03-03 09:00:00
C1,Close,2026-03-04 09:00:00
C2,Submit,2026-03-02 09:00:00
C2,Close,2026-03-05 09:00:00
C3,Submit,2026-03-03 09:00:00
C4,Submit,not a time
"""
# A second stream in the same store, whose rows must not reach claims' files.
OTHER = """case,activity,timestamp
X1,Submit,2026-03-02 09:00:00
X1,Close,2026-03-02 10:00:00
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """claims and other loaded and computed in one store; `fresh` has settings and nothing
    loaded yet."""
    root = tmp_path_factory.mktemp("export")
    write(root / "claims.csv", CLAIMS)
    write(root / "other.csv", OTHER)
    write(root / "fresh.csv", OTHER)
    for name in ("claims", "other", "fresh"):
        init_stream(name, root / f"{name}.csv", streams_dir=root / "streams")
        path = root / "streams" / f"{name}.toml"
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"(?m)^end_activities = .*$", 'end_activities = ["Close"]', text))
    with open_store(root / "vsm.duckdb") as con:
        for name in ("claims", "other"):
            discover(con, root / f"{name}.csv", name, streams_dir=root / "streams", png=False)
    return root


def vsm_export(root, monkeypatch, *args):
    monkeypatch.chdir(root)
    return runner.invoke(app, ["export", *args])


def store_rows(root, table, stream="claims") -> int:
    with open_store(root / "vsm.duckdb", read_only=True) as con:
        return con.execute(f'SELECT count(*) FROM "{table}" WHERE stream = $s', {"s": stream}).fetchone()[0]


def test_a_stream_name_is_one_word_and_a_query_is_not():
    assert is_stream_name("claims") and is_stream_name("claims-2026.v2")
    assert not is_stream_name("FROM step_metrics") and not is_stream_name("SELECT 1")
    assert not is_stream_name("'claims'")


def test_every_table_is_written_as_parquet_with_the_stores_rows(project, monkeypatch, tmp_path):
    out = tmp_path / "claims-parquet"
    result = vsm_export(project, monkeypatch, "claims", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.parquet" for t in STREAM_TABLES)
    # events, rejects, runs, the 18 flow tables (sla among them), the 2 history tables, comparisons
    # and simulations
    assert len(STREAM_TABLES) == 26
    for table in STREAM_TABLES:
        frame = pl.read_parquet(out / f"{table}.parquet")
        assert frame.height == store_rows(project, table), table
        assert f"Wrote {frame.height:,} rows to {out / f'{table}.parquet'}" in result.output
        assert set(frame["stream"]) <= {"claims"}, table  # other's rows stay out
    cases = pl.read_parquet(out / "cases.parquet").sort("case_id")
    assert cases.select("case_id", "is_open", "lead_time_s").rows() == [
        ("C1", False, 172800.0),
        ("C2", False, 259200.0),
        ("C3", True, None),
    ]
    assert pl.read_parquet(out / "events.parquet").height == 6
    rejects = pl.read_parquet(out / "rejects.parquet")
    assert rejects["value"].to_list() == ["not a time"]
    # the event ids as stored: numbers since migration 016, a first load's being its lines
    with open_store(project / "vsm.duckdb", read_only=True) as con:
        rows = con.execute("SELECT event_id, source_line FROM events WHERE stream = 'claims'").fetchall()
    assert len(rows) == 6 and all(event_id == line for event_id, line in rows)
    ids = {event_id for event_id, _ in rows}
    assert set(pl.read_parquet(out / "events.parquet")["event_id"]) == ids


def test_csv_files_have_the_tables_columns_as_header(project, monkeypatch, tmp_path):
    out = tmp_path / "claims-csv"
    result = vsm_export(project, monkeypatch, "claims", "--format", "csv", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.csv" for t in STREAM_TABLES)
    with open_store(project / "vsm.duckdb", read_only=True) as con:
        for table in STREAM_TABLES:
            columns = [c for (c, *_) in con.execute(f'DESCRIBE "{table}"').fetchall()]
            header = (out / f"{table}.csv").read_text().splitlines()[0]
            assert header == ",".join(columns), table
    # C1 > C2 > C3 in the store's order of cases is not promised: compare as sets
    lines = set((out / "cases.csv").read_text().splitlines()[1:])
    assert len(lines) == 3 and any(line.startswith("claims,C2,") and ",259200.0," in line for line in lines)


def test_a_stream_with_settings_and_no_results_gets_every_file_empty(project, monkeypatch, tmp_path):
    out = tmp_path / "fresh"
    result = vsm_export(project, monkeypatch, "fresh", "--format", "csv", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.output.count("Wrote 0 rows to ") == len(STREAM_TABLES)
    assert (out / "step_metrics.csv").read_text().startswith("stream,step,visits,")
    assert all(len((out / f"{t}.csv").read_text().splitlines()) == 1 for t in STREAM_TABLES)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["nosuch", "--out", "x"],
            "Error: stream 'nosuch': no settings (streams/nosuch.toml) and no results in vsm.duckdb",
        ),
        (["claims", "--format", "xlsx", "--out", "x"], "Error: --format xlsx: expected one of parquet, csv"),
        (
            ["claims", "--out", "claims.csv"],
            "Error: --out claims.csv: is a file; a stream's tables go to a folder",
        ),
        (["claims", "--out", "new.parquet"], "Error: --out new.parquet: a stream's tables go to a folder"),
        (
            ["FROM cases", "--format", "csv", "--out", "x.csv"],
            "Error: --format csv: only for a stream's tables",
        ),
    ],
)
def test_refused_with_one_line_and_exit_2_writing_nothing(project, monkeypatch, args, message):
    before = sorted(p.name for p in project.iterdir())
    result = vsm_export(project, monkeypatch, *args)
    assert result.exit_code == 2 and result.output.startswith(message), result.output
    assert sorted(p.name for p in project.iterdir()) == before
    assert (project / "claims.csv").read_text() == CLAIMS


def test_a_failed_export_leaves_the_last_files_as_they_were(project, tmp_path, monkeypatch):
    import pipeline.query as query

    out = tmp_path / "out"
    export_stream(project / "vsm.duckdb", "other", out, "csv", project / "streams")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    written = []

    def fails_at_the_fifth(reader, target):
        written.append(target.name)
        if len(written) == 5:
            raise OSError(28, "No space left on device")
        return query._write_csv(reader, target)

    monkeypatch.setitem(query.WRITERS, "csv", fails_at_the_fifth)
    with pytest.raises(query.QueryError, match=r"cannot be written: No space left on device"):
        export_stream(project / "vsm.duckdb", "claims", out, "csv", project / "streams")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # other's files, no hidden folder


def test_a_folder_left_by_a_killed_export_is_removed_by_the_next(project, tmp_path):
    out = tmp_path / "out"
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    leftover = out / f"{PART_PREFIX}{int(gone.stdout)}"  # a process that has ended
    leftover.mkdir(parents=True)
    write(leftover / "events.parquet", "half a file")
    export_stream(project / "vsm.duckdb", "claims", out, "parquet", project / "streams")
    assert not leftover.exists()
    assert len(list(out.iterdir())) == len(STREAM_TABLES)


def test_vsm_sql_gives_the_exact_event_id(project):
    frame = run_query(project / "vsm.duckdb", "SELECT event_id, event_id::VARCHAR AS text FROM events")
    assert frame["event_id"].dtype == pl.Int64
    assert frame["event_id"].to_list() == [int(t) for t in frame["text"]]


def test_128_bit_numbers_come_out_exact_in_every_batch(project, tmp_path, monkeypatch):
    """0, NULL, 2^127 (the first that DuckDB's Arrow DECIMAL(38, 0) wrapped to a negative
    number) and 2^128 - 1, in batches of two rows."""
    import pipeline.query as query

    monkeypatch.setattr(query, "EXPORT_BATCH_ROWS", 2)
    edges = (
        "SELECT x FROM (VALUES (0::UHUGEINT), (NULL), ('170141183460469231731687303715884105728'::UHUGEINT), "
        "('340282366920938463463374607431768211455'::UHUGEINT), (5::UHUGEINT)) AS t(x)"
    )
    expected = [
        "0",
        None,
        "170141183460469231731687303715884105728",  # 2^127
        "340282366920938463463374607431768211455",  # 2^128 - 1
        "5",
    ]
    assert run_query(project / "vsm.duckdb", edges)["x"].to_list() == expected
    query.export_query(project / "vsm.duckdb", edges, tmp_path / "x.parquet")
    assert pl.read_parquet(tmp_path / "x.parquet")["x"].to_list() == expected


def test_kill_9_in_the_middle_of_an_export_leaves_the_last_export_whole(project, tmp_path):
    """The process kills itself (SIGKILL) as it starts the fifth table: the folder keeps the
    last export's files as they were, no file of the killed one; the next export clears its
    hidden folder and replaces them."""
    from tests.conftest import run_vsm_process

    out = tmp_path / "out"
    assert (
        run_vsm_process("export", "other", "--format", "csv", "--out", str(out), cwd=project).returncode == 0
    )
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    killer = (
        "import os, signal\n"
        "import pipeline.query as query\n"
        "write, started = query.WRITERS['csv'], []\n"
        "def dies_at_the_fifth(reader, target):\n"
        "    started.append(target)\n"
        "    if len(started) == 5:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return write(reader, target)\n"
        "query.WRITERS['csv'] = dies_at_the_fifth\n"
    )
    killed = run_vsm_process(
        "export", "claims", "--format", "csv", "--out", str(out), cwd=project, before=killer
    )
    assert killed.returncode == -9
    (left,) = [p for p in out.iterdir() if p.name.startswith(PART_PREFIX)]  # its four files, hidden
    assert len(list(left.iterdir())) == 4
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert (
        run_vsm_process("export", "claims", "--format", "csv", "--out", str(out), cwd=project).returncode == 0
    )
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.csv" for t in STREAM_TABLES)
    assert (out / "events.csv").read_text().count("\nclaims,") == 6
