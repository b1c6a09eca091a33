"""`vsm run` under operations (issue 18): analysts query while it runs, kill -9 at random
points, two runs at once. Every run is a process of its own, as a scheduler starts it.

The project: streams `a` and `b`, each a glob drop `exports/<s>-*.csv`. Night 1 loads
`<s>-1.csv` (cases 1 and 2, 2 events each: 4 events, 2 cases per stream); night 2 drops
`<s>-2.csv` (cases 3 and 4, 2 events each), after which each stream holds 8 events and 4
cases. A stream's state as analysts see it is its row in FINGERPRINT: (stream_summary.cases,
events, runs, cases rows), read in one query. A night-2 run publishes a, then b, so the
analysts' file may only ever be in one of three states: (a1, b1), (a2, b1), (a2, b2).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipeline.publish import unpublished_path, work_path
from tests.conftest import PROJECT, run_vsm_process, write

HEADER = "case,activity,timestamp\n"
NIGHT_1 = HEADER + "1,A,2024-01-01 00:00\n1,B,2024-01-02 00:00\n2,A,2024-01-01 00:00\n2,B,2024-01-03 00:00\n"
NIGHT_2 = HEADER + "3,A,2024-01-04 00:00\n3,B,2024-01-05 00:00\n4,A,2024-01-04 00:00\n4,B,2024-01-06 00:00\n"
FINGERPRINT = (
    "SELECT s.stream, s.cases, (SELECT count(*) FROM events e WHERE e.stream = s.stream), "
    "(SELECT count(*) FROM runs r WHERE r.stream = s.stream), "
    "(SELECT count(*) FROM cases c WHERE c.stream = s.stream) FROM stream_summary s ORDER BY s.stream"
)
# what a good run leaves, compared between a killed-then-finished night and an unkilled one
RESULTS = {
    "events": "SELECT case_id, activity, ts FROM events WHERE stream = $s ORDER BY ALL",
    "duplicate event ids": "SELECT event_id FROM events WHERE stream = $s GROUP BY ALL HAVING count(*) > 1",
    "cases": "SELECT case_id, is_open, lead_time_s, visits FROM cases WHERE stream = $s ORDER BY ALL",
    "visits": "SELECT count(*) FROM visits WHERE stream = $s",
    "source_files": (
        "SELECT regexp_extract(name, '[^/]+$'), size, content_hash FROM source_files "
        "WHERE stream = $s ORDER BY ALL"
    ),
    "summary": (
        "SELECT cases, open_cases, completed_cases, lead_time_p50_s, lead_time_p85_s, wip_avg, "
        "throughput_per_day, first_pass_yield FROM stream_summary WHERE stream = $s"
    ),
}


def _fingerprint(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(FINGERPRINT).fetchall()
    finally:
        con.close()


def _results(db: Path) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            (s, name): con.execute(query, {"s": s}).fetchall()
            for s in ("a", "b")
            for name, query in RESULTS.items()
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> tuple[Path, Path]:
    """(night 1: the project after its first `vsm run`, with night 2's files dropped; night 2:
    a copy of it after an unkilled second `vsm run`, the reference)."""
    first = tmp_path_factory.mktemp("nightly-ops") / "project"
    (first / "streams").mkdir(parents=True)
    (first / "exports").mkdir()
    for s in ("a", "b"):
        write(
            first / "streams" / f"{s}.toml", f'[stream]\nname = "{s}"\n[source]\npath = "exports/{s}-*.csv"\n'
        )
        write(first / "exports" / f"{s}-1.csv", NIGHT_1)
    done = run_vsm_process("run", "--no-png", cwd=first)
    assert done.returncode == 0, done.stderr
    for s in ("a", "b"):
        write(first / "exports" / f"{s}-2.csv", NIGHT_2)
    second = first.with_name("reference")
    shutil.copytree(first, second)
    done = run_vsm_process("run", "--no-png", cwd=second)
    assert done.returncode == 0, done.stderr
    return first, second


def _states(nights) -> tuple[list, list, list]:
    """The three states analysts may see during night 2, each a FINGERPRINT result."""
    a1, b1 = _fingerprint(nights[0] / "vsm.duckdb")
    a2, b2 = _fingerprint(nights[1] / "vsm.duckdb")
    assert (a1[1:3], b1[1:3], a2[1:3], b2[1:3]) == ((2, 4), (2, 4), (4, 8), (4, 8))  # see the docstring
    return [a1, b1], [a2, b1], [a2, b2]


def _vsm(*args: str, cwd: Path, before: str = "", **popen) -> subprocess.Popen:
    """`vsm <args>` started as its own process (as run_vsm_process, not waited for)."""
    script = before + "import sys\nsys.argv = ['vsm'] + sys.argv[1:]\nfrom pipeline.cli import main\nmain()\n"
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=cwd,
        env=os.environ | {"PYTHONPATH": str(PROJECT)},
        text=True,
        **popen,
    )


# An analyst's loop, one kind of connection per process: DuckDB hands a process the instance
# it already holds on a path, so a long-lived connection would serve that process's new ones.
ANALYST = """
import json, sys, duckdb
from pathlib import Path
from pipeline.query import run_query
kind, db, stop, ready, out, query = sys.argv[1:7]
stop, ready = Path(stop), Path(ready)
long_lived = duckdb.connect(db, read_only=True) if kind == "long" else None
seen, errors = [], []
while True:
    last = stop.exists()
    try:
        if kind == "new":  # a new connection per query (Python, read_only=True)
            con = duckdb.connect(db, read_only=True)
            seen.append(con.execute(query).fetchall())
            con.close()
        elif kind == "long":  # one connection, opened before the run
            seen.append(long_lived.execute(query).fetchall())
        else:  # `vsm sql`'s door
            seen.append(run_query(Path(db), query).rows())
    except Exception as exc:
        errors.append(repr(exc))
    ready.touch()
    if last:
        break
