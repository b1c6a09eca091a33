"""`vsm run --parallel N` (issue 18): streams side by side in one process, each on a DuckDB
connection of its own to the work store, publishing one at a time (pipeline/nightly.py,
pipeline/publish.py `side_by_side`).

The project: streams `east` (America/New_York), `west` (Asia/Tokyo) and `broken` (its glob
matches no file). east and west load the same naive times, near midnight, so a stream whose
load or compute ran in the other's zone would store other instants and bucket other days.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import duckdb
import pytest

from pipeline.publish import side_by_side, working_on, writer_lock
from tests.conftest import run_vsm_process, write
from tests.test_nightly_ops import (  # noqa: F401 - nights: the fixture
    _fingerprint,
    _results,
    _vsm,
    analysts_during,
    nights,
)

# Case 1: A 23:30 on 01-01, B 00:30 on 01-02 (local); case 2: A 01-02 23:30, B 01-04 00:30;
# case 3: A 01-03 12:00, still open.
LOG = (
    "case,activity,timestamp\n"
    "1,A,2024-01-01 23:30\n1,B,2024-01-02 00:30\n"
    "2,A,2024-01-02 23:30\n2,B,2024-01-04 00:30\n"
    "3,A,2024-01-03 12:00\n"
)
ZONES = {"east": "America/New_York", "west": "Asia/Tokyo"}
# Each stream stops at its compute's first stage until the other has reached its own (both
# have set their TimeZone by then): the two computes overlap whatever the machine's speed.
BOTH_COMPUTING = """
import threading
import pipeline.streams as streams
compute_flow = streams.compute_flow
meet = threading.Barrier(2, timeout=60)
def compute_side_by_side(con, settings, on_stage=lambda _s: None, **options):
    first = []
    def stage(what):
        if not first:
            first.append(what)
            meet.wait()
        on_stage(what)
    return compute_flow(con, settings, on_stage=stage, **options)
streams.compute_flow = compute_side_by_side
"""
# What a run leaves that depends on when it ran, not on what it computed: the ids the runs
# table's sequence hands out (side by side the streams' loads take them in any order) and
# the wall-clock times; and the incremental state's case fingerprints, which hash each event's
# run id with it.
RUN_TIME = {
    "run_id",
    "started_at",
    "finished_at",
    "updated_at",
    "loaded_at",
    "reject_id",
    "fingerprint",
    "computed_at",  # a snapshot's (metric_history, map_history)
}


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> dict[int, tuple[Path, subprocess.CompletedProcess]]:
    """The same project run once with --parallel 1 and once with --parallel 2: {N: (folder, run)}."""
    base = tmp_path_factory.mktemp("parallel") / "base"
    (base / "streams").mkdir(parents=True)
    (base / "exports").mkdir()
    for name, zone in ZONES.items():
        write(
            base / "streams" / f"{name}.toml",
            f'[stream]\nname = "{name}"\ntimezone = "{zone}"\n[source]\npath = "exports/{name}-*.csv"\n',
        )
        write(base / "exports" / f"{name}-1.csv", LOG)
    write(
        base / "streams" / "broken.toml",
        '[stream]\nname = "broken"\n[source]\npath = "exports/broken-*.csv"\n',
    )
    done = {}
    for n in (1, 2):
        folder = base.with_name(f"parallel-{n}")
        shutil.copytree(base, folder)
        before = BOTH_COMPUTING if n == 2 else ""
        done[n] = (
            folder,
            run_vsm_process("run", "--no-png", "--parallel", str(n), cwd=folder, before=before),
        )
    return done


def _tables(db: Path) -> dict[str, str]:
    """Every table with a stream column, its rows in order, without RUN_TIME columns, as JSON
    text with the project's folder (in source paths) written <project>."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        columns = con.execute(
            "SELECT table_name, list(column_name ORDER BY column_index) FROM duckdb_columns() "
            "WHERE schema_name = 'main' GROUP BY table_name "
            "HAVING list_contains(list(column_name), 'stream') ORDER BY table_name"
        ).fetchall()
        tables = {}
        for table, names in columns:
            kept = ", ".join(f'"{c}"' for c in names if c not in RUN_TIME)  # quoted: "window" is a keyword
            rows = con.execute(f"SELECT {kept} FROM {table} ORDER BY ALL").fetchall()
            # a run id in a finding's text ("load run 2") is a RUN_TIME value too
            text = re.sub(r"\brun \d+", "run #", json.dumps(rows, default=str))
            tables[table] = text.replace(str(db.parent), "<project>")
        return tables
    finally:
        con.close()


