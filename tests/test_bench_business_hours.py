"""The business-hours case of `make bench` (bench/business_hours.py) cannot rot: run at 20k
events, once per variant, its results checked, never its times."""

from __future__ import annotations

import json

from tests.conftest import run_bench


def test_the_business_hours_case_runs_and_measures_with_a_calendar(tmp_path):
    done = run_bench(
        "business_hours.py",
        tmp_path / "cache",
        tmp_path / "results",
        timeout=900,
        BENCH_BH_SCALE="20k",
        BENCH_BH_RUNS="1",
    )
    assert done.stdout.splitlines()[-1].startswith("business durations' extra compute time at 20k events: ")
    (written,) = (tmp_path / "results").glob("business-hours-*.json")
    results = json.loads(written.read_text())["results"]
    assert [r["log"] for r in results] == ["claims", "incidents"]
    for r in results:
        assert set(r["median_s"]) == {"plain", "calendar", "calendar + sla"}
        # the calendar acted (most cases span nights and weekends), and the SLAs picked cases
        assert r["cases_shorter_in_business_time"] > r["cases"] / 2 and r["sla_rows_last_run"] > 0
