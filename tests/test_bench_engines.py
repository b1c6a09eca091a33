"""The engines' case of `make bench` (bench/engines.py) cannot rot: run at 5k events with
BENCH_ENGINES=duckdb (the Spark half is `spark_compute` + `compute_flow`, which
tests/test_spark_parity.py runs on three logs; a second JVM here would cost the suite more
than all of its other Spark tests), its figures checked, never its times."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import PROJECT, run_bench


def test_the_engines_case_times_each_model_on_duckdb_and_says_spark_was_not_asked(tmp_path):
    done = run_bench(
        "engines.py",
        tmp_path / "cache",
        tmp_path / "results",
        timeout=900,
        BENCH_ENGINES_SCALE="5k",
        BENCH_ENGINES="duckdb",
    )
    last = done.stdout.splitlines()[-1]
    (written,) = (tmp_path / "results").glob("engines-*.json")
    figures = json.loads(written.read_text())
    duck, spark = figures["duckdb"], figures["spark"]
    assert figures["events"] == 5_000
    # the runner's per-model timings: the models that make the published tables among them
    assert {"flow_events", "flow_visits_built", "flow_cases", "flow_step_metrics"} <= set(duck["models_s"])
    assert duck["cases"] > 250 and done.stdout.count("\n") > len(duck["models_s"])
    assert spark == {"engine": "spark", "skipped": "not asked for (BENCH_ENGINES=duckdb)"}
    assert last == "spark did not run at 5k events: not asked for (BENCH_ENGINES=duckdb)"


def test_an_engines_list_without_duckdb_is_refused(tmp_path):
    env = {**os.environ, "VSM_BENCH_CACHE": str(tmp_path), "BENCH_ENGINES": "flink"}
    script = str(PROJECT / "bench" / "engines.py")
    done = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "BENCH_ENGINES='flink': expected duckdb or duckdb,spark" in done.stderr