def test_parallel_2_gives_every_result_row_of_parallel_1_and_the_failing_stream_fails_alone(projects):
    for n, (_folder, run) in projects.items():
        assert run.returncode == 6, (n, run.stderr)  # broken failed
        lines = run.stdout.splitlines()
        # the summary in the streams' order (by name), not in the order they finished
        assert [line.split()[:2] for line in lines[1:4]] == [
            ["broken", "failed"],
            ["east", "ok"],
            ["west", "ok"],
        ]
        assert "the [source] path pattern matches no file" in lines[1]
        assert "3 streams run, 1 failed" in run.stdout
    one, two = (_tables(projects[n][0] / "vsm.duckdb") for n in (1, 2))
    assert one.keys() == two.keys() and len(one) > 15
    for table in one:
        assert one[table] == two[table], table
    assert '"west"' in one["step_metrics"] and '"east"' in one["wip_daily"]
    # nothing is left marked unpublished but the failed stream
    assert (projects[2][0] / "vsm.duckdb.unpublished").read_text() == "broken\n"


def test_streams_in_different_timezones_side_by_side_keep_their_own(projects):
    db = projects[2][0] / "vsm.duckdb"
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        first = con.execute(
            "SELECT stream, strftime(ts, '%Y-%m-%d %H:%M') FROM events "
            "WHERE case_id = '1' AND activity = 'A' ORDER BY stream"
        ).fetchall()
        days = con.execute(
            "SELECT stream, list(strftime(day, '%m-%d') ORDER BY day) FROM wip_daily "
            "GROUP BY stream ORDER BY stream"
        ).fetchall()
    finally:
        con.close()
    # 2024-01-01 23:30 in New York (UTC-5) is 01-02 04:30 UTC; in Tokyo (UTC+9) 01-01 14:30 UTC
    assert first == [("east", "2024-01-02 04:30"), ("west", "2024-01-01 14:30")]
    # days in each stream's own zone: the same local days 01-01 .. 01-04 for both (in one
    # zone for both, one of them would shift: New York's 23:30 is the next day in Tokyo)
    assert days[0][1] == days[1][1] and days[0][1][0] == "01-01", days


