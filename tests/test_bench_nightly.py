"""The nightly case of `make bench` (bench/nightly.py) cannot rot: run at 20k events, its
results checked, never its times (speed lives in the benchmark's own output)."""

from __future__ import annotations

import json

import polars as pl

from tests.conftest import run_bench

EVENTS = 20_000


def test_the_nightly_case_runs_and_its_two_stores_agree(tmp_path):
    done = run_bench(
        "nightly.py",
        tmp_path / "cache",
        tmp_path / "results",
        BENCH_NIGHTLY_SCALE="20k",
        BENCH_NIGHTLY_IDLE_S="1",
    )
    (written,) = (tmp_path / "results").glob("nightly-*.json")
    result = json.loads(written.read_text())
    # the split: 1% of 20k events is the night's, every event in exactly one of the two files
    assert (result["base_events"], result["night_events"]) == (19_800, 200)
    cache = tmp_path / "cache"
    base = pl.read_parquet(next(cache.glob("claims-20k-*-base.parquet")))
    night = pl.read_parquet(next(cache.glob("claims-20k-*-night.parquet")))
    log = pl.read_parquet(next(cache.glob("claims-20k-v*[0-9].parquet")))
    assert base["timestamp"].max() <= night["timestamp"].min()
    assert pl.concat([base, night]).sort(log.columns).equals(log.sort(log.columns))
    # the night continues open cases and brings new ones
    assert result["night_cases_new"] > 0 and result["night_cases_continued"] > 0
    # the run loaded the new file only; the full recompute of the same events agrees with it
    assert result["nightly"]["exit_code"] == 0 and result["baseline"]["exit_code"] == 0
    assert result["nightly"]["stream"]["new_events"] == 200
    assert result["figures_nightly"]["events"] == EVENTS
    assert result["figures_equal"], (result["figures_nightly"], result["figures_baseline"])
    assert [s["stage"] for s in result["nightly"]["stages"]][0] == "starting"
    assert result["ratio"] > 0
    idle = result["analysts_idle"]
    assert idle["rounds"] > 0 and idle["failures"] == 0
    assert result["analysts_during"]["rounds"] > 0  # failures are counted, not asserted: main's lock
    assert "ratio (c)/(d) = " in done.stdout and "target <= 0.15: " in done.stdout
    assert not list((cache / "runs").iterdir())  # the run's folders removed
