"""`vsm simulate STREAM SCENARIO`: the current-state model run first and checked against the
observed lead times (the validation), then the scenario; the figures over the replications
written to `simulations` and the future-state map to reports/<stream>/simulate-<scenario>.html.

Validation: the earth mover's distance (Wasserstein-1) between the simulated lead times of the
`current` scenario (all replications pooled) and the observed lead times of completed cases,
divided by the observed median. Up to VALIDATION_MAX_EMD (0.25: the simulated distribution is,
on average, within a quarter of a median of the observed one) the model reproduces the stream
and a scenario's figures are predictions; beyond it they are written with `predicted = false`,
the page and the CLI say they are not predictions, and name the step the model gets most wrong
(the largest gap between simulated and observed time per case at a step: ready to end of its
visits, all the visits a case makes there).

The current state is not simulated again for each scenario: a run that simulated it writes its
rows (scenario `current`) and its validation with the digest of what was simulated
(`simulation_validations`, one row per stream). A later scenario run whose digest is the same (the
same model learned from the store, horizon, replications, seed and simulator code) and whose
`current` rows are still those takes the validation and the baseline from them. A new compute
that changes the model changes the digest: the current state runs again.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from pipeline.errors import SettingsError
from pipeline.scenarios import CURRENT, Scenario, load_scenario, plan
from pipeline.simulate_model import Model, load_model
from pipeline.simulation import Replication, run_replications
from pipeline.store import query_frame, read_sql, replace_rows

VALIDATION_MAX_EMD = 0.25
MIN_REPLICATIONS = 30
STREAM_FIGURES = ("lead_time_p50_s", "lead_time_p85_s", "lead_time_mean_s", "throughput_per_day", "wip_avg")
STEP_FIGURE = "queue_time_mean_s"


@dataclass(frozen=True)
class Validation:
    emd_relative: float  # earth mover's distance / observed median lead time
    observed_p50_s: float
    observed_p85_s: float
    simulated_p50_s: float | None
    simulated_p85_s: float | None
    passed: bool
    wrong_step: str  # '' when passed
    wrong_why: str


@dataclass(frozen=True)
class StoredCurrent:
    """The current state as an earlier run simulated it: its validation and its rows' p50s."""

    computed_at: datetime
    validation: Validation
    baseline: dict[tuple[str, str], float | None]  # (figure, step) -> p50


@dataclass
class SimulationResult:
    stream: str
    scenario: Scenario
    model: Model
    validation: Validation
    rows: pl.DataFrame
    page: Path | None = None
    digest: str = ""  # of the current state simulated (current_digest)
    current_rows: pl.DataFrame | None = None  # the current state's rows, when this run simulated it
    current_from: datetime | None = None  # when the reused current state was simulated


def current_digest(model: Model, horizon_days: float, replications: int, seed: int) -> str:
    """What the current state's figures follow from: the model (every value the simulation and
    the validation read, in their order), horizon, replications, seed, and the code of the
    simulator, the scenarios and the validation (a change there is a new digest too)."""
    from pipeline import scenarios, simulation

    h = hashlib.sha256()

    def put(value: object) -> None:
        h.update(value.tobytes() if isinstance(value, np.ndarray) else repr(value).encode())
        h.update(b"\x00")

    for value in (
        model.stream,
        model.log_shape,
        model.arrivals_per_hour,
        model.routing,
        model.routing_by_visit,
    ):
        put(value)
    for step in model.steps.values():
        for f in fields(step):
            put(getattr(step, f.name))
    for value in (model.observed_lead_times_s, model.observed, model.observed_steps):
        put(value)
    put((float(horizon_days), replications, seed))
    for module in (simulation, scenarios, sys.modules[__name__]):
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()[:16]


def stored_current(con: duckdb.DuckDBPyConnection, stream: str, digest: str) -> StoredCurrent | None:
    """The current state of `stream` simulated before with this `digest`, if
    `simulation_validations` records it and `simulations` still holds the rows of that run;
    else None."""
    entry = query_frame(con, read_sql("simulate/sim_validation.sql"), {"stream": stream})
    if entry.is_empty() or entry["model_digest"][0] != digest:
        return None
    row = entry.row(0, named=True)
    rows = query_frame(con, read_sql("simulate/sim_current_rows.sql"), {"stream": stream})
    when = row["computed_at"]
    if rows.is_empty() or any(t != when for t in rows["computed_at"]):
        return None  # replaced since (or gone)
    return StoredCurrent(
        when,
        Validation(**{f.name: row[f.name] for f in fields(Validation)}),
        {(r["figure"], r["step"]): r["p50"] for r in rows.iter_rows(named=True)},
    )