Path(out).write_text(json.dumps({"seen": seen, "errors": errors}))
"""
KINDS = ("new", "long", "vsm sql")


def analysts_during(nights, tmp_path: Path, *run_args: str) -> tuple[Path, list[tuple[str, dict]]]:
    """Night 1's project copied; the analysts of KINDS querying its analysts' file while
    `vsm run --no-png <run_args>` runs night 2 there (which must succeed): the folder and,
    per kind, what its analyst saw ({"seen": [...], "errors": [...]})."""
    folder = tmp_path / "project"
    shutil.copytree(nights[0], folder)
    stop = folder / "stop"
    analysts = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                ANALYST,
                kind,
                "vsm.duckdb",
                str(stop),
                f"ready-{i}",
                f"seen-{i}.json",
                FINGERPRINT,
            ],
            cwd=folder,
            env=os.environ | {"PYTHONPATH": str(PROJECT)},
        )
        for i, kind in enumerate(KINDS)
    ]
    try:
        deadline = time.monotonic() + 60
        while not all((folder / f"ready-{i}").exists() for i in range(len(KINDS))):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        done = run_vsm_process("run", "--no-png", *run_args, cwd=folder)
        assert done.returncode == 0, done.stderr
        stop.touch()
        assert [analyst.wait(timeout=60) for analyst in analysts] == [0, 0, 0]
    finally:
        for analyst in analysts:
            analyst.kill()
            analyst.wait()
    return folder, [
        (kind, json.loads((folder / f"seen-{i}.json").read_text())) for i, kind in enumerate(KINDS)
    ]


def test_analysts_querying_during_a_run_of_two_streams_never_fail_nor_see_half_a_stream(nights, tmp_path):
    states = [[list(row) for row in state] for state in _states(nights)]
    _folder, results = analysts_during(nights, tmp_path)
    for kind, result in results:
        assert result["errors"] == [], kind
        seen = [[list(row) for row in state] for state in result["seen"]]
        assert all(state in states for state in seen), kind
        order = [states.index(state) for state in seen]
        if kind == "long":  # keeps the file it opened: the state before the run, whole
            assert set(order) == {0}
        else:  # in publish order, never back: the first before the run, the last after it
            assert order == sorted(order), kind
            assert (order[0], order[-1]) == (0, 2), kind


# How a trial stops the run: after its K-th progress line (plus up to 0.3 s), or at the N-th
# flush to disk of the publishing module (the marker written, the copy whole, the rename made).
KILL_AT_FLUSH = """
import os, pipeline.publish as p
calls = [0]
def counted(real):
    def flush(path):
        calls[0] += 1
        if calls[0] == {n}:
            os.kill(os.getpid(), 9)
        real(path)
    return flush
