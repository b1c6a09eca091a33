"""Ctrl-C and SIGTERM (issue 15 item 3): at any moment of a run, exit 130 with one line, and
the store as it was before the step in progress.

The signals are sent to the `vsm` process from a timer thread inside it, started when a
stage begins (reading the source, the load, the flow, the report's Chromium step) and
firing a seeded fraction of a second later: the moment lands inside a DuckDB query, a
polars call, the Rust XES parser or the wait for Chromium, as a user's Ctrl-C does.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys

import duckdb
import pytest
import typer

from pipeline import cli
from pipeline.publish import work_path
from pipeline.settings import Source, StreamSettings
from pipeline.store import open_store
from pipeline.streams import discover
from tests.conftest import PROJECT, real_logs_dir, run_vsm_process

ROWS = 3000  # events of claims.csv kept: a log of a few thousand events
# stage -> (module, function) whose start starts the timer; the function is replaced there
STAGES = {
    "reading": ("pipeline.streams", "read_events"),
    "load": ("pipeline.streams", "ingest"),
    "flow": ("pipeline.streams", "compute_flow"),
    "report": ("pipeline.report", "svg_to_png"),
}
FLOW_TABLES = ("cases", "visits", "step_metrics", "variants", "stream_summary")


def signal_at(stage: str, signum: int, delay_s: float) -> str:
    """Python run in the `vsm` process before its CLI: `signum` to itself `delay_s` after
    `stage` starts."""
    module, function = STAGES[stage]
    return (
        "import importlib, os, threading\n"
        f"_m = importlib.import_module({module!r})\n"
        f"_real = _m.{function}\n"
        "def _hooked(*a, **k):\n"
        f"    threading.Timer({delay_s!r}, os.kill, (os.getpid(), {int(signum)})).start()\n"
        "    return _real(*a, **k)\n"
        f"_m.{function} = _hooked\n"
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A migrated empty store (each case runs on a copy), the log, and the counts a whole
    run leaves (the 'after' state of each step)."""
    folder = tmp_path_factory.mktemp("interrupts")
    lines = (PROJECT / "sample_logs" / "claims.csv").read_text(encoding="utf-8").splitlines()
    log = folder / "claims.csv"
    log.write_text("\n".join(lines[: ROWS + 1]) + "\n", encoding="utf-8")
    open_store(folder / "empty.duckdb").close()
    shutil.copy(folder / "empty.duckdb", folder / "whole.duckdb")
    with open_store(folder / "whole.duckdb") as con:
        settings = StreamSettings(name="claims", source=Source(path=str(log)))
        discover(con, log, "claims", streams_dir=folder / "streams", source_options=settings.source)
        whole = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("events", *FLOW_TABLES)}
    assert whole["events"] == ROWS and all(whole.values()), whole
    return folder, log, whole


def held_state(store, whole: dict) -> str:
    """'before', 'loaded' or 'computed': which steps the store holds, each wholly or not at
    all (a step's run row, its rows and the next step's rows agree)."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        kinds = sorted(k for (k,) in con.execute("SELECT kind FROM runs").fetchall())
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("events", *FLOW_TABLES)}
    finally:
        con.close()
    nothing = dict.fromkeys(counts, 0)
    loaded = nothing | {"events": whole["events"]}
    states = {
        "before": ([], nothing),
        "loaded": (["ingest"], loaded),
        "computed": (["compute", "ingest"], whole),
    }
    for name, (runs, expected) in states.items():
        if kinds == runs and counts == expected:
            return name
    raise AssertionError(f"half a step in the store: runs {kinds}, rows {counts}")


# (stage, signal, seed): each seed draws the moment within the stage
CASES = [
    ("reading", signal.SIGINT, 1),
    ("load", signal.SIGINT, 2),
    ("load", signal.SIGTERM, 3),
    ("flow", signal.SIGINT, 4),
    ("flow", signal.SIGTERM, 5),
    ("report", signal.SIGINT, 6),
]


@pytest.mark.parametrize(("stage", "signum", "seed"), CASES, ids=[f"{c[0]}-{c[1].name}" for c in CASES])
def test_a_signal_at_any_stage_exits_130_in_one_line_with_whole_steps_only(
    setup, tmp_path, stage, signum, seed
):
    folder, log, whole = setup
    shutil.copy(folder / "empty.duckdb", tmp_path / "vsm.duckdb")
    delay_s = random.Random(seed).uniform(0.0, 0.05 if stage == "reading" else 0.25)
    done = run_vsm_process(
        "discover", str(log), "--stream", "claims", cwd=tmp_path, before=signal_at(stage, signum, delay_s)
    )
    assert done.returncode == 130, done.stdout + done.stderr
    assert done.stderr.startswith("Error: interrupted"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
    assert signum.name in done.stderr
    # the analysts' file is published only by a command that succeeds: as it was
    assert held_state(tmp_path / "vsm.duckdb", whole) == "before"
    held = held_state(work_path(tmp_path / "vsm.duckdb"), whole)  # the writers' own store
    # the step in progress rolled back (or, if the moment came just past its commit, done)
    assert (
        held
        in {
            "reading": {"before"},
            "load": {"before", "loaded"},
            "flow": {"loaded", "computed"},
            "report": {"computed"},
        }[stage]
    )
    assert not list((tmp_path / "vsm.duckdb.tmp").glob("vsm-*")), "a temporary folder was left"
    # the report's three files are put in place together: all of them or none
    report = tmp_path / "reports" / "claims"
    assert {(report / f).exists() for f in ("index.html", "map.svg", "map.png")} == {False}


def test_an_interrupt_in_the_xes_parser_is_not_taken_for_a_bad_file(tmp_path):
    """rustxes turns a KeyboardInterrupt into a panic; in the two-process parse the panic was
    taken for a half that failed, the whole parsed again, and the run went on (exit 0)."""
    log = real_logs_dir() / "helpdesk.xes.gz"
    if not log.exists():
        pytest.skip(f"real log {log} not found")
    before = (
        "import os, threading, rustxes, connectors.xes as xes\n"
        "xes.SPLIT_MIN_BYTES = 0  # the two-process parse even for this small log\n"
        "_real = rustxes.import_xes\n"
        "def _hooked(*a, **k):\n"
        "    threading.Timer(0.01, os.kill, (os.getpid(), 2)).start()\n"
        "    return _real(*a, **k)\n"
        "rustxes.import_xes = _hooked\n"
    )
    done = run_vsm_process("discover", str(log), "--stream", "desk", "--no-png", cwd=tmp_path, before=before)
    assert done.returncode == 130, done.stdout + done.stderr
    assert done.stderr.startswith("Error: interrupted (SIGINT)") and len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "vsm.duckdb").exists()  # nothing published
    con = duckdb.connect(str(work_path(tmp_path / "vsm.duckdb")), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    finally:
        con.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_stops_a_long_query_at_once(tmp_path, signum):
    """DuckDB's client stops a query for a KeyboardInterrupt raised by SIGINT's handler, but
    a SIGTERM's went unnoticed until the query ended (hours here: the run would time out)."""
    open_store(tmp_path / "vsm.duckdb").close()
    before = (
        "import os, threading, pipeline.store as s\n"
        "_real = s.open_store\n"
        "def _hooked(*a, **k):\n"
        f"    threading.Timer(1.5, os.kill, (os.getpid(), {int(signum)})).start()\n"
        "    return _real(*a, **k)\n"
        "s.open_store = _hooked\n"
    )
    query = "SELECT count(*) FROM range(1000000000000) t(i) WHERE i % 7 = 3"
    done = run_vsm_process("sql", query, cwd=tmp_path, before=before, timeout=120)
    assert done.returncode == 130, done.stdout + done.stderr
    assert (
        done.stderr.startswith(f"Error: interrupted ({signum.name})") and len(done.stderr.splitlines()) == 1
    )


