"""`vsm compare`: a stream before and after a change, two streams, or two snapshots, figure by
figure, with whether each change is beyond noise.

A side of a comparison is a stream over a window (`pipeline.windows`). Its figures are read
from the stored per-case tables, which hold every case, by cohort (docs/metrics.md,
"Comparing windows"):

- lead time p50 / p85, first-pass yield, rework share, handoffs per case: the cases that
  **completed** (exit_ts) inside the window; throughput per day: their count over the days
  measured;
- average WIP: the time average over the window of the cases in flight (arrived before its
  end, not exited before its start; stale cases left out, as the flow leaves them);
- per step (visits per day, queue and process time p50, first-pass yield): the visits that
  **ended** inside the window.

A window is measured within what the stream's events observe, from its first arrival to its
last event (as_of): the days of a window reaching past them (a month not over yet) are
counted only up to there, so its throughput and WIP are not diluted by days nobody could
see. `pipeline.compare_stats` says whether each change is beyond noise; the rows go to the
`comparisons` table (`write_rows`), the page to `reports/<stream>/compare-<before>-<after>.html`
(`pipeline.compare_page`, its maps by `pipeline.compare_maps`); two snapshots are compared by
`pipeline.compare_snapshots`, and `pipeline.compare_run` is what the command calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import numpy as np
import polars as pl

from pipeline import compare_stats as cs
from pipeline.errors import SettingsError
from pipeline.store import query_frame, read_sql, replace_rows
from pipeline.variant_steps import DEFAULT_COVERAGE, DEFAULT_MAX_STEPS
from pipeline.windows import Window, parse_window

# Stream figures, in the order the page shows them; names as in stream_summary.
STREAM_FIGURES = (
    "lead_time_p50_s",
    "lead_time_p85_s",
    "throughput_per_day",
    "wip_avg",
    "first_pass_yield",
    "rework_share",
    "handoffs_per_case",
)
# Per-step figures; names as in step_metrics (visits as a daily rate: windows differ in length).
STEP_FIGURES = ("visits_per_day", "queue_time_p50_s", "process_time_p50_s", "first_pass_yield")
APPEARED = "appeared: no visits in the before window"
DISAPPEARED = "disappeared: no visits in the after window"


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a stream over a window, measured within its observed span."""

    stream: str
    window: Window
    label: str  # the window's label: what the comparisons table and the file name carry
    span_start: datetime  # the window within [first arrival, as_of]
    span_end: datetime
    as_of: datetime
    log_shape: str

    @property
    def days(self) -> float:
        return (self.span_end - self.span_start).total_seconds() / 86400

    @property
    def clipped(self) -> bool:
        """The window reaches past the stream's first arrival or last event."""
        return self.window.is_all or self.span_start != self.window.start or self.span_end != self.window.end


@dataclass(frozen=True)
class Cohort:
    """What one side's figures are computed from (frames read by the sql/compare/ queries)."""

    side: Side
    cases: pl.DataFrame  # cmp_completed_cases
    visits: pl.DataFrame  # cmp_ended_visits
    in_span_s: np.ndarray  # cmp_cases_in_flight: each case's seconds in WIP inside the span
    open_at_end: int  # cmp_cases_in_flight: cases still in WIP when the span ends
    queue_wip: pl.DataFrame  # cmp_step_queue_wip


@dataclass
class Comparison:
    """One comparison made: its two sides, its rows (the comparisons table's, without the
    identifying columns) and the steps that appeared or disappeared."""

    kind: str  # windows, streams or snapshots
    before: Side | None
    after: Side | None
    before_label: str
    after_label: str
    rows: pl.DataFrame
    cohorts: tuple[Cohort, Cohort] | None = None  # None for snapshots
    before_run_id: int | None = None
    after_run_id: int | None = None
    appeared: list[str] = field(default_factory=list)
    disappeared: list[str] = field(default_factory=list)
    stream: str = ""
    other_stream: str = ""
    page_labels: tuple[str, str] = ("", "")  # the sides as the page and its file name say them
    coverage: float = DEFAULT_COVERAGE  # the maps' fold of rare steps ([discovery] of the stream)
    max_steps: int = DEFAULT_MAX_STEPS

    @property
    def page_name(self) -> str:
        return page_name(*self.page_labels)