p._fsync, p._fsync_dir = counted(p._fsync), counted(p._fsync_dir)
"""


def _kill_run(folder: Path, rng: random.Random) -> str:
    """Start night 2's `vsm run` in `folder` and kill -9 it at a random point; say where."""
    if rng.random() < 0.5:
        n = rng.randint(1, 10)  # a night-2 run flushes 10 times: per stream, the mark 2, publish 2, unmark 1
        run = _vsm(
            "run",
            "--no-png",
            "--log-format",
            "json",
            cwd=folder,
            before=KILL_AT_FLUSH.format(n=n),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        run.wait(timeout=120)
        return f"at flush {n} (exit {run.returncode})"
    k, delay = rng.randint(1, 28), rng.uniform(0, 0.3)
    run = _vsm(
        "run",
        "--no-png",
        "--log-format",
        "json",
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    where, lines = "", 0
    for line in run.stdout:
        record = json.loads(line)
        if record.get("event") in ("stage", "stream"):
            lines += 1
            where = f"{record['stream']}: {record.get('stage', 'done')}"
        if lines >= k:
            time.sleep(delay)
            break
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=60)
    run.stdout.close()
    return f"after line {k} ({where}) + {delay:.2f} s (exit {run.returncode})"


def _old_duckdb_opens(db: Path) -> None:
    """With $VSM_OLD_DUCKDB (a folder where an older DuckDB is installed apart, e.g. `pip install
    --target /tmp/duck15 duckdb==1.5.6`), that DuckDB opens the analysts' file read-only."""
    old = os.environ.get("VSM_OLD_DUCKDB")
    if not old:
        return
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb, sys\n"
            f"duckdb.connect(sys.argv[1], read_only=True).execute({FINGERPRINT!r}).fetchall()",
            str(db),
        ],
        env=os.environ | {"PYTHONPATH": old},
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr


def test_kill_9_at_random_points_of_a_run_then_the_next_run_completes_it(nights, tmp_path):
    """VSM_KILL_TRIALS trials (4 here; 20 or more for the soak), seeded by VSM_KILL_SEED."""
    states = _states(nights)
    expected = _results(nights[1] / "vsm.duckdb")
    trials = int(os.environ.get("VSM_KILL_TRIALS", "4"))
    rng = random.Random(int(os.environ.get("VSM_KILL_SEED", "18")))
    for trial in range(trials):
        folder = tmp_path / f"trial-{trial}"
        shutil.copytree(nights[0], folder)
        db = folder / "vsm.duckdb"
        where = _kill_run(folder, rng)
        print(f"trial {trial}: killed {where}")  # shown with -s: where the soak's kills landed
        # the analysts' file opens read-only and is one published state, whole
        assert _fingerprint(db) in states, f"trial {trial}, killed {where}"
        _old_duckdb_opens(db)
        done = run_vsm_process("run", "--no-png", cwd=folder)
        assert done.returncode == 0, f"trial {trial}, killed {where}: {done.stderr}"
        # nothing lost, nothing twice: the same events, files and results as an unkilled night
        got = _results(db)
        assert got == expected, f"trial {trial}, killed {where}"
        assert all(got[(s, "duplicate event ids")] == [] for s in ("a", "b"))
        assert db.read_bytes() == work_path(db).read_bytes()  # all published
        assert not unpublished_path(db).exists()
        shutil.rmtree(folder)


