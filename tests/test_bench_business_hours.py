"""The business-hours case of `make bench` (bench/business_hours.py) cannot rot: run at 100k
events, once per variant, its results checked, never its times."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import PROJECT


def test_the_business_hours_case_runs_and_measures_with_a_calendar(tmp_path):
    env = {
        **os.environ,
        "VSM_BENCH_CACHE": str(tmp_path / "cache"),
        "VSM_BENCH_OUT": str(tmp_path / "results"),
        "BENCH_BH_SCALE": "100k",
        "BENCH_BH_RUNS": "1",
    }
    done = subprocess.run(
        [sys.executable, str(PROJECT / "bench" / "business_hours.py")],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("business durations' extra compute time at 100k events: ")
    (written,) = (tmp_path / "results").glob("business-hours-*.json")
    results = json.loads(written.read_text())["results"]
    assert [r["log"] for r in results] == ["claims", "incidents"]
    for r in results:
        assert set(r["median_s"]) == {"plain", "calendar", "calendar + sla"}
        # the calendar acted (most cases span nights and weekends), and the SLAs picked cases
        assert r["cases_shorter_in_business_time"] > r["cases"] / 2 and r["sla_rows_last_run"] > 0
