"""The value stream map: a stream's result tables drawn as one SVG, in the notation lean
practitioners know (process boxes with their data, inventory triangles, push arrows, rework
loops, the timeline ladder and a summary box).

`render_map_svg` reads what the map needs through the queries in `sql/report/map_*.sql`
into `MapData` (plain values, no frames); `map_svg` lays it out and draws it, a pure function
(`pipeline.vsm_map_layout`), so the same data always gives the same bytes. The formatters
here are the map's only way to turn figures into text; tests use them to check the map says
what the tables say.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import datetime

import duckdb

from pipeline.store import query_frame, read_sql

MAX_REWORK_LOOPS = 5  # the loops with the most cases; more would hide the flow
# Marks of a step on the maps of a comparison (pipeline/compare_maps.py): only in the after
# window (NEW), only in the before window (LEAVES: gone after), or not in this window (GONE).
NEW, LEAVES, GONE = "new", "leaves", "gone"
# Marks of a step on a future-state map (pipeline/simulate_page.py): a scenario changes it, or
# removes it.
CHANGED, REMOVED = "changed", "removed"


@dataclass(frozen=True)
class MapStep:
    """A box: a step of map_steps with its step_metrics figures (None where not measured)."""

    step: str
    position: int
    on_main_path: bool
    anchor_step: str | None = None
    case_share: float | None = None
    start_share: float | None = None  # completed cases whose first step it is / completed cases
    end_share: float | None = None  # completed cases whose last step it is / completed cases
    entry_lane: bool = False  # drawn as an entry lane in the first column (stream_map.entry_lanes)
    map_visits: int | None = None
    visits: int | None = None  # None: no step_metrics row (rare steps folded into "other")
    resources: int | None = None
    teams: tuple[str, ...] = ()
    queue_wip_avg: float | None = None
    queue_time_p50_s: float | None = None
    queue_time_mean_s: float | None = None
    queue_internal_mean_s: float | None = None
    queue_external_mean_s: float | None = None
    queue_visits: int | None = None  # the visits the queue figures are over (observed start)
    process_time_p50_s: float | None = None
    process_time_mean_s: float | None = None
    first_pass_yield: float | None = None
    queue_time_bh_p50_s: float | None = None  # business time: only when a calendar is set
    process_time_bh_p50_s: float | None = None
    mark: str = ""  # a compared map: NEW, LEAVES or GONE; a future-state map: CHANGED or REMOVED
    predicted_queue: tuple[str, str] = ()  # a future-state map: queue time "-> p50" and "p10-p90"

    @property
    def folded(self) -> bool:
        return self.visits is None and self.mark not in (GONE, REMOVED)


@dataclass(frozen=True)
class ReworkLoop:
    from_step: str
    to_step: str
    cases: int
    visits: int
    case_share: float


@dataclass(frozen=True)
class Branch:
    """One way out of a decision point, with its share of the step's forward transitions."""

    step: str
    to_step: str
    share: float
    count: int


@dataclass(frozen=True)
class Handoff:
    """Consecutive main-path steps whose top teams differ, with the handoffs between the teams."""

    from_step: str
    to_step: str
    from_team: str
    to_team: str
    count: int
    cases: int


@dataclass(frozen=True)
class Summary:
    log_shape: str
    as_of: datetime | None = None
    cases: int | None = None
    open_cases: int | None = None
    completed_cases: int | None = None
    lead_time_mean_s: float | None = None
    lead_time_p50_s: float | None = None
    lead_time_p85_s: float | None = None
    process_time_mean_s: float | None = None  # per completed case
    flow_efficiency: float | None = None
    first_pass_yield: float | None = None
    wip_avg: float | None = None
    throughput_per_day: float | None = None
    handoffs_per_case: float | None = None
    verdict: str | None = None  # Little's Law over the whole window
    ratio: float | None = None
    why: str | None = None
    littles_law: bool = True  # the compared maps of `vsm compare` leave its row out (not checked per window)
    window: str | None = None  # the measurement window ('all': the whole history)
    predicted: tuple[tuple[str, str], ...] = ()  # a future-state map: (row key, "now -> predicted (range)")
    automatic_close: str | None = None  # quality finding automatic_close's detail: said by "Done"


