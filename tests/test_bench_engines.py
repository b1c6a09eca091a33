"""The engines' case of `make bench` (bench/engines.py) cannot rot: run at 5k events on
local[2], its figures checked, never its times."""

from __future__ import annotations

import json

import pytest

from pipeline.engine_spark import spark_available
from pipeline.models import catalogue
from pipeline.portable import check
from tests.conftest import run_bench
from tests.test_spark_parity import SPARK_FAILS

# its JVM (a subprocess's) on the Spark tests' worker, not beside theirs on the other one
pytestmark = pytest.mark.xdist_group("spark")


def test_the_engines_case_times_each_model_on_duckdb_and_spark(tmp_path):
    done = run_bench(
        "engines.py",
        tmp_path / "cache",
        tmp_path / "results",
        timeout=900,
        BENCH_ENGINES_SCALE="5k",
        BENCH_ENGINES_MASTER="local[2]",
        BENCH_ENGINES_DRIVER_MEMORY="1g",
    )
    last = done.stdout.splitlines()[-1]
    (written,) = (tmp_path / "results").glob("engines-*.json")
    figures = json.loads(written.read_text())
    duck, spark = figures["duckdb"], figures["spark"]
    assert figures["events"] == 5_000
    # the runner's per-model timings: the models that make the published tables among them
    assert {"flow_events", "flow_visits_built", "flow_cases", "flow_step_metrics"} <= set(duck["models_s"])
    assert duck["cases"] > 250 and done.stdout.count("\n") > len(duck["models_s"])
    unportable = {
        m.name for m in catalogue().models if m.when != "engine = duckdb" and check(catalogue().sql(m))
    }
    if spark_available():
        assert last == f"spark did not run at 5k events: {spark_available()}"
    elif unportable or SPARK_FAILS:  # the Spark compute stops at the first model it refuses, named
        assert last.startswith("spark stopped at 5k events: model "), last
        assert last.split(" ")[6] in unportable | set(SPARK_FAILS)
    else:
        assert last.startswith("spark/duckdb compute time at 5k events: "), last
        assert (spark["cases"], spark["visits"]) == (duck["cases"], duck["visits"])
        assert set(spark["models_s"]) == set(duck["models_s"])
