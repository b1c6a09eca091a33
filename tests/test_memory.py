"""Memory: a huge field loads or is refused row by row, and out of memory is an expected
condition (one line naming VSM_MEMORY_LIMIT, exit 4, the store as before), never a crash.

The logs are written here a megabyte at a time: the 200 MB file takes about a second to
write and eight to load."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from pipeline.errors import OutOfMemory
from pipeline.ingest import ATTRIBUTES_MAX_BYTES, VALUE_MAX_BYTES, ingest
from pipeline.memory import memory_guard
from pipeline.settings import Source, StreamSettings
from pipeline.store import open_store
from pipeline.streams import discover
from tests.conftest import run_vsm_process, write

MB = 1 << 20
HEADER = "case,activity,timestamp,resource,note\n"
NORMAL = [  # 5 cases, A then B: 10 normal rows at lines 2-6 and 8-12
    *(f"c{i},A,2024-01-0{i + 1} 10:00:00,r1,short\n" for i in range(5)),
    *(f"c{i},B,2024-01-0{i + 1} 12:00:00,r2,short\n" for i in range(5)),
]


def csv_with_huge_field(path: Path, mb: int, column: str) -> Path:
    """HEADER, rows c0..c4 A (lines 2-6), then at line 7 case c9 whose `column` (activity or
    note) holds `mb` MiB of 'x', then c0..c4 B (lines 8-12); streamed, never whole in memory."""
    chunk = "x" * MB
    with path.open("w", encoding="utf-8") as f:
        f.write(HEADER)
        f.writelines(NORMAL[:5])
        f.write("c9,")
        if column == "activity":
            f.writelines(chunk for _ in range(mb))
            f.write(",2024-01-07 10:00:00,r1,n\n")
        else:
            f.write("B,2024-01-07 10:00:00,r1,")
            f.writelines(chunk for _ in range(mb))
            f.write("\n")
        f.writelines(NORMAL[5:])
    return path


def load(con, path: Path):
    return ingest(con, StreamSettings(name="x", source=Source(path=str(path))))


def test_a_200_mb_note_under_2gb_rejects_its_row_and_loads_the_others(tmp_path, monkeypatch):
    # Before: exit 70, "OutOfMemoryException: failed to allocate data of size 2.0 GiB" in
    # _check_batch: DuckDB's JSON writer asks for a row's attributes' worst case (six bytes a
    # character) in one power-of-two piece. Now the row (200 MiB of attributes > 64 MiB)
    # is a reject naming line 7, column 'note' and the size; the 10 other rows load.
    monkeypatch.setenv("VSM_MEMORY_LIMIT", "2GB")
    path = csv_with_huge_field(tmp_path / "notes.csv", 200, "note")
    con = open_store(tmp_path / "vsm.duckdb")
    try:
        result = load(con, path)
        assert (result.events_read, result.events_loaded, result.events_rejected) == (11, 10, 1)
        line, column, value, reason, raw_bytes = con.execute(
            "SELECT line, column_name, value, reason, strlen(raw) FROM rejects"
        ).fetchall()[0]
        assert (line, column) == (7, "note")
        assert value == "x" * 40 + "..."  # its start; the whole row is in raw
        assert reason == (
            "attributes too large: 209,715,200 bytes in the columns kept as attributes (largest: "
            "'note'), at most 64 MiB (67,108,864 bytes) allowed in one row (the whole row is kept in "
            "rejects.raw)"
        )
        assert raw_bytes > 200 * MB  # kept whole, not cut
        assert con.execute("SELECT count(*) FROM events WHERE case_id = 'c9'").fetchall() == [(0,)]
    finally:
        con.close()


def test_a_note_within_the_cap_loads_whole(tmp_path, monkeypatch):
    # 20 MiB of note: under 64 MiB, so the row loads and its attribute is kept whole (the
    # JSON writer asks for at most 8 x 20 MiB = 160 MiB at once, well within 1GB).
    monkeypatch.setenv("VSM_MEMORY_LIMIT", "1GB")
    path = csv_with_huge_field(tmp_path / "notes.csv", 20, "note")
    con = open_store(tmp_path / "vsm.duckdb")
    try:
        result = load(con, path)
        assert (result.events_loaded, result.events_rejected) == (11, 0)
        assert con.execute(
            "SELECT strlen(attributes->>'note') FROM events WHERE case_id = 'c9'"
        ).fetchall() == [(20 * MB,)]
    finally:
        con.close()


def test_an_activity_over_1_mib_in_jsonl_rejects_its_row(store, tmp_path):
    # A 2 MiB activity is no step's name (an export gone wrong): line 2 is rejected with its
    # size and the cap, the 2 other lines load. Before: it loaded, a 2 MB box on the map.
    big = "y" * (2 * MB)
    lines = [
        {"case": "c1", "activity": "A", "timestamp": "2024-01-01T10:00:00Z"},
        {"case": "c1", "activity": big, "timestamp": "2024-01-01T11:00:00Z"},
        {"case": "c1", "activity": "B", "timestamp": "2024-01-01T12:00:00Z"},
    ]
    path = write(tmp_path / "log.jsonl", "".join(json.dumps(r) + "\n" for r in lines))
    result = load(store, path)
    assert (result.events_loaded, result.events_rejected) == (2, 1)
    assert store.execute("SELECT line, column_name, reason FROM rejects").fetchall() == [
        (
            2,
            "activity",
            "value too large: 2,097,152 bytes in 'activity', at most 1 MiB (1,048,576 bytes) allowed "
            "for an activity (the whole row is kept in rejects.raw)",
        )
    ]
    assert store.execute("SELECT list(activity ORDER BY ts) FROM events").fetchall() == [(["A", "B"],)]


def test_values_at_the_caps_load(store, tmp_path):
    # Exactly 1 MiB of case id (multi-byte characters: 'é' is 2 bytes) and exactly 64 MiB of
    # attributes in two columns are allowed; one byte more would not be.
    case = "é" * (VALUE_MAX_BYTES // 2)
    half = "z" * (ATTRIBUTES_MAX_BYTES // 2)
    path = write(
        tmp_path / "log.csv",
        f"case,activity,timestamp,n1,n2\n{case},A,2024-01-01 10:00,{half},{half}\n"
        f"{case}x,A,2024-01-01 11:00,a,b\n",
    )
    result = load(store, path)
    assert (result.events_loaded, result.events_rejected) == (1, 1)
    assert store.execute("SELECT line, column_name FROM rejects").fetchall() == [(3, "case")]


def test_out_of_memory_in_the_load_is_one_line_exit_4_and_the_store_is_unchanged(tmp_path):
    # A first load under the default limit (in this process: quicker): 10 events, 1 runs row.
    # Then a log whose 12 MiB note needs a 128 MiB piece for its JSON, under
    # VSM_MEMORY_LIMIT=64MB: exit 4, one line, no traceback, and the store holds the same 10
    # events, 1 run, 0 rejects.
    with open_store(tmp_path / "vsm.duckdb") as con:
        small = write(tmp_path / "small.csv", HEADER + "".join(NORMAL))
        discover(con, small, "x", streams_dir=tmp_path / "streams", compute=False)
    csv_with_huge_field(tmp_path / "big.csv", 12, "note")
    limit = "import os\nos.environ['VSM_MEMORY_LIMIT'] = '64MB'\n"
    run = run_vsm_process("ingest", "x", "--source", "big.csv", "--no-png", cwd=tmp_path, before=limit)
    assert run.returncode == 4, run.stderr
    assert run.stderr.strip() == (
        "Error: out of memory under VSM_MEMORY_LIMIT=64MB while checking the load: raise "
        "VSM_MEMORY_LIMIT (e.g. 128MB) or split the log into smaller files"
    )
    assert "Traceback" not in run.stdout + run.stderr
    con = duckdb.connect(str(tmp_path / "vsm.duckdb"), read_only=True)
    try:
        counts = con.execute(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM runs WHERE kind = 'ingest'), "
            "(SELECT count(*) FROM rejects)"
        ).fetchall()
    finally:
        con.close()
    assert counts == [(10, 1, 0)]


def test_out_of_memory_in_vsm_sql_is_one_line_exit_4(tmp_path):
    # to_json of a 20 MB text asks for 128 MiB at once: more than a 64MB limit allows.
    open_store(tmp_path / "vsm.duckdb").close()
    limit = "import os\nos.environ['VSM_MEMORY_LIMIT'] = '64MB'\n"
    run = run_vsm_process("sql", "SELECT to_json(repeat('x', 20000000)) AS j", cwd=tmp_path, before=limit)
    assert run.returncode == 4, run.stderr
    assert run.stderr.strip() == (
        "Error: out of memory under VSM_MEMORY_LIMIT=64MB while running the query: raise "
        "VSM_MEMORY_LIMIT (e.g. 128MB) or add a LIMIT or select fewer columns"
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2GB", "VSM_MEMORY_LIMIT=2GB while computing the flow: raise VSM_MEMORY_LIMIT (e.g. 4GB)"),
        ("1.5GiB", "VSM_MEMORY_LIMIT=1.5GiB while computing the flow: raise VSM_MEMORY_LIMIT (e.g. 3GiB)"),
    ],
)
def test_memory_guard_maps_duckdb_and_python_memory_errors(monkeypatch, given, expected):
    monkeypatch.setenv("VSM_MEMORY_LIMIT", given)
    for raised in (duckdb.OutOfMemoryException("failed to allocate data of size 2.0 GiB"), MemoryError()):
        with pytest.raises(OutOfMemory) as caught, memory_guard("computing the flow"):
            raise raised
        assert str(caught.value) == "out of memory under " + expected
        assert caught.value.exit_code == 4


def test_memory_guard_without_a_limit_names_the_default(monkeypatch):
    monkeypatch.delenv("VSM_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr("pipeline.memory.memory_limit", lambda: "4800MiB")
    with pytest.raises(OutOfMemory) as caught, memory_guard("writing the report"):
        raise duckdb.OutOfMemoryException("x")
    assert str(caught.value) == (
        "out of memory under the default memory limit 4800MiB (30% of this machine's memory) while "
        "writing the report: raise VSM_MEMORY_LIMIT (e.g. 9600MiB)"
    )


def test_many_large_notes_load_in_groups_within_1gb(tmp_path, monkeypatch):
    # Ten rows of 12 MiB notes (120 MiB): each under the 64 MiB cap, but DuckDB's JSON writer
    # kept every row's working copy (128 MiB each) until the vector of rows was done, 1.25 GiB
    # in all: out of memory under 1GB. Written apart, in groups of at most 16 MiB of text
    # (here one row each), all 10 rows load with their notes whole, and the 2 small ones too.
    monkeypatch.setenv("VSM_MEMORY_LIMIT", "1GB")
    chunk = "n" * MB
    path = tmp_path / "notes.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write(HEADER + "c0,A,2024-01-01 09:00:00,r1,short\n")
        for i in range(10):
            f.write(f"c{i},B,2024-01-01 1{i}:00:00,r1,")
            f.writelines(chunk for _ in range(12))
            f.write("\n")
        f.write("c0,C,2024-01-02 09:00:00,r1,short\n")
    con = open_store(tmp_path / "vsm.duckdb")
    try:
        result = load(con, path)
        assert (result.events_loaded, result.events_rejected) == (12, 0)
        assert con.execute(
            "SELECT activity, count(*), min(strlen(attributes->>'note')), max(strlen(attributes->>'note')) "
            "FROM events GROUP BY activity ORDER BY activity"
        ).fetchall() == [("A", 1, 5, 5), ("B", 10, 12 * MB, 12 * MB), ("C", 1, 5, 5)]
    finally:
        con.close()


def test_an_unguarded_step_running_out_of_memory_is_one_line_with_exit_4(monkeypatch, capsys):
    # `vsm streams` has no memory guard of its own: the CLI's boundary maps DuckDB's error.
    import duckdb
    import typer

    from pipeline import cli

    def action():
        raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 256KiB")

    monkeypatch.setenv("VSM_MEMORY_LIMIT", "64MB")
    with pytest.raises(typer.Exit) as exit_:
        cli._boundary(False, action)
    assert exit_.value.exit_code == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "Error: out of memory under VSM_MEMORY_LIMIT=64MB while running the command: raise VSM_MEMORY_LIMIT "
        "(e.g. 128MB)"
    ]