def _validation_row(result: SimulationResult, computed_at: datetime) -> pl.DataFrame:
    v = result.validation
    r = result.current_rows
    return pl.DataFrame(
        [
            {
                "stream": result.stream,
                "model_digest": result.digest,
                **asdict(v),
                "replications": int(r["replications"][0]),
                "horizon_days": float(r["horizon_days"][0]),
                "seed": int(r["seed"][0]),
                "computed_at": computed_at,
            }
        ]
    )


def validate(model: Model, current: list[Replication], threshold: float = VALIDATION_MAX_EMD) -> Validation:
    """How closely the simulated current state reproduces the observed lead times."""
    from scipy.stats import wasserstein_distance

    observed = model.observed_lead_times_s
    simulated = np.concatenate([r.lead_times_s for r in current]) if current else np.zeros(0)
    median = float(np.quantile(observed, 0.5))
    p85 = float(np.quantile(observed, 0.85))
    if simulated.size == 0:
        emd = float("inf")
    else:
        emd = float(wasserstein_distance(observed, simulated)) / median if median > 0 else float("inf")
    passed = emd <= threshold
    step, why = ("", "") if passed else wrong_step(model, current)
    return Validation(
        emd_relative=emd,
        observed_p50_s=median,
        observed_p85_s=p85,
        simulated_p50_s=float(np.quantile(simulated, 0.5)) if simulated.size else None,
        simulated_p85_s=float(np.quantile(simulated, 0.85)) if simulated.size else None,
        passed=passed,
        wrong_step=step,
        wrong_why=why,
    )


def wrong_step(model: Model, current: list[Replication]) -> tuple[str, str]:
    """The step whose simulated time per case (ready to end of its visits, over all its visits
    a case makes: queue, delays, work and routing together) is furthest from the observed; and
    a sentence saying so."""
    completed = max(len(model.observed_lead_times_s), 1)
    worst, gap, said = "", 0.0, ""
    for step, m in model.steps.items():
        simulated = [r.step_time_per_case_s[step] for r in current if step in r.step_time_per_case_s]
        if not simulated or m.elapsed_s.size == 0:
            continue
        observed = float(m.elapsed_s.sum()) / completed
        sim = float(np.median(simulated))
        if abs(sim - observed) > abs(gap):
            worst, gap = step, sim - observed
            said = (
                f"{step}: {_hours(sim)} per case simulated against {_hours(observed)} observed "
                f"({'too long' if gap > 0 else 'too short'}: queue, delays, work and visits per case)"
            )
    return worst, said or "no step's time explains the gap (arrivals)"


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def figure_rows(model: Model, reps: list[Replication]) -> list[dict]:
    """One row per figure (stream figures, then each step's queue time): observed and the
    10th, 50th and 90th percentiles over the replications."""
    rows = []
    for name in STREAM_FIGURES:
        values = [v for v in (r.figure(name) for r in reps) if v is not None]
        observed = model.observed.get(name)
        if name == "lead_time_mean_s":
            observed = float(model.observed_lead_times_s.mean())
        rows.append(_row(name, "", observed, values))
    for step in model.steps:
        values = [r.queue_time_mean_s[step] for r in reps if step in r.queue_time_mean_s]
        rows.append(_row(STEP_FIGURE, step, model.observed_steps.get(step, {}).get(STEP_FIGURE), values))
    return rows


def _row(figure: str, step: str, observed: float | None, values: list[float]) -> dict:
    p10, p50, p90 = (float(x) for x in np.quantile(values, [0.1, 0.5, 0.9])) if values else (None,) * 3
    return {"figure": figure, "step": step, "observed": observed, "p10": p10, "p50": p50, "p90": p90}


def check_run_options(horizon_days: float, replications: int, workers: int = 1) -> None:
    if workers < 1:
        raise SettingsError(f"--workers {workers}: expected 1 or more processes")
    if not horizon_days > 0:
        raise SettingsError(f"--horizon {horizon_days:g}: expected a number of days above 0")
    if replications < MIN_REPLICATIONS:
        raise SettingsError(
            f"--replications {replications}: expected {MIN_REPLICATIONS} or more (fewer give ranges "
            "that are noise)"
        )