# ---------------------------------------------------------------- the sides


def resolve_side(con: duckdb.DuckDBPyConnection, stream: str, text: str, timezone: str, key: str) -> Side:
    """`text` (a window, see pipeline/windows.py) for `stream`, in `timezone`; `last 14d` ends
    at the stream's last event. Refused when the flow was never computed or the window holds
    none of the observed span."""
    span = query_frame(con, read_sql("compare/cmp_observed_span.sql"), {"stream": stream}).row(0, named=True)
    if span["as_of"] is None or span["first_arrival_ts"] is None:
        raise SettingsError(
            f"stream {stream!r} has no computed flow in the store: run `vsm compute {stream}`"
        )
    as_of, first = span["as_of"], span["first_arrival_ts"]
    window = parse_window(text, timezone, as_of, key)
    start = first if window.is_all else max(window.start, first)
    end = as_of if window.is_all else min(window.end, as_of)
    if end <= start:
        raise SettingsError(
            f"{key} {window.label}: outside what stream {stream!r} observes "
            f"({first:%Y-%m-%d %H:%M} to {as_of:%Y-%m-%d %H:%M} UTC, its first arrival to its last event)"
        )
    return Side(stream, window, window.label, start, end, as_of, span["log_shape"] or "")


def read_cohort(con: duckdb.DuckDBPyConnection, side: Side) -> Cohort:
    window = {"stream": side.stream, "start": side.window.start, "end": side.window.end}
    span = {
        "stream": side.stream,
        "span_start": side.span_start,
        "span_end": side.span_end,
        "as_of": side.as_of,
    }
    in_flight = query_frame(con, read_sql("compare/cmp_cases_in_flight.sql"), span)
    return Cohort(
        side=side,
        cases=query_frame(con, read_sql("compare/cmp_completed_cases.sql"), window),
        visits=query_frame(con, read_sql("compare/cmp_ended_visits.sql"), window),
        in_span_s=in_flight["in_span_s"].to_numpy().astype(float),
        open_at_end=int(in_flight["open_at_end"].sum()),
        queue_wip=query_frame(con, read_sql("compare/cmp_step_queue_wip.sql"), span),
    )


# ---------------------------------------------------------------- figures of one side


def stream_figures(cohort: Cohort) -> dict[str, float | None]:
    """The stream figures of one side, by the cohorts above (what `compare_cohorts` tests)."""
    cases = cohort.cases
    lead = _values(cases, "lead_time_s")
    n = cases.height
    visits = float(cases["visits"].sum()) if n else 0.0
    return {
        "lead_time_p50_s": cs.quantile(lead, 0.5),
        "lead_time_p85_s": cs.quantile(lead, 0.85),
        "throughput_per_day": n / cohort.side.days,
        "wip_avg": float(cohort.in_span_s.sum()) / (cohort.side.days * 86400),
        "first_pass_yield": float(cases["is_first_pass"].sum()) / n if n else None,
        "rework_share": float(cases["rework_visits"].sum()) / visits if visits else None,
        "handoffs_per_case": float(cases["handoffs"].mean()) if n else None,
    }


