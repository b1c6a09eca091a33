"""The current-state model of a stream that `vsm simulate` runs: learned from the stored flow
(`cases`, `visits`, `stream_summary`, `step_metrics`) by pure functions.

- **Arrivals**: cases per hour of the week (weekday x hour, the stream's timezone) over the
  hours observed. When the 168 counts are no more spread than Poisson counts of one rate
  would be (dispersion test, p >= 0.05), one flat rate is used: a pattern that is noise would
  add variability the stream does not have.
- **Routing**: the share of each next step after a step, from completed cases, with
  `__start__` and `__end__`: rework loops are transitions back to an earlier step. By the
  case's visit number of the step it leaves (1st, 2nd, ... 5th and later), where each number
  has 30 moves or more: a case that went round a loop twice may go round again more (or less)
  often than one on its first pass (bpic2012's offers).
- **Process times**: each step's observed process times (ended visits), sampled as they are
  (empirical, not a mean). A step with no observed start (complete-only events) is a delay:
  its observed elapsed times, no queue and no capacity.
- **Capacity**: servers = the active WIP (visits in process at the step) the step held for
  at least 1% of its observed time (the time-weighted 99th percentile), at least 1; its
  distinct resources are kept beside it.
- **Delays, not capacity**: a visit's wait is a delay (sampled per step before its queue,
  never changed by capacity) when a server was free at the instant it became ready (fewer
  visits in process than servers): it waited on something else (a customer, a calendar,
  information). Status logs' external waits (customer, vendor) and a visit's pauses between
  its work sessions are always delays.
- **Batching**: a step whose visits the flow engine found released in batches (batch_share
  >= 0.5) releases work in batches of its mean batch size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import polars as pl

from pipeline.errors import SettingsError
from pipeline.store import query_frame, read_sql

START, END = "__start__", "__end__"
HOURS_PER_WEEK = 168
BATCH_SHARE_MIN = 0.5
CAPACITY_PERCENTILE = 0.99
VISITS_CAP = 5  # routing by visit number: 1st, 2nd, ..., 5th and later visits of a step
LEVEL_MOVES_MIN = 30  # moves a visit number needs to have a routing of its own


class NotSimulable(SettingsError):
    """The stream cannot be simulated as it is (a point log, no completed cases)."""

    exit_code = 3


@dataclass
class StepModel:
    name: str
    process_times_s: np.ndarray  # empirical; empty for a delay step
    elapsed_s: np.ndarray  # ended visits' ready -> end (a delay step's time)
    external_waits_s: np.ndarray  # per ended visit, 0 where none
    servers: int  # capacity: time-weighted p99 of active WIP, >= 1
    resources: int
    active_wip_p50: float
    active_wip_p90: float
    batch_size: int  # 1 = flow
    visits: int

    @property
    def is_delay(self) -> bool:
        return self.process_times_s.size == 0


@dataclass
class Model:
    stream: str
    log_shape: str
    arrivals_per_hour: np.ndarray  # 168 rates, slot 0 = Monday 00:00 in the stream's timezone
    arrivals_flat: bool  # the weekday x hour pattern was noise: one rate
    routing: dict[str, dict[str, float]]  # from -> {to: probability}
    routing_by_visit: dict[str, list[dict[str, float]]]  # from -> [after its 1st visit, 2nd, ...]
    steps: dict[str, StepModel]
    observed_lead_times_s: np.ndarray
    observed: dict[str, float | None] = field(default_factory=dict)  # stream figures
    observed_steps: dict[str, dict[str, float | None]] = field(default_factory=dict)

    @property
    def arrivals_per_day(self) -> float:
        return float(self.arrivals_per_hour.sum() / 7.0)


def arrival_rates(slots: pl.DataFrame) -> tuple[np.ndarray, bool]:
    """Rates per hour of the week (168, per hour) from sim_arrivals rows (weekday, hour,
    arrivals, hours_observed), and whether the flat rate was chosen (dispersion test)."""
    from scipy.stats import chi2

    counts = np.zeros(HOURS_PER_WEEK)
    hours = np.zeros(HOURS_PER_WEEK)
    for row in slots.iter_rows(named=True):
        slot = row["weekday"] * 24 + row["hour"]
        counts[slot] = row["arrivals"]
        hours[slot] = row["hours_observed"]
    total_hours = hours.sum()
    if total_hours <= 0 or counts.sum() == 0:
        return np.zeros(HOURS_PER_WEEK), True
    flat = counts.sum() / total_hours
    seen = hours > 0
    expected = flat * hours[seen]
    statistic = float(((counts[seen] - expected) ** 2 / np.maximum(expected, 1e-12)).sum())
    p_value = float(chi2.sf(statistic, max(int(seen.sum()) - 1, 1)))
    if p_value >= 0.05:
        return np.full(HOURS_PER_WEEK, flat), True
    rates = np.where(seen, counts / np.maximum(hours, 1), flat)
    return rates, False


def routing_table(moves: pl.DataFrame) -> dict[str, dict[str, float]]:
    """{from_step: {to_step: probability}} from sim_routing rows (from_step, to_step, moves;
    a from_visit column, if there, summed over)."""
    moves = moves.group_by(["from_step", "to_step"]).agg(pl.col("moves").sum()).sort("from_step", "to_step")
    table: dict[str, dict[str, float]] = {}
    for (src,), group in moves.group_by(["from_step"], maintain_order=True):
        total = float(group["moves"].sum())
        table[src] = {r["to_step"]: r["moves"] / total for r in group.iter_rows(named=True)}
    return table


def routing_by_visit(moves: pl.DataFrame) -> dict[str, list[dict[str, float]]]:
    """{from_step: [{to_step: probability} after its 1st visit, its 2nd, ...]} from sim_routing
    rows (from_step, from_visit, to_step, moves), for the steps cases left on more than one
    visit number with LEVEL_MOVES_MIN moves or more each; the levels stop at the first with
    fewer (its and later visits take the last level kept). The last level of the query is
    VISITS_CAP "and more"."""
    table: dict[str, list[dict[str, float]]] = {}
    for (src,), group in moves.sort("from_step", "from_visit", "to_step").group_by(
        ["from_step"], maintain_order=True
    ):
        levels = []
        for (_,), level in group.group_by(["from_visit"], maintain_order=True):
            total = float(level["moves"].sum())
            if total < LEVEL_MOVES_MIN:
                break
            levels.append({r["to_step"]: r["moves"] / total for r in level.iter_rows(named=True)})
        if len(levels) > 1:
            table[src] = levels
    return table


def active_wip_levels(starts_s: np.ndarray, ends_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The active WIP of a step over its observed time: (levels, seconds at each level), from
    its visits' start and end instants (seconds). Ends before starts at one instant."""
    if starts_s.size == 0:
        return np.zeros(0), np.zeros(0)
    times = np.concatenate([ends_s, starts_s])
    deltas = np.concatenate([-np.ones(ends_s.size), np.ones(starts_s.size)])
    order = np.lexsort((deltas, times))  # at a tie, -1 first
    times, deltas = times[order], deltas[order]
    levels = np.cumsum(deltas)[:-1]
    durations = np.diff(times)
    return levels, durations


