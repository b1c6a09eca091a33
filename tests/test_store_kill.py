"""A store reopens after its command is killed at any moment, offline, and holds the state
before or after the step the kill stopped; the next run completes it (issue 15, item 1).

Every kill is of `vsm` run as its own process (the console script's entry), by a signal
sent from outside or by the process to itself at a chosen point. After each kill the store
is opened as DuckDB opens it anywhere: the default configuration (extensions installed on
demand), with no way to fetch one (an extension repository that does not exist, an empty
extension folder), as on a server without network."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipeline.errors import StoreError
from pipeline.publish import work_path
from pipeline.store import migrations, open_store
from tests.conftest import PROJECT, run_vsm_process, write

STEPS = ("Receive", "Check", "Approve", "Pay", "Close")


def _log(cases: int, first: int = 0) -> str:
    """`cases` cases c<first>... each with the five STEPS in order, at seeded random gaps:
    5 events a case, no two events alike, every case completed at Close."""
    rnd = random.Random(first)
    lines = ["case,activity,timestamp,resource"]
    for c in range(first, first + cases):
        t = 1_700_000_000 + c * 3600
        for step in STEPS:
            t += rnd.randint(60, 86_400)
            lines.append(f"c{c},{step},{t},r{rnd.randint(1, 9)}")
    return "\n".join(lines) + "\n"


def _offline_open(db: Path, tmp: Path, **kw) -> duckdb.DuckDBPyConnection:
    """DuckDB's default connection to `db`, with nowhere to download an extension from."""
    (tmp / "no-extensions").mkdir(exist_ok=True)
    config = {
        "custom_extension_repository": str(tmp / "no-repository"),
        "extension_directory": str(tmp / "no-extensions"),
    }
    return duckdb.connect(str(db), config=config, **kw)


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    """`vsm <args>` as its own process (and process group), as run_vsm_process runs it."""
    script = "import sys\nsys.argv = ['vsm'] + sys.argv[1:]\nfrom pipeline.cli import main\nmain()\n"
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ | {"PYTHONPATH": str(PROJECT)},
        start_new_session=True,
    )


def _kill_after(proc: subprocess.Popen, delay: float) -> bool:
    """SIGKILL `proc`'s process group `delay` seconds after its start; True when it was still
    running (False: it had finished, and the store holds the state after it)."""
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    running = proc.poll() is None
    if running:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    return running


def _counts(db: Path, tmp: Path, *, writable: bool = True) -> tuple[tuple[int, int, int], int]:
    """((events, cases among the events, events the runs loaded), cases in the flow results)
    of stream s, read by a plain read-only connection; then a read-write open_store must
    work too. No store yet, or one whose tables were not made yet: all zero."""
    if not db.exists():
        return (0, 0, 0), 0
    con = _offline_open(db, tmp, read_only=True)
    try:
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        if "events" not in tables:
            load, flow = (0, 0, 0), 0
        else:
            events, distinct_ids, cases = con.execute(
                "SELECT count(*), count(DISTINCT event_id), count(DISTINCT case_id) FROM events "
                "WHERE stream = 's'"
            ).fetchall()[0]
            assert events == distinct_ids, "an event loaded twice"
            loaded = con.execute(
                "SELECT coalesce(sum(events_loaded), 0) FROM runs WHERE stream = 's'"
            ).fetchall()[0][0]
            load = (events, cases, int(loaded))
            flow = con.execute("SELECT count(*) FROM cases WHERE stream = 's'").fetchall()[0][0]
    finally:
        con.close()
    if writable:  # the work store; the analysts' file is never opened read-write
        open_store(db).close()  # and read-write (migrating a store whose first run stopped early)
    return load, flow