HOLD = """
import time
from pathlib import Path
import pipeline.streams as streams
real = streams.refresh
def held(*args, **kwargs):
    Path("held").touch()
    while not Path("go").exists():
        time.sleep(0.05)
    return real(*args, **kwargs)
streams.refresh = held
"""


def test_two_runs_at_once_the_second_waits_or_names_the_holder_and_a_killed_one_never_blocks(
    nights, tmp_path
):
    folder = tmp_path / "project"
    shutil.copytree(nights[0], folder)

    def held() -> subprocess.Popen:
        first = _vsm(
            "run",
            "a",
            "--no-png",
            cwd=folder,
            before=HOLD,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not (folder / "held").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (folder / "held").exists()
        return first

    first = held()
    try:
        busy = run_vsm_process("run", "--no-png", "--wait", "0.5", cwd=folder)
        assert busy.returncode == 7
        assert busy.stderr.strip() == (
            f"Error: vsm.duckdb: another run (pid {first.pid}) is writing this store (it holds "
            "vsm.duckdb.lock); waited 0.5 s: give --wait SECONDS to wait for it"
        )
        # with enough --wait, the second runs once the first is done
        second = _vsm(
            "run", "--no-png", "--wait", "120", cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        time.sleep(0.5)
        assert second.poll() is None  # waiting
        write(folder / "go", "")
        assert first.wait(timeout=120) == 0
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        # the first loaded a's new file, the second found nothing new for a, loaded b's
        assert [line.split()[:3] for line in out.splitlines()[1:3]] == [["a", "ok", "0"], ["b", "ok", "4"]]
    finally:
        first.kill()
        first.wait()
    # a run killed while it holds the lock does not block the next one, which does not wait
    (folder / "held").unlink()
    (folder / "go").unlink()
    killed = held()
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    done = run_vsm_process("run", "--no-png", cwd=folder)
    assert done.returncode == 0, done.stderr


# Stream a's report fails after its load and recompute committed in the work store.
A_FAILS = """
import pipeline.report as report
real = report.write_report
def failing(con, stream, *args, **kwargs):
    if stream == "a":
        raise RuntimeError("the report of a failed")
    return real(con, stream, *args, **kwargs)
report.write_report = failing
"""


def test_a_failed_stream_publishes_nothing_and_keeps_its_last_good_results_beside_the_others(
    nights, tmp_path
):
    a1, b1 = _fingerprint(nights[0] / "vsm.duckdb")
    a2, b2 = _fingerprint(nights[1] / "vsm.duckdb")
    folder = tmp_path / "project"
    shutil.copytree(nights[0], folder)
    db = folder / "vsm.duckdb"
    run = run_vsm_process("run", "--no-png", cwd=folder, before=A_FAILS)
    assert run.returncode == 6, run.stderr
    assert "a: failed" in run.stderr and "the report of a failed" in run.stderr
    # its load committed in the work store before the report failed: its count is said, not 0
    assert "a: failed, 4 new events (loaded, not published" in run.stderr
    assert re.search(r"^a\s+failed\s+4\s+0\s", run.stdout, re.M), run.stdout
    # b's new results are published; a's stay those of night 1 (4 events, 2 cases), though the
    # work store holds its new events and results
    assert _fingerprint(db) == [a1, b2]
    assert unpublished_path(db).read_text() == "a\n"
    con = duckdb.connect(str(work_path(db)), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM events WHERE stream = 'a'").fetchall() == [(8,)]
    finally:
        con.close()
    # the next run loads nothing twice and publishes a whole
    again = run_vsm_process("run", "--no-png", cwd=folder)
    assert again.returncode == 0, again.stderr
    assert _results(db) == _results(nights[1] / "vsm.duckdb")
    assert not unpublished_path(db).exists()
    assert [row[1:3] for row in _fingerprint(db)] == [a2[1:3], b2[1:3]]