def step_figures(cohort: Cohort) -> pl.DataFrame:
    """Per step of one side, over the visits that ended in the window: visits, visits_per_day,
    queue_visits (its queue population), queue_time_p50_s / queue_time_mean_s (None when no
    visit of it had anything before it), process_time_p50_s / process_time_mean_s, cases,
    first_pass_cases, first_pass_yield (cases with one visit of the step in the window, a
    first visit, over the cases with one), resources, teams (most visits first), queue_wip_avg."""
    visits = cohort.visits
    if visits.is_empty():
        return pl.DataFrame(schema=_STEP_SCHEMA)
    queue = pl.col("queue_time_s").fill_null(0).filter(pl.col("queue_population"))
    observed = pl.col("queue_time_s").is_not_null().any()
    per_case = visits.group_by("step", "case_id").agg(
        ((pl.len() == 1) & (pl.col("visit_no").min() == 1)).alias("first_pass")
    )
    teams = (
        visits.filter(pl.col("team").is_not_null())
        .group_by("step", "team")
        .len()
        .sort(["step", "len", "team"], descending=[False, True, False])
        .group_by("step", maintain_order=True)
        .agg(pl.col("team").str.join(", ").alias("teams"))
    )
    return (
        visits.group_by("step")
        .agg(
            pl.len().alias("visits"),
            pl.col("queue_population").sum().alias("queue_visits"),
            pl.when(observed).then(queue.median()).alias("queue_time_p50_s"),
            pl.when(observed).then(queue.mean()).alias("queue_time_mean_s"),
            pl.col("process_time_s").median().alias("process_time_p50_s"),
            pl.col("process_time_s").mean().alias("process_time_mean_s"),
            pl.col("resource").drop_nulls().n_unique().alias("resources"),
        )
        .join(
            per_case.group_by("step").agg(
                pl.len().alias("cases"), pl.col("first_pass").sum().alias("first_pass_cases")
            ),
            on="step",
        )
        .join(teams, on="step", how="left")
        .join(cohort.queue_wip, on="step", how="left")
        .with_columns(
            (pl.col("visits") / cohort.side.days).alias("visits_per_day"),
            (pl.col("first_pass_cases") / pl.col("cases")).alias("first_pass_yield"),
            pl.col("queue_wip_avg").fill_null(0.0),
        )
        .select(*_STEP_SCHEMA)
        .sort("step")
    )


_STEP_SCHEMA = {
    "step": pl.String,
    "visits": pl.UInt32,
    "visits_per_day": pl.Float64,
    "queue_visits": pl.UInt32,
    "queue_time_p50_s": pl.Float64,
    "queue_time_mean_s": pl.Float64,
    "process_time_p50_s": pl.Float64,
    "process_time_mean_s": pl.Float64,
    "cases": pl.UInt32,
    "first_pass_cases": pl.UInt32,
    "first_pass_yield": pl.Float64,
    "resources": pl.UInt32,
    "teams": pl.String,
    "queue_wip_avg": pl.Float64,
}


# ---------------------------------------------------------------- the comparison


def compare_cohorts(before: Cohort, after: Cohort, step_order: list[str] | None = None) -> pl.DataFrame:
    """One row per figure (stream figures first, then each step's, in `step_order` and then by
    name): figure, step ('' for the stream), before, after, change, change_low, change_high,
    significant, test, p_value, before_n, after_n, note."""
    bc, ac = before.cases, after.cases
    changes: list[tuple[str, str, cs.Change]] = [
        (
            "lead_time_p50_s",
            "",
            cs.percentile_change(_values(bc, "lead_time_s"), _values(ac, "lead_time_s"), 0.5),
        ),
        (
            "lead_time_p85_s",
            "",
            cs.percentile_change(_values(bc, "lead_time_s"), _values(ac, "lead_time_s"), 0.85),
        ),
        ("throughput_per_day", "", cs.rate_change(bc.height, before.side.days, ac.height, after.side.days)),
        (
            "wip_avg",
            "",
            cs.time_average_change(
                before.in_span_s, before.side.days * 86400, after.in_span_s, after.side.days * 86400
            ),
        ),
        (
            "first_pass_yield",
            "",
            cs.proportion_change(
                int(bc["is_first_pass"].sum()), bc.height, int(ac["is_first_pass"].sum()), ac.height
            ),
        ),
        (
            "rework_share",
            "",
            cs.ratio_change(
                _values(bc, "rework_visits"),
                _values(bc, "visits"),
                _values(ac, "rework_visits"),
                _values(ac, "visits"),
            ),
        ),
        ("handoffs_per_case", "", cs.mean_change(_values(bc, "handoffs"), _values(ac, "handoffs"))),
    ]
    steps_b, steps_a = step_figures(before), step_figures(after)
    known = set(steps_b["step"]) | set(steps_a["step"])
    order = [s for s in (step_order or []) if s in known]
    order += sorted(known - set(order))
    parts_b, parts_a = _by_step(before.visits), _by_step(after.visits)
    empty = before.visits.clear()
    for step in order:
        vb, va = parts_b.get(step, empty), parts_a.get(step, empty)
        changes += [(figure, step, change) for figure, change in _step_changes(before, after, vb, va)]
    return figure_rows(changes, set(steps_b["step"]), set(steps_a["step"]))