def _final(db: Path) -> dict:
    """What a completed run leaves: counts of events, cases and the flow's results."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        one = lambda q: con.execute(q).fetchall()[0][0]  # noqa: E731
        return {
            "events": one("SELECT count(*) FROM events"),
            "distinct events": one("SELECT count(DISTINCT event_id) FROM events"),
            "cases loaded": one("SELECT count(DISTINCT case_id) FROM events"),
            "events the runs loaded": one("SELECT sum(events_loaded) FROM runs"),
            "rejects": one("SELECT count(*) FROM rejects"),
            "flow cases": one("SELECT count(*) FROM cases"),
            "completed": one("SELECT completed_cases FROM stream_summary"),
            "visits": one("SELECT count(*) FROM visits"),
            "variants": one("SELECT count(*) FROM variants"),
            "migrations": one("SELECT count(*) FROM schema_migrations"),
        }
    finally:
        con.close()


def _timed(args: list[str], cwd: Path) -> float:
    began = time.monotonic()
    proc = _start(args, cwd)
    assert proc.wait(timeout=300) == 0, f"vsm {' '.join(args)} failed"
    return time.monotonic() - began


def _run(args: list[str], cwd: Path) -> None:
    done = run_vsm_process(*args, cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr


FIRST = ["discover", "first.csv", "--stream", "s", "--no-png"]
SECOND = ["ingest", "s", "--source", "second.csv", "--no-png"]


def test_kill_9_soak_of_a_first_and_an_incremental_run(tmp_path):
    """Three SIGKILLs at seeded random moments of a first `vsm discover` on a new store, and
    three of an incremental `vsm ingest` of a second file into that stream. first.csv: 1,000
    cases x 5 steps = 5,000 events; second.csv: 1,000 other cases, 5,000 more events.

    After each kill: the store opens (plain read-only DuckDB, offline; then read-write)
    and its load is either before (first run: nothing; incremental: 5,000 events of 1,000
    cases, 5,000 loaded by runs) or after (5,000 / 1,000 / 5,000; incremental: 10,000 /
    2,000 / 10,000); its flow results likewise before or after (0 or 1,000 cases; 1,000 or
    2,000), never ahead of the load. The same command run again then leaves what an
    unkilled run leaves."""
    rnd = random.Random(15)
    base = tmp_path / "base"
    base.mkdir()
    write(base / "first.csv", _log(1000))
    write(base / "second.csv", _log(1000, first=1000))

    # Unkilled: the reference states, and how long each command takes on this machine.
    reference = tmp_path / "reference"
    shutil.copytree(base, reference)
    first_s = _timed(FIRST, reference)
    after_first = _final(reference / "vsm.duckdb")
    assert after_first["events"] == after_first["distinct events"] == 5000
    assert after_first["cases loaded"] == after_first["flow cases"] == after_first["completed"] == 1000
    loaded = tmp_path / "loaded"  # the store after the first run: the incremental run's start
    shutil.copytree(reference, loaded)
    second_s = _timed(SECOND, reference)
    after_second = _final(reference / "vsm.duckdb")
    assert after_second["events"] == after_second["distinct events"] == 10_000
    assert after_second["cases loaded"] == after_second["flow cases"] == 2000

    # One seeded moment in each third of the command's run (its start, load, flow, report).
    thirds = [(0.05, 0.35), (0.35, 0.65), (0.65, 0.95)]
    kills = [("first", rnd.uniform(a, b) * first_s) for a, b in thirds]
    kills += [("incremental", rnd.uniform(a, b) * second_s) for a, b in thirds]
    seen = []
    for i, (kind, delay) in enumerate(kills):
        work = tmp_path / f"kill{i}"
        shutil.copytree(base if kind == "first" else loaded, work)
        command = FIRST if kind == "first" else SECOND
        killed = _kill_after(_start(command, work), delay)
        if kind == "first":
            loads, flows = {(0, 0, 0): "before", (5000, 1000, 5000): "after"}, {0: "before", 1000: "after"}
        else:
            loads = {(5000, 1000, 5000): "before", (10_000, 2000, 10_000): "after"}
            flows = {1000: "before", 2000: "after"}
        where = f"{kind} run killed after {delay:.2f} s"
        # The analysts' file: the last good run's, or (killed past its publish) this run's, whole.
        published = _counts(work / "vsm.duckdb", tmp_path, writable=False)
        assert published in {(load, flow) for load in loads for flow in flows}, f"{where}: {published}"
        assert loads[published[0]] == flows[published[1]], f"{where}: half a run published {published}"
        # The writers' own store: each step whole, the flow never ahead of the load.
        load, flow = _counts(work_path(work / "vsm.duckdb"), tmp_path)
        assert load in loads, f"{where}: load half done {load}"
        assert flow in flows, f"{where}: flow results half done ({flow} cases)"
        assert not (loads[load] == "before" and flows[flow] == "after"), f"{where}: flow ahead of load"
        seen.append((kind, killed, loads[load], flows[flow]))

        _run(command, work)
        expected = after_first if kind == "first" else after_second
        assert _final(work / "vsm.duckdb") == expected, f"{where}: the next run did not complete it"
    # The seeded moments land inside the runs: some kills find the load not yet committed,
    # some after it (what state each finds depends on this machine's speed, so only that).
    assert any(killed for _, killed, _, _ in seen), seen


# Migration 004 as it shipped before it was made to replay without extensions.
OLD_004 = """ALTER TABLE events ALTER event_id SET DATA TYPE UHUGEINT USING (
    CASE WHEN split_part(event_id, '.', 2) IN ('', '1')
        THEN md5_number(concat_ws(chr(31), case_id, activity, CAST(epoch_us(ts) AS VARCHAR),
                        coalesce(lifecycle, ''), coalesce(resource, ''), coalesce(team, ''),
                        coalesce(CAST(epoch_us(start_ts) AS VARCHAR), '')))
        ELSE md5_number(concat_ws(chr(31), case_id, activity, CAST(epoch_us(ts) AS VARCHAR),
                        coalesce(lifecycle, ''), coalesce(resource, ''), coalesce(team, ''),
                        coalesce(CAST(epoch_us(start_ts) AS VARCHAR), ''))
                        || chr(31) || split_part(event_id, '.', 2))
    END
);"""

# Two cases, 2 events each: 4 events.
SMALL = "case,activity,timestamp\nc1,A,2026-01-01T08:00:00Z\nc1,B,2026-01-01T09:00:00Z\n" + (
    "c2,A,2026-01-02T08:00:00Z\nc2,B,2026-01-02T10:00:00Z\n"
)


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_a_first_run_killed_right_after_its_migrations_reopens_offline(tmp_path, sig):
    """The moment the issue found: the first run's migrations committed, in the write-ahead
    log only (the process dies before anything checkpoints). Before the fix, replaying
    migration 004's ALTER ... USING chr(...) made DuckDB download 'core_functions', and the
    store never opened again offline."""
    write(tmp_path / "small.csv", SMALL)
    die = (
        "import os, signal\nimport pipeline.store as store\n_apply = store.apply_migrations\n"
        "def _apply_then_die(con):\n    _apply(con)\n"
        f"    os.kill(os.getpid(), signal.{sig})\n"
        "store.apply_migrations = _apply_then_die\n"
    )
    args = ["discover", "small.csv", "--stream", "s", "--no-png"]
    killed = run_vsm_process(*args, cwd=tmp_path, before=die)
    # SIGKILL: -9; SIGTERM: -15, or an interrupted run's exit code where the CLI handles it
    assert killed.returncode != 0 and "Loaded" not in killed.stdout, killed.stdout + killed.stderr
    db = tmp_path / "vsm.duckdb"
    assert not db.exists()  # nothing published: the analysts have no store yet
    con = _offline_open(work_path(db), tmp_path, read_only=True)  # a plain read-only open, offline
    try:
        versions = con.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
        assert versions == [(v,) for v, _, _ in migrations()]  # every migration, none half
        assert con.execute("SELECT count(*) FROM events").fetchall() == [(0,)]
    finally:
        con.close()
    again = run_vsm_process(*args, cwd=tmp_path)  # and the next run completes it
    assert again.returncode == 0, again.stdout + again.stderr
    final = _final(db)
    assert (final["events"], final["cases loaded"], final["flow cases"]) == (4, 2, 2)


def test_a_log_left_by_an_older_version_mid_migration_replays(tmp_path):
    """A store made by a version whose migration 004 was the ALTER ... USING chr(...), killed
    after that migration committed and before a checkpoint: `vsm` opens it offline (read
    only, then read-write, migrating the rest), and keeps its event."""
    db = tmp_path / "vsm.duckdb"
    older = (
        "import os, duckdb\nfrom pipeline.store import migrations\n"
        f"con = duckdb.connect({str(db)!r})\n"
        "con.execute('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
        "name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)')\n"
        "for version, name, path in migrations()[:3]:\n"
        "    con.execute(path.read_text())\n"
        "    con.execute('INSERT INTO schema_migrations VALUES (?, ?, now())', [version, name])\n"
        'con.execute("INSERT INTO events (stream, event_id, case_id, activity, ts, source, run_id) '
        "VALUES ('s', 'x.1', 'c1', 'A', TIMESTAMPTZ '2026-01-01 00:00:00+00', 'old.csv', 1)\")\n"
        "con.execute('CHECKPOINT')\n"
        f"con.execute({OLD_004!r})\n"
        "con.execute(\"INSERT INTO schema_migrations VALUES (4, 'event_id_number', now())\")\n"
        "os._exit(9)  # killed: the ALTER is in the write-ahead log only\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", older], env=os.environ | {"PYTHONPATH": str(PROJECT)}, timeout=120
    )
    assert done.returncode == 9 and Path(f"{db}.wal").exists()
    query = run_vsm_process("sql", "SELECT count(*) AS n FROM events", "--csv", cwd=tmp_path)
    assert (query.returncode, query.stdout) == (0, "n\n1\n"), query.stderr
    con = open_store(db)
    try:
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchall() == [(len(migrations()),)]
        # migration 016 numbered it (1) and read its copy (1) back from its md5 id
        assert con.execute("SELECT typeof(event_id), event_id, copy_no, case_id FROM events").fetchall() == [
            ("BIGINT", 1, 1, "c1")
        ]
    finally:
        con.close()


def test_a_store_file_without_tables_is_no_store_yet_when_read(tmp_path):
    """A first run killed between creating the file and migrating it leaves a file with no
    tables: read, it is 'no store here yet', one line; a read-write open sets it up."""
    db = tmp_path / "vsm.duckdb"
    duckdb.connect(str(db)).close()
    with pytest.raises(StoreError, match=r"no store here yet \(the file holds no tables"):
        open_store(db, read_only=True)
    open_store(db).close()
    open_store(db, read_only=True).close()


def test_settings_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """A run stopped while writing a stream's settings leaves the file as it was: the text is
    written beside it and renamed over it."""
    from pipeline.settings import load_settings, settings_from_dict, write_settings

    def settings(source: str):
        return settings_from_dict({"stream": {"name": "s"}, "source": {"path": source}}, where="t")

    path = write_settings(settings("a.csv"), tmp_path / "s.toml")
    before = path.read_text(encoding="utf-8")
    real = Path.write_text

    def half_then_die(self, text, *args, **kwargs):
        real(self, text[: len(text) // 2], *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", half_then_die)
    with pytest.raises(KeyboardInterrupt):
        write_settings(settings("b.csv"), path)
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == before
    assert load_settings("s", tmp_path).source.path == "a.csv"
