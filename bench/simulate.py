"""The simulation part of `make bench`: how fast `vsm simulate` learns a stream's model and runs
its replications, and how many simulated cases per second.

For the claims log of `BENCH_SIMULATE_SCALE` events (default 10M; bench/generate.py, Parquet)
the stream is set up once (discover: load + settings, then the flow computed; not timed),
then, in this process, timed apart:

- the model learned from the store (pipeline.simulate_model.load_model);
- `BENCH_SIMULATE_REPLICATIONS` (30) replications of the current state over
  `BENCH_SIMULATE_HORIZON` days (90), as `vsm simulate claims current --workers N` runs
  them (`BENCH_SIMULATE_WORKERS`, default 2 or the cores there are);
- the same for a scenario (one more server at the busiest step, per its queue time).

Prints the times, the cases simulated per second, the validation figures, and whether model +
replications of one scenario took under two minutes (issue 21's target): by the wall clock,
and by processor time (the model's, plus the replications' divided by the workers: what the
run takes on free cores, since other work on a shared machine stretches the wall clock);
writes them as JSON to `$VSM_BENCH_OUT` (a folder or a .json file; default bench/results/),
`simulate-<time>.json`.

    python bench/simulate.py
    BENCH_SIMULATE_SCALE=100k python bench/simulate.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import generate  # noqa: E402

TARGET_S = 120.0


def main() -> int:
    from pipeline.flow import compute_flow
    from pipeline.scenarios import Scenario, plan
    from pipeline.simulate import validate
    from pipeline.simulate_model import load_model
    from pipeline.simulation import run_replications
    from pipeline.store import open_store
    from pipeline.streams import discover

    scale = os.environ.get("BENCH_SIMULATE_SCALE", "10M")
    replications = int(os.environ.get("BENCH_SIMULATE_REPLICATIONS", "30"))
    horizon = float(os.environ.get("BENCH_SIMULATE_HORIZON", "90"))
    workers = int(os.environ.get("BENCH_SIMULATE_WORKERS", str(min(2, os.cpu_count() or 1))))
    log = generate.ensure("claims", generate.parse_scale(scale), csv=False, say=print)
    with tempfile.TemporaryDirectory(prefix="vsm-bench-simulate-") as folder:
        con = open_store(Path(folder) / "vsm.duckdb")
        print(f"setting up the claims stream of {scale} events (load and compute: not timed)")
        found = discover(con, log.parquet, "claims", streams_dir=Path(folder) / "streams")
        compute_flow(con, found.settings)
        started = time.perf_counter()
        cpu_started = time.process_time()
        model = load_model(con, "claims", found.settings.timezone)
        model_s = time.perf_counter() - started
        model_cpu_s = time.process_time() - cpu_started
        con.close()
    busiest = max(
        (s for s in model.steps.values() if not s.is_delay),
        key=lambda s: model.observed_steps.get(s.name, {}).get("queue_time_mean_s") or 0,
    )
    runs = {}
    for name, scenario in (
        ("current", Scenario("current")),
        ("capacity", Scenario("capacity", capacity={busiest.name: "+1"})),
    ):
        started = time.perf_counter()
        reps = run_replications(plan(model, scenario), horizon, replications, 1, workers)
        seconds = time.perf_counter() - started
        cases = sum(r.cases for r in reps)
        cpu = sum(r.cpu_s for r in reps)
        runs[name] = {
            "seconds": seconds,
            "cases": cases,
            "cases_per_s": cases / seconds,
            "cpu_s": cpu,  # processor time of the replications (all workers)
            "cases_per_cpu_s": cases / cpu,
        }
        if name == "current":
            v = validate(model, reps)
            runs[name]["validation_emd"] = v.emd_relative
            runs[name]["observed_p50_s"] = v.observed_p50_s
            runs[name]["simulated_p50_s"] = v.simulated_p50_s
    one = model_s + runs["current"]["seconds"]
    # on a machine shared with other work the wall clock says how busy it was; the processor
    # time says what the run needs: model (one process) + replications spread over the workers
    one_free = model_cpu_s + runs["current"]["cpu_s"] / workers
    result = {
        "scale": scale,
        "replications": replications,
        "horizon_days": horizon,
        "workers": workers,
        "arrivals_per_day": model.arrivals_per_day,
        "steps": len(model.steps),
        "model_s": model_s,
        "model_cpu_s": model_cpu_s,
        "runs": runs,
        "model_and_one_scenario_s": one,
        "target_s": TARGET_S,
        "target_met": one < TARGET_S,
        "model_and_one_scenario_cpu_s": one_free,
        "target_met_on_free_cores": one_free < TARGET_S,
        "load_average": os.getloadavg()[0],
    }
    print(
        f"model learned in {model_s:.2f} s ({len(model.steps)} steps, {model.arrivals_per_day:.0f} "
        f"arrivals/day)"
    )
    for name, r in runs.items():
        print(
            f"{name}: {replications} x {horizon:g} days in {r['seconds']:.1f} s, {r['cases']:,} cases, "
            f"{r['cases_per_s']:,.0f} simulated cases/s ({workers} workers); processor time "
            f"{r['cpu_s']:.1f} s, {r['cases_per_cpu_s']:,.0f} cases per processor-second"
        )
    print(
        f"validation: EMD/median {runs['current']['validation_emd']:.3f}; model + one scenario "
        f"{one:.1f} s: target under {TARGET_S:.0f} s {'met' if one < TARGET_S else 'MISSED'}; in processor "
        f"time (model + replications / {workers} workers) {one_free:.1f} s: "
        f"{'met' if one_free < TARGET_S else 'MISSED'} on free cores (load average {os.getloadavg()[0]:.1f})"
    )
    out = Path(os.environ.get("VSM_BENCH_OUT", HERE / "results"))
    if out.suffix != ".json":
        out.mkdir(parents=True, exist_ok=True)
        out = out / f"simulate-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