@pytest.mark.parametrize(
    "raised",
    [KeyboardInterrupt(), RuntimeError("Query interrupted"), duckdb.InterruptException("INTERRUPT Error")],
    ids=["KeyboardInterrupt", "duckdb-RuntimeError", "duckdb-InterruptException"],
)
def test_the_boundary_reports_an_interrupt_in_any_disguise(raised, capsys):
    """DuckDB turns a Ctrl-C during a query into its own error: that was exit 70, 'internal error'."""

    def action():
        raise raised

    with pytest.raises(typer.Exit) as ended:
        cli._boundary(False, action)
    assert ended.value.exit_code == 130
    assert capsys.readouterr().err.startswith("Error: interrupted")


def test_an_error_raised_while_rolling_back_an_interrupt_is_still_the_interrupt(capsys):
    def action():
        try:
            raise KeyboardInterrupt
        except BaseException:
            raise duckdb.TransactionException("cannot rollback - no transaction is active") from None

    with pytest.raises(typer.Exit) as ended:
        cli._boundary(False, action)
    assert ended.value.exit_code == 130


def test_sigterm_before_the_work_starts_is_not_an_abort(tmp_path):
    """A signal while the command line is still being read: typer printed 'Aborted!' (exit 1)."""
    # sent the moment main() has installed the handlers, before typer reads the arguments
    before = (
        "import os, signal, pipeline.interrupts as i\n"
        "_install = i.install\n"
        "def _then_signal():\n"
        "    previous = _install()\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return previous\n"
        "i.install = _then_signal\n"
    )
    done = run_vsm_process("streams", cwd=tmp_path, before=before)
    assert done.returncode == 130, done.stdout + done.stderr
    assert done.stderr.startswith("Error: interrupted (SIGTERM)") and "Aborted" not in done.stderr
    assert not (tmp_path / "vsm.duckdb").exists()


def test_a_signal_ignored_by_whoever_started_vsm_stays_ignored(tmp_path):
    """`nohup vsm ...` ignores SIGHUP; a background job ignores SIGINT: install() keeps that."""
    script = (
        "import signal\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "from pipeline import interrupts\n"
        "interrupts.install()\n"
        "assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN\n"
        "assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_an_interrupt_python_cannot_raise_is_recorded_not_printed():
    # a signal's KeyboardInterrupt raised inside a weakref callback (importlib's module-lock
    # cleanup, during a lazy import: seen in CI) is "ignored" by Python, which printed a
    # traceback before the error line; it is recorded (received) and printed no more, while
    # any other unraisable exception still is
    script = (
        "import gc, signal, sys, weakref\n"
        "from pipeline import interrupts\n"
        "interrupts.install()\n"
        "class T: pass\n"
        "def boom(_):\n"
        "    raise ValueError('other')\n"
        "t = T(); r = weakref.ref(t, boom); del t; gc.collect()\n"
        "def on_del(_):  # the handler, armed, as a signal would run it here\n"
        "    interrupts._armed = True\n"
        "    interrupts._on_signal(signal.SIGINT, None)\n"
        "u = T(); s = weakref.ref(u, on_del); del u; gc.collect()\n"
        "print(interrupts.received(), flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "SIGINT"
    assert "ValueError: other" in done.stderr
    assert "KeyboardInterrupt" not in done.stderr