def simulate_stream(
    con: duckdb.DuckDBPyConnection,
    stream: str,
    timezone: str,
    scenario_name: str,
    scenarios_dir: Path,
    horizon_days: float = 90,
    replications: int = MIN_REPLICATIONS,
    seed: int = 1,
    workers: int = 1,
    reuse: bool = True,
) -> SimulationResult:
    """Run the current state and (unless it is `current`) the scenario; nothing is written.
    With `reuse`, a scenario takes the current state from an earlier run of the same digest
    instead of simulating it again (stored_current)."""
    check_run_options(horizon_days, replications, workers)
    model = load_model(con, stream, timezone)
    scenario = load_scenario(scenarios_dir, stream, scenario_name)
    wanted = plan(model, scenario)  # a bad scenario is refused before anything runs
    digest = current_digest(model, horizon_days, replications, seed)
    stored = None
    if reuse and scenario.name != CURRENT:
        stored = stored_current(con, stream, digest)
    run = (stream, replications, horizon_days, seed)
    if stored is not None:
        validation, baseline, current_rows = stored.validation, stored.baseline, None
    else:
        current_plan = wanted if scenario.name == CURRENT else plan(model, Scenario(CURRENT))
        current = run_replications(current_plan, horizon_days, replications, seed, workers)
        validation = validate(model, current)
        figures = figure_rows(model, current)
        # the scenario's effect is measured against the model's own current state (same
        # seeds), not against the observed figure: a model that runs 20% fast would otherwise
        # credit the scenario with those 20%
        baseline = {(r["figure"], r["step"]): r["p50"] for r in figures}
        current_rows = _frame(figures, baseline, CURRENT, validation, *run)
    if scenario.name == CURRENT:
        frame = current_rows
    else:
        reps = run_replications(wanted, horizon_days, replications, seed, workers)
        frame = _frame(figure_rows(model, reps), baseline, scenario.name, validation, *run)
    return SimulationResult(
        stream,
        scenario,
        model,
        validation,
        frame,
        digest=digest,
        current_rows=current_rows,
        current_from=stored.computed_at if stored is not None else None,
    )


def _frame(
    rows: list[dict],
    baseline: dict,
    scenario: str,
    validation: Validation,
    stream: str,
    replications: int,
    horizon_days: float,
    seed: int,
) -> pl.DataFrame:
    for r in rows:
        base = baseline.get((r["figure"], r["step"]))
        r["current_p50"] = base
        r["change"] = r["p50"] / base - 1 if base and r["p50"] is not None else None
    return pl.DataFrame(
        rows,
        schema={
            "figure": pl.String,
            "step": pl.String,
            "observed": pl.Float64,
            "p10": pl.Float64,
            "p50": pl.Float64,
            "p90": pl.Float64,
            "current_p50": pl.Float64,
            "change": pl.Float64,
        },
    ).with_columns(
        pl.lit(stream).alias("stream"),
        pl.lit(scenario).alias("scenario"),
        pl.lit(validation.passed).alias("predicted"),
        pl.lit(validation.emd_relative).alias("validation_emd"),
        pl.lit(replications).alias("replications"),
        pl.lit(float(horizon_days)).alias("horizon_days"),
        pl.lit(seed).alias("seed"),
    )


def write_simulation(con: duckdb.DuckDBPyConnection, result: SimulationResult, computed_at: datetime) -> None:
    """Replace the scenario's rows in `simulations`, each in one transaction, and the current
    state's when this run simulated it, with its validation in `simulation_validations` (what
    the next scenario of the same model reuses)."""
    writes = [(result.scenario.name, result.rows)]
    if result.current_rows is not None and result.scenario.name != CURRENT:
        writes.append((CURRENT, result.current_rows))
    for name, rows in writes:
        frame = rows.with_columns(pl.lit(computed_at).alias("computed_at"))
        params = {"stream": result.stream, "scenario": name}
        replace_rows(con, "simulations", read_sql("simulate/delete_simulation.sql"), params, frame)
    if result.current_rows is not None:
        params = {"stream": result.stream}
        frame = _validation_row(result, computed_at)
        replace_rows(con, "simulation_validations", read_sql("simulate/delete_validation.sql"), params, frame)


def write_page(result: SimulationResult, html: str, out_dir: Path) -> None:
    """reports/<stream>/simulate-<scenario>.html, replaced whole (result.page names it)."""
    folder = Path(out_dir) / result.stream
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / f"simulate-{result.scenario.name}.html"
    partial = page.with_name(page.name + ".partial")
    partial.write_text(html, encoding="utf-8")
    os.replace(partial, page)
    result.page = page