def _by_step(visits: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {key[0]: part for key, part in visits.partition_by("step", as_dict=True).items()}


def _step_changes(
    before: Cohort, after: Cohort, vb: pl.DataFrame, va: pl.DataFrame
) -> list[tuple[str, cs.Change]]:
    """The step's figures over its visits that ended in each window (`vb`, `va`)."""

    def queue(v: pl.DataFrame) -> np.ndarray:
        if v["queue_time_s"].is_null().all():
            return np.array([])  # not observed: nothing waited before this step
        return v.filter(pl.col("queue_population"))["queue_time_s"].fill_null(0).to_numpy().astype(float)

    def first_pass(v: pl.DataFrame) -> tuple[int, int]:
        per_case = v.group_by("case_id").agg(((pl.len() == 1) & (pl.col("visit_no").min() == 1)).alias("fp"))
        return int(per_case["fp"].sum()), per_case.height

    fb, nb = first_pass(vb)
    fa, na = first_pass(va)
    return [
        ("visits_per_day", cs.rate_change(vb.height, before.side.days, va.height, after.side.days)),
        ("queue_time_p50_s", cs.percentile_change(queue(vb), queue(va), 0.5)),
        (
            "process_time_p50_s",
            cs.percentile_change(_values(vb, "process_time_s"), _values(va, "process_time_s"), 0.5),
        ),
        ("first_pass_yield", cs.proportion_change(fb, nb, fa, na)),
    ]


def figure_rows(
    changes: list[tuple[str, str, cs.Change]], before_steps: set[str], after_steps: set[str]
) -> pl.DataFrame:
    """The comparisons rows (ROW_SCHEMA) of (figure, step, change) triples; a step only one side
    has gets the note APPEARED (and no significance: no relative change from nothing) or
    DISAPPEARED."""
    rows = []
    for figure, step, c in changes:
        note, significant = c.note, c.significant
        if step and step not in before_steps:
            note, significant = APPEARED, None  # no relative change from nothing
        elif step and step not in after_steps:
            note = DISAPPEARED
        rows.append(
            {
                "figure": figure,
                "step": step,
                "before": c.before,
                "after": c.after,
                "change": c.change,
                "change_low": c.change_low,
                "change_high": c.change_high,
                "significant": significant,
                "test": c.test,
                "p_value": c.p_value,
                "before_n": c.before_n,
                "after_n": c.after_n,
                "note": note,
            }
        )
    return pl.DataFrame(rows, schema=ROW_SCHEMA, orient="row") if rows else pl.DataFrame(schema=ROW_SCHEMA)


ROW_SCHEMA = {
    "figure": pl.String,
    "step": pl.String,
    "before": pl.Float64,
    "after": pl.Float64,
    "change": pl.Float64,
    "change_low": pl.Float64,
    "change_high": pl.Float64,
    "significant": pl.Boolean,
    "test": pl.String,
    "p_value": pl.Float64,
    "before_n": pl.Int64,
    "after_n": pl.Int64,
    "note": pl.String,
}


def _values(frame: pl.DataFrame, column: str) -> np.ndarray:
    if frame.is_empty():
        return np.array([])
    return frame[column].drop_nulls().cast(pl.Float64).to_numpy()


# ---------------------------------------------------------------- storing it


def write_rows(con: duckdb.DuckDBPyConnection, comparison: Comparison, compared_at: datetime) -> None:
    """Replace the comparison's rows in `comparisons`, in one transaction."""
    key = {
        "stream": comparison.stream,
        "kind": comparison.kind,
        "other_stream": comparison.other_stream,
        "before_window": comparison.before_label,
        "after_window": comparison.after_label,
        "before_run_id": comparison.before_run_id,
        "after_run_id": comparison.after_run_id,
    }
    days = {
        "before_days": comparison.before.days if comparison.before else None,
        "after_days": comparison.after.days if comparison.after else None,
    }
    frame = comparison.rows.with_columns(
        *(pl.lit(v).alias(k) for k, v in {**key, **days}.items()),
        pl.lit(compared_at).alias("compared_at"),
    )
    replace_rows(con, "comparisons", read_sql("compare/delete_comparison.sql"), key, frame)


def page_name(before_label: str, after_label: str) -> str:
    """compare-<before>-<after>.html, each label made safe for a file name (runs of anything
    but letters, digits, '.', '_' and '-' become one '_'; '..' between dates becomes '_to_')."""

    def safe(label: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", label.replace("..", "_to_")).strip("_.") or "all"

    return f"compare-{safe(before_label)}-{safe(after_label)}.html"


# ---------------------------------------------------------------- the three forms


def compare_windows(
    con: duckdb.DuckDBPyConnection, stream: str, timezone: str, before: str, after: str, **fold
) -> Comparison:
    """`stream` over the window `before` against the window `after`; `fold`: the maps'
    coverage and max_steps."""
    sides = (
        resolve_side(con, stream, before, timezone, "--before"),
        resolve_side(con, stream, after, timezone, "--after"),
    )
    return _compare_sides("windows", sides, con, stream, "", **fold)


def compare_streams(
    con: duckdb.DuckDBPyConnection, stream: str, other: str, timezone: str, window: str, **fold
) -> Comparison:
    """`stream` (before) against `other` (after), both over `window`, resolved in `stream`'s
    timezone (one span of time for both; `last 14d` ends at each stream's own last event)."""
    if other == stream:
        raise SettingsError(f"--other {other}: the stream compared with itself; give another stream")
    sides = (
        resolve_side(con, stream, window, timezone, "--window"),
        resolve_side(con, other, window, timezone, "--window"),
    )
    return _compare_sides("streams", sides, con, stream, other, **fold)


def _compare_sides(
    kind: str,
    sides: tuple[Side, Side],
    con,
    stream: str,
    other: str,
    coverage: float = DEFAULT_COVERAGE,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> Comparison:
    from pipeline.compare_maps import layout_order

    cohorts = (read_cohort(con, sides[0]), read_cohort(con, sides[1]))
    rows = compare_cohorts(*cohorts, step_order=layout_order(*cohorts, coverage, max_steps))
    steps_b, steps_a = set(cohorts[0].visits["step"]), set(cohorts[1].visits["step"])
    labels = (sides[0].label, sides[1].label)
    if kind == "streams":
        labels = (f"{sides[0].stream} {sides[0].label}", f"{sides[1].stream} {sides[1].label}")
    return Comparison(
        kind=kind,
        before=sides[0],
        after=sides[1],
        before_label=sides[0].label,
        after_label=sides[1].label,
        rows=rows,
        cohorts=cohorts,
        appeared=sorted(steps_a - steps_b),
        disappeared=sorted(steps_b - steps_a),
        stream=stream,
        other_stream=other,
        page_labels=labels,
        coverage=coverage,
        max_steps=max_steps,
    )