def weighted_percentile(levels: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest level held, with the levels below it, for at least share `q` of the time."""
    if levels.size == 0 or weights.sum() <= 0:
        return 0.0
    order = np.argsort(levels, kind="stable")
    cum = np.cumsum(weights[order]) / weights.sum()
    return float(levels[order][min(np.searchsorted(cum, q - 1e-12), levels.size - 1)])


def step_model(
    name: str, visits: pl.DataFrame, batch_share: float | None, batch_size_mean: float | None
) -> StepModel:
    """One step's model from its ended visits (sim_visits rows of that step)."""
    timed = visits.filter(pl.col("process_time_s").is_not_null())
    process = timed["process_time_s"].to_numpy().astype(float)
    starts = _seconds(timed["start_ts"])
    ends = _seconds(timed["end_ts"])
    levels, durations = active_wip_levels(starts, ends)
    p99 = weighted_percentile(levels, durations, CAPACITY_PERCENTILE)
    batch = 1
    if batch_share is not None and batch_share >= BATCH_SHARE_MIN and batch_size_mean:
        batch = max(1, round(batch_size_mean))
    return StepModel(
        name=name,
        process_times_s=process,
        elapsed_s=_or_zero(visits["elapsed_s"].drop_nulls().to_numpy().astype(float)),
        external_waits_s=delay_waits(visits, starts, ends, max(1, int(round(p99)))),
        servers=max(1, int(round(p99))),
        resources=int(visits["resource"].drop_nulls().n_unique()),
        active_wip_p50=weighted_percentile(levels, durations, 0.5),
        active_wip_p90=weighted_percentile(levels, durations, 0.9),
        batch_size=batch,
        visits=visits.height,
    )


def delay_waits(visits: pl.DataFrame, starts_s: np.ndarray, ends_s: np.ndarray, servers: int) -> np.ndarray:
    """Each visit's wait that is not for a server: its whole queue time when, at the instant it
    became ready, fewer than `servers` visits were in process at the step (a server was free:
    it waited on something else: a customer, a calendar, information); otherwise its
    external wait (status logs: waiting on customer / vendor), which a server queue does not
    explain either. Plus its pauses between work sessions (interval logs: picked up again
    later), which no server queue explains."""
    external = visits["external_wait_s"].to_numpy().astype(float)
    queue = visits["queue_time_s"].fill_null(0).to_numpy().astype(float)
    ready = _seconds(visits["ready_ts"].fill_null(visits["start_ts"]).fill_null(visits["end_ts"]))
    if starts_s.size == 0:  # no observed process times: a delay step, its elapsed is its time
        return np.zeros(visits.height)
    in_process = np.searchsorted(np.sort(starts_s), ready, "right") - np.searchsorted(
        np.sort(ends_s), ready, "right"
    )
    paused = visits["paused_s"].to_numpy().astype(float)
    return np.where(in_process < servers, np.maximum(queue, external), external) + paused


def _or_zero(values: np.ndarray) -> np.ndarray:
    # A case's first visit of a point step has no ready instant before it: it takes no time.
    return values if values.size else np.zeros(1)


def _seconds(column: pl.Series) -> np.ndarray:
    return column.dt.epoch("us").to_numpy().astype(float) / 1e6


def load_model(con: duckdb.DuckDBPyConnection, stream: str, timezone: str) -> Model:
    """The current-state model of `stream` from its computed flow (vsm compute first)."""
    summary = query_frame(
        con,
        "SELECT log_shape, lead_time_p50_s, lead_time_p85_s, throughput_per_day, wip_avg "
        "FROM stream_summary WHERE stream = $stream",
        {"stream": stream},
    )
    if summary.is_empty():
        raise NotSimulable(f"stream {stream!r} has no computed flow: run `vsm compute {stream}` first")
    observed = summary.row(0, named=True)
    shape = observed.pop("log_shape")
    lead_times = query_frame(con, read_sql("simulate/sim_lead_times.sql"), {"stream": stream})
    if lead_times.is_empty():
        raise NotSimulable(f"stream {stream!r} has no completed case: nothing to learn a model from")
    rates, flat = arrival_rates(
        query_frame(con, read_sql("simulate/sim_arrivals.sql"), {"stream": stream, "tz": timezone})
    )
    moves = query_frame(
        con, read_sql("simulate/sim_routing.sql"), {"stream": stream, "visits_cap": VISITS_CAP}
    )
    metrics = query_frame(
        con,
        "SELECT step, queue_time_mean_s, process_time_mean_s, batch_share, batch_size_mean "
        "FROM step_metrics WHERE stream = $stream",
        {"stream": stream},
    )
    by_step = {r["step"]: r for r in metrics.iter_rows(named=True)}
    visits = query_frame(con, read_sql("simulate/sim_visits.sql"), {"stream": stream})
    steps = {}
    for (name,), group in visits.group_by(["step"], maintain_order=True):
        m = by_step.get(name, {})
        steps[name] = step_model(name, group, m.get("batch_share"), m.get("batch_size_mean"))
    return Model(
        stream=stream,
        log_shape=shape,
        arrivals_per_hour=rates,
        arrivals_flat=flat,
        routing=routing_table(moves),
        routing_by_visit=routing_by_visit(moves),
        steps=steps,
        observed_lead_times_s=lead_times["lead_time_s"].to_numpy().astype(float),
        observed=observed,
        observed_steps={
            s: {"queue_time_mean_s": r["queue_time_mean_s"], "process_time_mean_s": r["process_time_mean_s"]}
            for s, r in by_step.items()
        },
    )
