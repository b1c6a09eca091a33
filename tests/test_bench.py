"""The benchmark cannot rot: `make bench`'s machinery run at 20k events, its results checked.

Only results are asserted (figures, files, the last line), never times: speed lives in the
benchmark's own output.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import polars as pl
import pytest

from tests.conftest import PROJECT, run_bench

# bench/ is a folder of scripts, not a package: load its generator under a name of its own
_spec = importlib.util.spec_from_file_location("vsm_bench_generate", PROJECT / "bench" / "generate.py")
generate = sys.modules["vsm_bench_generate"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate)

# and its runner, whose folder it puts first on sys.path (to import the generator): not for long
_spec = importlib.util.spec_from_file_location("vsm_bench_run", PROJECT / "bench" / "run.py")
bench_run_module = sys.modules["vsm_bench_run"] = importlib.util.module_from_spec(_spec)
_path = list(sys.path)
_spec.loader.exec_module(bench_run_module)
sys.path[:] = _path

EVENTS = 20_000


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    """One bench run at 20k events: claims and incidents, Parquet and CSV, XES, pm4py."""
    folder = tmp_path_factory.mktemp("bench")
    done = run_bench(
        "run.py",
        folder / "cache",
        folder / "result.json",
        BENCH_SCALES="20k",
        BENCH_RUNS="1",
        BENCH_XES_SCALE="20k",
    )
    return done.stdout, json.loads((folder / "result.json").read_text()), folder / "cache"


def test_prints_one_table_and_ends_with_the_ratio(bench_run):
    stdout, _, _ = bench_run
    lines = stdout.rstrip("\n").splitlines()
    assert lines[0].split()[:4] == ["scale", "log", "format", "runs"]
    assert lines[-1].startswith("pm4py/vsm time ratio at 10M events: not measured")
    assert "at 20k events: " in lines[-1]
    assert "where the time goes: claims Parquet 20k" in stdout


def test_every_log_and_format_measured_and_checked_against_the_generator(bench_run):
    _, result, cache = bench_run
    cells = {(r["log"], r["format"]) for r in result["vsm"]}
    assert cells == {
        ("claims", "parquet"),
        ("claims", "csv"),
        ("incidents", "parquet"),
        ("incidents", "csv"),
        ("claims", "xes"),
    }
    for row in result["vsm"]:
        assert row["failed_runs"] == []
        assert row["wall_s"] > 0 and row["peak_bytes"] > 0
        known = json.loads((cache / f"{row['log']}-20k-v{generate.GENERATOR_VERSION}.json").read_text())
        assert row["figures"]["events"] == known["events"] == EVENTS
        assert row["figures"]["cases"] == known["cases"]
        assert row["figures"]["rejects"] == 0
        assert row["checks"] and all(row["checks"].values()), row["checks"]
        if row["log"] == "claims":
            assert row["figures"]["log_shape"] == "interval"
            assert row["figures"]["visits"] == known["visits"]
            assert row["figures"]["completed_cases"] == known["completed_cases"]
        else:
            assert row["figures"]["log_shape"] == "status"


def test_stages_cover_load_flow_discovery_and_report(bench_run):
    _, result, _ = bench_run
    row = next(r for r in result["vsm"] if (r["log"], r["format"]) == ("claims", "parquet"))
    for stage in ("load: insert", "flow: visits", "discovery and map", "report"):
        assert stage in row["stages"], stage
    for table in ("sql: flow_visits_built", "sql: flow_cases", "sql: flow_transitions", "sql: flow_variants"):
        assert table in row["stages"], table
    assert result["ingest"]["csv_events_per_s"] > 0 and result["ingest"]["xes_events_per_s"] > 0


def test_pm4py_baseline_agrees_with_vsm_on_the_same_file(bench_run):
    _, result, cache = bench_run
    known = json.loads((cache / f"claims-20k-v{generate.GENERATOR_VERSION}.json").read_text())
    (pm,) = result["pm4py"]
    vsm = next(r for r in result["vsm"] if (r["log"], r["format"]) == ("claims", "parquet"))["figures"]
    assert pm["failed_runs"] == [] and pm["wall_s"] > 0
    assert pm["figures"]["events"] == EVENTS
    # pm4py pairs a start with its complete and leaves visits still in process out
    in_process = known["start_rows"] - known["complete_rows"]
    assert pm["figures"]["visits"] == known["complete_rows"]
    # pm4py's visits are sessions: a step following itself (back-to-back sessions) is one visit
    # in vsm, so those pairs are not vsm's transitions
    pm_f = pm["figures"]
    assert pm_f["transitions"] - pm_f["self_transitions"] == vsm["transitions"]
    assert (
        0
        <= vsm["transition_count"] - (pm_f["transition_count"] - pm_f["self_transition_count"])
        <= in_process
    )
    assert pm["figures"]["wip_days"] >= vsm["wip_days"] - 1


def test_generator_is_deterministic_and_exact(tmp_path, monkeypatch):
    logs = []
    for name in ("a", "b"):
        monkeypatch.setenv("VSM_BENCH_CACHE", str(tmp_path / name))
        logs.append(generate.ensure("claims", 5_000))
    a, b = logs
    assert a.parquet.read_bytes() == b.parquet.read_bytes()
    assert a.csv.read_bytes() == b.csv.read_bytes()
    frame = pl.read_parquet(a.parquet)
    assert frame.height == 5_000 == a.known()["events"]
    assert frame["timestamp"].dtype == pl.Datetime("us", "UTC")
    assert set(frame["lifecycle"].unique()) == {"start", "complete"}
    assert frame["case_id"].n_unique() == a.known()["cases"]


def test_the_csv_is_written_only_when_a_run_reads_it(tmp_path, monkeypatch):
    """At 100M the benchmark runs Parquet only: its 8.8 GB CSV is not generated. Asked for
    later, the CSV comes with a Parquet file identical to the first."""
    monkeypatch.setenv("VSM_BENCH_CACHE", str(tmp_path))
    parquet_only = generate.ensure("claims", 5_000, csv=False)
    assert parquet_only.parquet.exists() and not parquet_only.csv.exists()
    first = parquet_only.parquet.read_bytes()
    both = generate.ensure("claims", 5_000)
    assert both.csv.exists() and both.parquet.read_bytes() == first
    assert pl.read_csv(both.csv).height == 5_000


def test_scales_are_read_as_the_issue_writes_them():
    assert [generate.parse_scale(s) for s in ("100k", "1M", "10M", "100M")] == [
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
    ]
    assert generate.scale_label(100_000_000) == "100M"
    with pytest.raises(ValueError):
        generate.parse_scale("lots")


def test_a_near_miss_never_reads_as_the_target():
    """A ratio of 5.94 is printed as such, not rounded up to the 6.0 it misses; a time a
    hair over its target is a multiple above 1.00."""
    ten = {"scale": "10M", "log": "claims", "format": "parquet", "wall_s": 15.06, "peak_bytes": 3e9}
    results = {
        "vsm": [ten],
        "pm4py": [{"scale": "10M", "events": 10_000_000, "wall_s": 15.06 * 5.94}],
        "ingest": {"csv_events_per_s": 995_000, "csv_scale": "10M claims"},
    }
    assert bench_run_module.ratio_line(results) == "pm4py/vsm time ratio at 10M events: 5.94"
    assert bench_run_module.ingest_lines(results) == ["CSV ingest: 995,000 events/s (10M claims)"]
    lines = bench_run_module.target_lines(results)
    assert any("pm4py/vsm at 10M (x)" in line and "MISSED (99.0% of the target)" in line for line in lines)
    assert any("10M Parquet end to end (s)" in line and "MISSED (1.00x the target)" in line for line in lines)
    assert any("CSV ingest" in line and "MISSED (99.5% of the target)" in line for line in lines)


def test_pm4py_runs_alternate_with_vsm_on_the_same_file():
    """The ratio's two sides are measured side by side: the machine slows under a long run."""
    settings = bench_run_module.Settings.from_env({"BENCH_RUNS": "3"})
    jobs = settings.jobs(10_000_000)
    assert jobs[:6] == [
        ("vsm", "claims", "parquet", 1),
        ("pm4py", "claims", "parquet", 1),
        ("vsm", "claims", "parquet", 2),
        ("pm4py", "claims", "parquet", 2),
        ("vsm", "claims", "parquet", 3),
        ("pm4py", "claims", "parquet", 3),
    ]
    assert jobs[6:] == [
        ("vsm", kind, fmt, run)
        for kind, fmt in (("claims", "csv"), ("incidents", "parquet"), ("incidents", "csv"))
        for run in (1, 2, 3)
    ]
    # no Parquet run of vsm to pair with: the baseline comes after; above its limit, none
    csv_only = bench_run_module.Settings.from_env({"BENCH_RUNS": "2", "BENCH_FORMATS": "csv"})
    assert [j for j in csv_only.jobs(1_000_000) if j[0] == "pm4py"] == csv_only.jobs(1_000_000)[-2:]
    assert all(tool == "vsm" for tool, *_ in settings.jobs(100_000_000))


