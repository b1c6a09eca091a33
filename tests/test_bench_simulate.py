"""The simulation case of `make bench` (bench/simulate.py) cannot rot: run at 20k events, its
results checked, never its times."""

from __future__ import annotations

import json

from tests.conftest import run_bench


def test_the_simulation_case_runs_and_counts_its_cases(tmp_path):
    done = run_bench(
        "simulate.py",
        tmp_path / "cache",
        tmp_path / "results",
        timeout=900,
        BENCH_SIMULATE_SCALE="20k",
        BENCH_SIMULATE_WORKERS="1",
    )
    assert "cases per processor-second" in done.stdout
    (written,) = (tmp_path / "results").glob("simulate-*.json")
    result = json.loads(written.read_text())
    assert result["replications"] == 30 and result["horizon_days"] == 90 and result["steps"] == 8
    runs = result["runs"]
    assert set(runs) == {"current", "capacity"}
    # both simulate the same arrivals (the same seeds): 30 x 90 days at the model's rate
    assert runs["current"]["cases"] == runs["capacity"]["cases"]
    assert abs(runs["current"]["cases"] / (30 * 90 * result["arrivals_per_day"]) - 1) < 0.05
    assert all(r["cpu_s"] > 0 and r["cases_per_cpu_s"] > 0 for r in runs.values())
    assert runs["current"]["validation_emd"] < 0.25  # the generated claims stream validates
