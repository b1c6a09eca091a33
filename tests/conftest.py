"""Shared fixtures. Real public logs are found through `real_logs_dir()` only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.store import open_store

PROJECT = Path(__file__).resolve().parents[1]


def real_logs_dir() -> Path:
    """Where the real public logs are: $VSM_REAL_LOGS, else ../shared/real_logs beside the project."""
    return Path(os.environ.get("VSM_REAL_LOGS", PROJECT.parent / "shared" / "real_logs"))


@pytest.fixture(scope="session")
def real_logs() -> Path:
    folder = real_logs_dir()
    if not folder.is_dir():
        pytest.skip(f"real logs not found at {folder} (set VSM_REAL_LOGS to their folder)")
    return folder


@pytest.fixture
def store(tmp_path):
    con = open_store(tmp_path / "vsm.duckdb")
    yield con
    con.close()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def vsm_in(folder: Path, *args: str):
    """`vsm <args>` in this process (typer's CliRunner) with `folder` as the working directory,
    for module-scoped fixtures, which cannot use monkeypatch.chdir."""
    from contextlib import chdir

    from typer.testing import CliRunner

    from pipeline.cli import app

    with chdir(folder):
        return CliRunner().invoke(app, list(args))


def run_bench(script: str, cache: Path, out: Path, timeout: float = 600, **settings: str):
    """bench/<script> run as `make bench` runs it, with its cache and results in `cache` and
    `out` and the BENCH_* `settings` given (a small scale); it must succeed."""
    env = {**os.environ, "VSM_BENCH_CACHE": str(cache), "VSM_BENCH_OUT": str(out), **settings}
    done = subprocess.run(
        [sys.executable, str(PROJECT / "bench" / script)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def run_vsm_process(
    *args: str, cwd: Path, before: str = "", timeout: float = 300
) -> subprocess.CompletedProcess:
    """`vsm <args>` as its own process, entered as the console script enters it
    (pipeline.cli.main), with this checkout's code; `before`: Python run first in it."""
    script = before + "import sys\nsys.argv = ['vsm'] + sys.argv[1:]\nfrom pipeline.cli import main\nmain()\n"
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ | {"PYTHONPATH": str(PROJECT)},
    )


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden files under tests/golden/ from the current output (review the diff)",
    )


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for this test session (tests/pg.py), or a skip saying why. Its
    folder is right under the temp dir: the server's own user must reach it (pytest's is root's)."""
    import shutil
    import tempfile

    from tests.pg import server

    root = Path(tempfile.mkdtemp(prefix="vsm-pg-"))
    pg, why = server(root)
    if pg is None:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(why)
    yield pg
    pg.stop()
    shutil.rmtree(root, ignore_errors=True)


def pytest_xdist_make_scheduler(config, log):
    """--dist loadgroup that works, by file: the Spark tests (tests/test_spark*.py, or marked
    xdist_group("spark")) go to one worker, so one JVM starts, and they go first, being the
    longest unit; every other test file is a unit of its own, so a module-scoped fixture (a
    store, a CLI run) is built once and not once per worker. The files follow in their
    order (xdist's loadscope would put those with most tests first, leaving the few long
    ones, the kill soaks and the real logs, for last: the run's tail). (pytest-xdist 3.8
    marks a group by rewriting item._nodeid, which pytest 9 no longer reads: its own
    loadgroup sends the group's tests anywhere.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SparkFirstThenFiles(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            spark = nodeid.startswith("tests/test_spark") or nodeid.endswith("@spark")
            return "spark" if spark else nodeid.split("::", 1)[0]

        def schedule(self) -> None:
            if self.collection is not None or not self._check_nodes_have_same_collection():
                return super().schedule()
            self.collection = list(next(iter(self.registered_collections.values())))
            units: dict[str, dict[str, bool]] = {}
            for nodeid in self.collection:
                units.setdefault(self._split_scope(nodeid), {})[nodeid] = False
            for scope in sorted(units, key=lambda scope: scope != "spark"):  # then in file order
                self.workqueue[scope] = units[scope]
            for node in self.nodes:
                if self.workqueue:
                    self._assign_work_unit(node)
            for node in self.nodes:
                self._reschedule(node)

    return SparkFirstThenFiles(config, log)


@pytest.fixture(scope="session")
def spark():
    """One SparkSession (local[2], UI off, on 127.0.0.1, 2 shuffle partitions, 2 GB heap) for the whole
    test run, or a skip saying why (no java, no pyspark). Its tests are marked
    xdist_group("spark") and the suite runs with --dist loadgroup: one worker starts the JVM.
    Each test sets the session zone it needs (SparkEngine.set_timezone)."""
    from pipeline.engine_spark import SparkSettings, spark_available, start_session

    why = spark_available()
    if why:
        pytest.skip(why)
    # the driver's heap capped (the JVM's default is a quarter of the machine's memory): the
    # test logs are small, and the other worker's DuckDB and Chromium need the rest. The JIT's
    # first tier only and the serial collector: a test run's Spark jobs are many and small, and
    # C2's compiler threads and the parallel collector's took CPU from the other worker
    # (parity and publish tests on one worker: 167 -> 132 CPU seconds, the JVM's included)
    jvm = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    conf = (("spark.driver.memory", "2g"), ("spark.driver.extraJavaOptions", jvm))
    settings = SparkSettings(master="local[2]", shuffle_partitions=2, conf=conf)
    session = start_session(settings, app_name="vsm-tests")
    yield session
    session.stop()
