"""Analysts are never blocked; two runs at once; a publish killed half-way (issue 18).

Writers work in `<db>.work` and publish `<db>` by a copy renamed over it (pipeline/publish.py).
The logs: a.csv holds cases 1 and 2 (2 events each), b.csv cases 3 and 4 (2 events each), so
after `discover a.csv` the analysts see 4 events and 2 cases, after `ingest --source b.csv`
8 events and 4 cases. A half-published stream would show 8 events with 2 cases (the load
published without its recompute).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipeline.publish import STORAGE_VERSION, StoreBusy, lock_path, work_path, writer_lock, writing
from tests.conftest import PROJECT, run_vsm_process, write

HEADER = "case,activity,timestamp\n"
A = HEADER + "1,A,2024-01-01 00:00\n1,B,2024-01-02 00:00\n2,A,2024-01-01 00:00\n2,B,2024-01-03 00:00\n"
B = HEADER + "3,A,2024-01-04 00:00\n3,B,2024-01-05 00:00\n4,A,2024-01-04 00:00\n4,B,2024-01-06 00:00\n"
COUNTS = "SELECT (SELECT count(*) FROM events) AS e, (SELECT count(*) FROM cases) AS c"


def _counts(db: Path) -> tuple[int, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(COUNTS).fetchone()
    finally:
        con.close()


@pytest.fixture(scope="module")
def discovered(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("discovered")
    write(folder / "a.csv", A)
    write(folder / "b.csv", B)
    done = run_vsm_process("discover", "a.csv", "--stream", "s", "--no-png", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture
def published(discovered, tmp_path) -> Path:
    """A project folder whose analysts' file holds a.csv, discovered through the CLI (once,
    copied for each test)."""
    folder = tmp_path / "project"
    shutil.copytree(discovered, folder)
    return folder


def test_the_analysts_file_is_a_read_only_openable_copy_in_the_older_storage_version(published):
    db = published / "vsm.duckdb"
    assert work_path(db).exists()
    con = duckdb.connect(str(db), read_only=True)
    try:
        tags = con.execute("SELECT tags FROM duckdb_databases() WHERE database_name = current_database()")
        assert tags.fetchone()[0]["storage_version"] == STORAGE_VERSION + "+"
        assert con.execute(COUNTS).fetchone() == (4, 2)
    finally:
        con.close()
    # A writer holds only the work store: the analysts' file stays openable read-only meanwhile
    # (before this design DuckDB refused it: "Could not set lock on file").
    with writing(db) as con:
        assert con.execute(COUNTS).fetchone() == (4, 2)
        assert _counts(db) == (4, 2)


def test_a_reader_open_before_a_publish_keeps_its_file_and_the_next_sees_the_new_one(published):
    db = published / "vsm.duckdb"
    before = duckdb.connect(str(db), read_only=True)
    try:
        with writing(db) as con:
            con.execute("DELETE FROM cases WHERE case_id = '1'")
        assert before.execute(COUNTS).fetchone() == (4, 2)  # the old inode, whole
        # A new reader in another process opens the new file. (In this process DuckDB would
        # hand back the instance `before` holds on the old one, by path, while it is open.)
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import duckdb; print(duckdb.connect('vsm.duckdb', read_only=True)"
                f".execute({COUNTS!r}).fetchone())",
            ],
            cwd=published,
            capture_output=True,
            text=True,
            check=True,
        )
        assert other.stdout.strip() == "(4, 1)"
    finally:
        before.close()
    assert _counts(db) == (4, 1)


def test_a_block_that_fails_publishes_nothing(published):
    db = published / "vsm.duckdb"
    with pytest.raises(RuntimeError), writing(db) as con:
        con.execute("DELETE FROM cases")
        raise RuntimeError("stopped")
    assert _counts(db) == (4, 2)
    assert not (published / ".vsm.duckdb.publish").exists()


def test_a_store_written_in_place_before_this_design_is_carried_over(tmp_path):
    db = tmp_path / "vsm.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE kept AS SELECT 42 AS x")
    con.close()
    with writing(db) as con:
        assert con.execute("SELECT x FROM kept").fetchone() == (42,)
    assert duckdb.connect(str(db), read_only=True).execute("SELECT x FROM kept").fetchone() == (42,)


def test_analysts_querying_in_a_loop_during_an_ingest_never_fail_nor_see_half_a_stream(published):
    db = published / "vsm.duckdb"
    stop, ready, out = published / "stop", published / "ready", published / "seen.json"
    loop = (
        "import json, sys, duckdb\n"
        "from pathlib import Path\n"
        "from pipeline.query import run_query\n"
        "db, stop, ready, out = map(Path, sys.argv[1:5])\n"
        "seen, errors, last = [], [], False\n"
        "while True:\n"
        "    last = stop.exists()\n"
        "    try:\n"
        f"        seen.append(list(run_query(db, {COUNTS!r}).row(0)))\n"
        "        con = duckdb.connect(str(db), read_only=True)\n"
        f"        seen.append(list(con.execute({COUNTS!r}).fetchone()))\n"
        "        con.close()\n"
        "    except Exception as exc:\n"
        "        errors.append(repr(exc))\n"
        "    ready.touch()\n"
        "    if last:\n"
        "        break\n"
        "out.write_text(json.dumps({'seen': seen, 'errors': errors}))\n"
    )
    analyst = subprocess.Popen(
        [sys.executable, "-c", loop, str(db), str(stop), str(ready), str(out)],
        cwd=published,
        env=os.environ | {"PYTHONPATH": str(PROJECT)},
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        done = run_vsm_process("ingest", "s", "--source", "b.csv", "--no-png", cwd=published)
        assert done.returncode == 0, done.stderr
        stop.touch()
        assert analyst.wait(timeout=60) == 0
    finally:
        analyst.kill()
    result = json.loads(out.read_text())
    assert result["errors"] == []
    # only the state before the run (4 events, 2 cases) or after it (8, 4); last the new one
    assert {tuple(s) for s in result["seen"]} <= {(4, 2), (8, 4)}
    assert result["seen"][0] == [4, 2]
    assert result["seen"][-1] == [8, 4]


def _hold_lock(db: Path) -> subprocess.Popen:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pipeline.publish import writer_lock\n"
            "with writer_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(120)\n",
            str(db),
        ],
        env=os.environ | {"PYTHONPATH": str(PROJECT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline() == "held\n"
    return holder


def test_a_second_run_waits_then_names_the_holder_and_a_killed_holder_never_blocks(published):
    db = published / "vsm.duckdb"
    holder = _hold_lock(db)
    try:
        busy = run_vsm_process("compute", "s", "--no-png", "--wait", "0.5", cwd=published)
        assert busy.returncode == 7
        assert busy.stderr.strip() == (
            f"Error: vsm.duckdb: another run (pid {holder.pid}) is writing this store (it holds "
            "vsm.duckdb.lock); waited 0.5 s: give --wait SECONDS to wait for it"
        )
        os.kill(holder.pid, signal.SIGKILL)  # the kernel drops its lock
        holder.wait(timeout=10)
        assert lock_path(db).exists()  # left behind, and harmless
        done = run_vsm_process("compute", "s", "--no-png", cwd=published)
        assert done.returncode == 0, done.stderr
    finally:
        holder.kill()
        holder.wait()


def test_a_waiting_run_goes_on_when_the_holder_finishes_within_its_wait(tmp_path):
    db = tmp_path / "vsm.duckdb"
    holder = _hold_lock(db)
    try:
        with pytest.raises(StoreBusy, match=f"pid {holder.pid}"), writer_lock(db, 0):
            pass
        started = time.monotonic()
        subprocess.Popen(["sh", "-c", f"sleep 0.5; kill {holder.pid}"])
        with writer_lock(db, 30):
            assert time.monotonic() - started < 30
    finally:
        holder.kill()
        holder.wait()


def test_kill_9_during_publish_leaves_the_last_good_file_and_the_next_run_publishes_all(published):
    db = published / "vsm.duckdb"
    # killed once the copy is whole on disk, before its rename
    before = (
        "import os, pipeline.publish as p\nflush = p._fsync\n"
        "p._fsync = lambda path: os.kill(os.getpid(), 9) if path.name.endswith('.publish') else flush(path)\n"
    )
    killed = run_vsm_process("ingest", "s", "--source", "b.csv", "--no-png", cwd=published, before=before)
    assert killed.returncode == -9
    assert _counts(db) == (4, 2)  # the last good publish, opened read-only
    assert (published / ".vsm.duckdb.publish").exists()  # the unfinished copy, never renamed
    done = run_vsm_process("compute", "s", "--no-png", cwd=published)
    assert done.returncode == 0, done.stderr
    assert _counts(db) == (8, 4)  # the load the killed run committed in its work store, once
    assert not (published / ".vsm.duckdb.publish").exists()


def _storage(db: Path) -> tuple[int, str]:
    """(the version number in the file's header, the storage version DuckDB says it declares).
    DuckDB's main header starts at byte 8: 'DUCK', then the version as a little-endian u64:
    64 is what DuckDB 0.10 to 1.5 write by default, 67 is v1.4.0; DuckDB 2.0.1 writes 999 for v2.0.0."""
    head = db.read_bytes()[:20]
    assert head[8:12] == b"DUCK"
    con = duckdb.connect(str(db), read_only=True)
    try:
        tags = con.execute("SELECT tags FROM duckdb_databases() WHERE database_name = current_database()")
        return int.from_bytes(head[12:20], "little"), tags.fetchall()[0][0]["storage_version"]
    finally:
        con.close()


def test_a_publish_is_a_byte_copy_of_the_work_store_in_storage_v1_4_0(published):
    db = published / "vsm.duckdb"
    with writing(db, stream="s") as con:
        con.execute("DELETE FROM cases WHERE case_id = '1'")
    # the analysts' file is the checkpointed work store, byte for byte (a COPY FROM DATABASE
    # writes a different file)
    assert db.read_bytes() == work_path(db).read_bytes()
    assert _storage(db) == (67, "v1.4.0+")
    assert not Path(f"{db}.unpublished").exists()  # published: no stream left marked


def test_a_store_in_a_newer_storage_version_is_converted_once_saying_so(tmp_path):
    db = tmp_path / "vsm.duckdb"
    con = duckdb.connect(str(db))  # made as DuckDB 2.0.1 makes a file by default
    con.execute("CREATE TABLE kept AS SELECT 42 AS x")
    con.close()
    assert _storage(db) == (999, "v2.0.0+")
    notes: list[str] = []
    with writing(db, say=notes.append) as con:
        assert con.execute("SELECT x FROM kept").fetchall() == [(42,)]
    assert len(notes) == 1
    assert notes[0].startswith(f"{work_path(db)}: converted once from DuckDB storage v2.0.0+ to v1.4.0 ")
    assert _storage(work_path(db)) == (67, "v1.4.0+")
    assert _storage(db) == (67, "v1.4.0+")
    with writing(db, say=notes.append):
        pass
    assert len(notes) == 1  # once


def test_a_failed_stream_keeps_its_last_good_results_while_another_stream_publishes(published):
    # stream s: 4 events, 2 cases published. Its next command loads b.csv's 4 events (committed
    # in the work store, as a load commits before the recompute) and then fails.
    db = published / "vsm.duckdb"
    with pytest.raises(RuntimeError), writing(db, stream="s") as con:
        new = "* REPLACE (case_id || 'x' AS case_id, event_id + 100 AS event_id)"
        con.execute(f"INSERT INTO events SELECT {new} FROM events")
        con.execute("DELETE FROM stream_summary WHERE stream = 's'")
        raise RuntimeError("the recompute failed")
    assert Path(f"{db}.unpublished").read_text() == "s\n"
    # stream t publishes (its copy of the work store's 8 events of s): its own rows appear, s's
    # stay as last published (4 events, its stream_summary row), not 8 events without a summary
    with writing(db, stream="t") as con:
        con.execute("INSERT INTO events SELECT * REPLACE ('t' AS stream) FROM events")
    con = duckdb.connect(str(db), read_only=True)
    try:
        per_stream = "SELECT stream, count(*) FROM events GROUP BY stream ORDER BY stream"
        assert con.execute(per_stream).fetchall() == [("s", 4), ("t", 8)]
        assert con.execute("SELECT stream FROM stream_summary").fetchall() == [("s",)]
        assert _storage(db)[1] == "v1.4.0+"  # the carried-over copy stays in the older format
    finally:
        con.close()
    assert Path(f"{db}.unpublished").read_text() == "s\n"
    # s's own next good command publishes all it holds
    with writing(db, stream="s"):
        pass
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute(per_stream).fetchall() == [("s", 8), ("t", 8)]
    finally:
        con.close()
    assert not Path(f"{db}.unpublished").exists()


def test_dry_run_reads_the_work_store_and_says_when_a_run_holds_it(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.ingest import ingest
    from pipeline.settings import load_settings

    monkeypatch.chdir(tmp_path)
    (tmp_path / "exports").mkdir()
    write(tmp_path / "exports" / "claims-1.csv", A)
    (tmp_path / "streams").mkdir()
    write(tmp_path / "streams" / "t.toml", '[stream]\nname = "t"\n[source]\npath = "exports/claims-*.csv"\n')
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", "t", "--no-compute"]).exit_code == 0
    # a second file loads in the work store, then the command fails: not published
    write(tmp_path / "exports" / "claims-2.csv", B)
    db = tmp_path / "vsm.duckdb"
    with pytest.raises(RuntimeError), writing(db, stream="t") as con:
        ingest(con, load_settings("t", tmp_path / "streams"))
        raise RuntimeError("stopped")
    dry = runner.invoke(app, ["ingest", "t", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    # what the next run starts from: claims-2 is loaded there already
    assert "2 matched, 0 to load, 2 to skip" in dry.output
    assert "note:" not in dry.output
    holder = _hold_lock(db)
    try:
        busy = runner.invoke(app, ["ingest", "t", "--dry-run"])
    finally:
        holder.kill()
        holder.wait()
    assert busy.exit_code == 0, busy.output
    # against the analysts' file: claims-2 not published
    assert "2 matched, 1 to load, 1 to skip" in busy.output
    assert busy.output.strip().splitlines()[-1] == (
        "note: a run is writing vsm.duckdb now: shown against the store as last published, which that "
        "run may be changing"
    )