@dataclass(frozen=True)
class MapData:
    stream: str
    summary: Summary | None  # None: the stream's flow has not been computed
    steps: tuple[MapStep, ...] = ()
    loops: tuple[ReworkLoop, ...] = ()
    branches: tuple[Branch, ...] = ()
    handoffs: tuple[Handoff, ...] = ()

    @property
    def main_path(self) -> list[MapStep]:
        return sorted((s for s in self.steps if s.on_main_path), key=lambda s: s.position)

    @property
    def side_steps(self) -> list[MapStep]:
        """Steps off the main path drawn below it (not the entry lanes)."""
        return sorted(
            (s for s in self.steps if not s.on_main_path and not s.entry_lane), key=lambda s: s.position
        )

    @property
    def entry_lanes(self) -> list[MapStep]:
        """The lanes below the main path's first box, top to bottom: most starts first
        (stream_map.entry_lanes), then by position. Empty: the map has one entry."""
        lanes = (s for s in self.steps if not s.on_main_path and s.entry_lane)
        return sorted(lanes, key=lambda s: (-(s.start_share or 0.0), s.position))


# ---------------------------------------------------------------- figures as text


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _one_decimal_below_ten(value: float) -> str:
    text = f"{value:.1f}" if value < 9.95 else f"{value:,.0f}"
    return text[:-2] if text.endswith(".0") else text


def fmt_duration(seconds: float | None) -> str:
    """A duration in the unit that reads best: s, min, h or d (one decimal below ten)."""
    if _missing(seconds):
        return "n/a"
    value = max(float(seconds), 0.0)
    for limit, size, unit in ((59.5, 1, "s"), (3570, 60, "min"), (86100, 3600, "h")):
        if value < limit:
            return f"{_one_decimal_below_ten(value / size) if size > 1 else f'{value:.0f}'} {unit}"
    return f"{_one_decimal_below_ten(value / 86400)} d"


def fmt_pct(share: float | None) -> str:
    """A share (0-1) as a percentage: whole percents, one decimal near 0 and 100."""
    if _missing(share):
        return "n/a"
    pct = 100 * float(share)
    if pct == 0 or pct == 100:
        return f"{pct:.0f}%"
    if pct < 0.05:
        return "<0.1%"
    if pct < 9.95 or pct > 99.5:
        return f"{min(pct, 99.9):.1f}%"
    return f"{pct:.0f}%"


def fmt_count(n: int | None) -> str:
    return "n/a" if n is None else f"{int(n):,}"


def fmt_amount(value: float | None) -> str:
    """A measured quantity (WIP, rate): one decimal below 100, whole numbers above."""
    if _missing(value):
        return "n/a"
    return f"{value:.1f}" if abs(value) < 99.95 else f"{value:,.0f}"


def fmt_ratio(value: float | None) -> str:
    return "n/a" if _missing(value) else f"{value:.2f}"


# ---------------------------------------------------------------- reading the store


def _rows(con: duckdb.DuckDBPyConnection, name: str, params: dict) -> list[dict]:
    return query_frame(con, read_sql(f"report/{name}.sql"), params).to_dicts()


def _clean(row: dict) -> dict:
    """NaN (an empty quantile) reads as not measured."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


def _build(cls, row: dict):
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in _clean(row).items() if k in names})


def _step(row: dict) -> MapStep:
    teams = tuple(t for t in (row.get("teams") or "").split(", ") if t)
    return _build(MapStep, {**row, "teams": teams})


def load_map_data(con: duckdb.DuckDBPyConnection, stream: str) -> MapData:
    """What the map of `stream` shows, read from the result tables."""
    params = {"stream": stream}
    summary_rows = _rows(con, "map_summary", params)
    if not summary_rows:
        return MapData(stream=stream, summary=None)
    return MapData(
        stream=stream,
        summary=_build(Summary, summary_rows[0]),
        steps=tuple(_step(r) for r in _rows(con, "map_boxes", params)),
        loops=tuple(
            _build(ReworkLoop, r) for r in _rows(con, "map_rework_loops", {**params, "top": MAX_REWORK_LOOPS})
        ),
        branches=tuple(_build(Branch, r) for r in _rows(con, "map_decision_points", params)),
        handoffs=tuple(_build(Handoff, r) for r in _rows(con, "map_handoffs", params)),
    )


def map_svg(data: MapData) -> str:
    """The map of `data` as an SVG document (pure: same data, same bytes)."""
    from pipeline.vsm_map_layout import draw_map  # the layout imports this module's types

    return draw_map(data)


def render_map_svg(con: duckdb.DuckDBPyConnection, stream: str) -> str:
    """The value stream map of `stream`, from the store, as an SVG document."""
    return map_svg(load_map_data(con, stream))