def test_a_missing_log_is_generated_in_a_child_process(tmp_path, monkeypatch):
    """bench/run.py makes its logs with ensure_apart: this process stays small, so the runs it
    starts later do not report its size as their peak (Linux counts it from before their exec)."""
    monkeypatch.setenv("VSM_BENCH_CACHE", str(tmp_path))

    def not_here(*_args, **_kwargs):
        raise AssertionError("generated in the benchmark's own process")

    monkeypatch.setattr(generate, "plan", not_here)  # the child imports its own generate
    log = generate.ensure_apart("claims", 5_000, csv=False)
    assert log.parquet.exists() and not log.csv.exists()
    assert log.known()["events"] == 5_000
    assert pl.read_parquet(log.parquet).height == 5_000
    xes = generate.ensure_apart("claims", 5_000, csv=False, xes=True)
    assert xes.name == f"claims-5k-v{generate.GENERATOR_VERSION}-ns.xes"
    assert xes.read_text().count("<event>") == 5_000


def test_driver_cpu_counts_the_child_processes_a_stage_waited_for():
    """The XES reader parses half a large log in a second process: a stage's cpu_s holds it."""
    import subprocess
    import time

    spec = importlib.util.spec_from_file_location("vsm_bench_driver", PROJECT / "bench" / "driver.py")
    driver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(driver)
    recorder = driver.Recorder()
    recorder.stage("reading the log")
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3:\n    pass\n"
    subprocess.run([sys.executable, "-c", busy], check=True)  # this process waits, idle
    recorder.stage("checking rows")
    read, _ = recorder.stages(time.perf_counter(), driver.cpu_seconds())
    assert read["stage"] == "read and detect"
    assert read["cpu_s"] >= 0.3


def test_the_measured_checkout_is_byte_compiled_as_an_install_would_be(tmp_path):
    """bench/run.py compiles pipeline/ and connectors/ of the checkout it measures before the
    runs, so that a run does not compile them from source (PYTHONDONTWRITEBYTECODE set)."""
    for package in ("pipeline", "connectors"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        (tmp_path / package / "mod.py").write_text("X = 1\n")
    (tmp_path / "other.py").write_text("Y = 2\n")
    bench_run_module.compile_project(tmp_path)
    compiled = {(p.parent.parent.name, p.name.split(".")[0]) for p in tmp_path.rglob("*.pyc")}
    assert compiled == {
        ("pipeline", "__init__"),
        ("pipeline", "mod"),
        ("connectors", "__init__"),
        ("connectors", "mod"),
    }