def test_parallel_0_is_refused(tmp_path):
    done = run_vsm_process("run", "--parallel", "0", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "Error: --parallel 0: expected a whole number of streams at once, 1 or more"


def test_a_publish_while_another_stream_inserts_300k_rows_copies_a_whole_store(tmp_path):
    """One thread inserts 300,000 rows per transaction (large: DuckDB writes them into free
    blocks of the file before the commit), committing or rolling back by turns, while another
    publishes: every published file opens and holds a whole number of committed inserts."""
    db = tmp_path / "vsm.duckdb"
    batch, published = 300_000, []
    with writer_lock(db), side_by_side(db) as shared:
        setup = shared.cursor()
        setup.execute("CREATE TABLE filler (stream VARCHAR, i BIGINT, s VARCHAR)")
        setup.close()
        stop, started, failures = threading.Event(), threading.Event(), []

        def insert() -> None:
            cur = shared.cursor()
            try:
                turn = 0
                while not stop.is_set():
                    cur.execute("BEGIN TRANSACTION")
                    cur.execute(
                        "INSERT INTO filler SELECT 'load', range, 'row ' || range FROM range($n)",
                        {"n": batch},
                    )
                    started.set()
                    cur.execute("COMMIT" if turn % 2 == 0 else "ROLLBACK")
                    turn += 1
            except Exception as exc:  # noqa: BLE001 - reported by the test
                failures.append(repr(exc))
            finally:
                cur.close()

        worker = threading.Thread(target=insert)
        worker.start()
        try:
            assert started.wait(60)
            for k in range(4):
                with working_on(db, "other", shared=shared) as con:
                    con.execute("CREATE OR REPLACE TABLE mark AS SELECT $k AS k", {"k": k})
                check = duckdb.connect(str(db), read_only=True)
                try:
                    published.append(
                        check.execute(
                            "SELECT count(*), sum(i), count(DISTINCT s), (SELECT k FROM mark) FROM filler"
                        ).fetchone()
                    )
                finally:
                    check.close()
        finally:
            stop.set()
            worker.join(120)
    assert failures == []
    for k, (rows, total, distinct, mark) in enumerate(published):
        # each committed insert: rows 0 .. 299,999, summing to 299,999 * 300,000 / 2
        inserts = rows // batch
        assert (rows % batch, total, mark) == (0, inserts * (batch - 1) * batch // 2, k)
        assert distinct == (batch if inserts else 0)


def test_analysts_querying_during_a_parallel_run_never_fail_nor_see_half_a_stream(nights, tmp_path):  # noqa: F811
    a1, b1 = (list(row) for row in _fingerprint(nights[0] / "vsm.duckdb"))
    a2, b2 = (list(row) for row in _fingerprint(nights[1] / "vsm.duckdb"))
    _folder, results = analysts_during(nights, tmp_path, "--parallel", "2")
    for kind, result in results:
        assert result["errors"] == [], kind
        seen = [[list(row) for row in state] for state in result["seen"]]
        # each stream whole, before or after its night (in either order: side by side)
        assert all(a in (a1, a2) and b in (b1, b2) for a, b in seen), kind
        if kind == "long":  # keeps the file it opened: the state before the run
            assert all(state == [a1, b1] for state in seen), kind
        else:  # never back: a stream once published stays so; before the run, then after it
            for column in (0, 1):
                order = [[a1, b1][column] != state[column] for state in seen]
                assert order == sorted(order), kind
            assert (seen[0], seen[-1]) == ([a1, b1], [a2, b2]), kind


# Each stream, at its compute's first stage, says so in a file and runs a query that lasts
# (about a minute on its own): a signal must interrupt both streams' queries.
SLOW_COMPUTE = """
import pathlib
import pipeline.streams as streams
def slow(con, settings, **options):
    pathlib.Path(f"computing-{settings.name}").touch()
    con.execute("SELECT count(*) FROM range(100000000000) WHERE range % 7 = 3").fetchall()
streams.compute_flow = slow
"""


def test_sigint_during_a_parallel_run_stops_every_stream_and_the_next_run_completes(nights, tmp_path):  # noqa: F811
    folder = tmp_path / "project"
    shutil.copytree(nights[0], folder)
    run = _vsm("run", "--no-png", "--parallel", "2", cwd=folder, before=SLOW_COMPUTE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not ((folder / "computing-a").exists() and (folder / "computing-b").exists()):
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.05)
        time.sleep(0.3)  # both inside their query
        run.send_signal(signal.SIGINT)
        _out, err = run.communicate(timeout=60)
    finally:
        run.kill()
        run.wait()
    assert run.returncode == 130, err
    assert "Error: interrupted (SIGINT)" in err
    assert _fingerprint(folder / "vsm.duckdb") == _fingerprint(nights[0] / "vsm.duckdb")  # as before
    assert (folder / "vsm.duckdb.unpublished").read_text() == "a\nb\n"
    again = run_vsm_process("run", "--no-png", "--parallel", "2", cwd=folder)
    assert again.returncode == 0, again.stderr
    # the night completed: each stream's results as an uninterrupted night's (the runs table
    # holds one row more: the interrupted run's load, which had committed)
    assert _results(folder / "vsm.duckdb") == _results(nights[1] / "vsm.duckdb")
    assert not (folder / "vsm.duckdb.unpublished").exists()
