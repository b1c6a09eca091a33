"""Charts for the report: small pure functions, polars frames in, an inline `<svg>` string out.

No plotting library: the report must be one self-contained file and byte-for-byte the same
for the same data, so the drawing is ours. Every text that can come from data (step, team,
status names, case ids) goes through `esc`; inputs are aggregates (a row per day, step or
sampled case), never raw events. Sizes are in CSS pixels of a 960-wide chart; the page
scales the SVG down on narrow screens.
"""

from __future__ import annotations

import math
import zlib
from datetime import date, datetime, time, timedelta

import polars as pl

from pipeline.svg import (
    CHAR_W,
    FONT,
    WIDTH,
    add_months,
    empty_chart,
    esc,
    fmt_number,
    legend_plot,
    line,
    nice_ticks,
    polyline_points,
    shorten,
    span_label,
    svg,
    text,
    wrap,
    x_date_axis,
    x_value_axis,
    y_axis,
)

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#86bcb6",
)
OTHER_COLOR = "#bab0ac"
DONE_COLOR = "#d5dbe1"
PERCENTILE_COLORS = {"p50": "#2b8a3e", "p85": "#e67700", "p95": "#c92a2a"}
DASHED = ' stroke-width="1.5" stroke-dasharray="6 4"'
STATE_COLORS = {"in process": "#4e79a7", "queued": "#f28e2b", "waiting": "#b07aa1"}
SLA_COLORS = {"at_risk": "#e67700", "breached": "#c92a2a"}  # rings on the aging chart


# ---------------------------------------------------------------- WIP and cumulative flow


def wip_chart(wip_daily: pl.DataFrame) -> str:
    """WIP per day: `wip_end` (cases open when the day closes) and `wip_avg` (time-average).

    Input columns: day (date), wip_end, wip_avg."""
    if wip_daily.is_empty():
        return empty_chart("no WIP: the stream has no cases")
    days = wip_daily["day"].to_list()
    first, last = days[0], days[-1]
    ticks = nice_ticks(max(wip_daily["wip_end"].max(), wip_daily["wip_avg"].max(), 1))
    series = [
        ("WIP at the close of each day", "wip_end", PALETTE[0]),
        ("average WIP over the day", "wip_avg", PALETTE[1]),
    ]
    legend_parts, plot = legend_plot([(label, color, "line") for label, _, color in series], 266)
    x = plot.x_of_days(first, last)
    parts = legend_parts + y_axis(plot, ticks, "cases in progress") + x_date_axis(plot, first, last, "day")
    for _, column, color in series:
        ys = [plot.y(v, ticks[-1]) for v in wip_daily[column].to_list()]
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.6" '
            f'points="{polyline_points([x(d) for d in days], ys)}"/>'
        )
    return svg(WIDTH, plot.height, parts, "WIP over time")


def cumulative_flow_chart(bands: pl.DataFrame, flow: pl.DataFrame, other: str, between: str) -> str:
    """Cumulative flow: stacked areas of the cases done so far (bottom), then the cases in each
    step when the day closes, the last step nearest the done band and the first on top, then
    the open cases in no step (`between`: done with one step, the next not started). The top
    edge is the cumulative arrivals; the gap down to the done band is the WIP.

    `bands`: day, band (label; `other` = the rest together), position (process order), cases.
    `flow`: day, done (cumulative departures since the window opened), wip_end."""
    if flow.is_empty():
        return empty_chart("no cumulative flow: the stream has no days")
    flow = flow.sort("day")
    days = flow["day"].to_list()
    first, last = days[0], days[-1]
    order = (
        bands.group_by("band").agg(pl.col("position").min()).sort(["position", "band"])["band"].to_list()
        if not bands.is_empty()
        else []
    )
    wide = flow.select("day")
    if order:
        wide = wide.join(
            bands.pivot(on="band", index="day", values="cases", aggregate_function="sum"),
            on="day",
            how="left",
        )
    wide = wide.fill_null(0).sort("day")
    layers = [("cases done (cumulative)", flow["done"].to_list(), DONE_COLOR)]
    for i, band in enumerate(reversed(order)):
        color = OTHER_COLOR if band == other else PALETTE[(len(order) - 1 - i) % len(PALETTE)]
        layers.append((band, wide[band].to_list(), color))
    in_steps = [sum(values) for values in zip(*(v for _, v, _ in layers[1:]), strict=True)] or [0] * len(days)
    outside = [max(w - n, 0) for w, n in zip(flow["wip_end"].to_list(), in_steps, strict=True)]
    if any(outside):
        layers.append((between, outside, "#e9ecef"))
    totals = [sum(values) for values in zip(*(v for _, v, _ in layers), strict=True)]
    ticks = nice_ticks(max(max(totals), 1))
    legend_items = [(label, color, "box") for label, _, color in reversed(layers)]
    legend_parts, plot = legend_plot(legend_items, 286)
    x = plot.x_of_days(first, last)
    xs = [x(d) for d in days]
    parts = y_axis(plot, ticks, "cases") + x_date_axis(plot, first, last, "day")
    below = [0.0] * len(days)
    for label, values, color in layers:
        above = [b + v for b, v in zip(below, values, strict=True)]
        top_edge = polyline_points(xs, [plot.y(v, ticks[-1]) for v in above])
        bottom_edge = polyline_points(xs[::-1], [plot.y(v, ticks[-1]) for v in below[::-1]])
        parts.append(
            f'<polygon fill="{color}" stroke="{color}" stroke-width="0.5" points="{top_edge} {bottom_edge}">'
            f"<title>{esc(label)}</title></polygon>"
        )
        below = above
    return svg(WIDTH, plot.height, parts + legend_parts, "Cumulative flow")


# ---------------------------------------------------------------- throughput


def throughput_periods(wip_daily: pl.DataFrame) -> tuple[pl.DataFrame, str]:
    """Departures per day, week (over 120 days) or month (over two years).

    Returns (period_start, departures, days, full) and the period's name; `full` is false for the
    first and last periods when the window covers only part of them."""
    days = wip_daily.height
    period, every = ("day", "1d") if days <= 120 else ("week", "1w") if days <= 730 else ("month", "1mo")
    frame = (
        wip_daily.with_columns(period_start=pl.col("day").dt.truncate(every))
        .group_by("period_start")
        .agg(departures=pl.col("departures").sum(), days=pl.len())
        .sort("period_start")
    )
    length = {"day": pl.lit(1), "week": pl.lit(7)}.get(period, pl.col("period_start").dt.month_end().dt.day())
    return frame.with_columns(full=pl.col("days") == length), period


def throughput_chart(periods: pl.DataFrame, period: str) -> str:
    """Run chart of departures per period with the mean over full periods.

    Input: period_start (date), departures, full (bool), as from `throughput_periods`."""
    if periods.is_empty():
        return empty_chart("no departures yet")
    starts = periods["period_start"].to_list()
    step = {"day": timedelta(days=1), "week": timedelta(days=7)}.get(period)
    end = starts[-1] + step if step else add_months(starts[-1], 1)
    full = periods.filter(pl.col("full"))
    mean = (full if not full.is_empty() else periods)["departures"].mean()
    ticks = nice_ticks(max(periods["departures"].max(), 1))
    items = [
        (f"completed per {period}", PALETTE[0], "box"),
        (f"partial {period} at the window's edge", "#a5c0dd", "box"),
        (f"mean of full {period}s: {fmt_number(mean)}", "#c92a2a", "dash"),
    ]
    if periods["full"].all():
        items.pop(1)
    parts, plot = legend_plot(items, 266)
    x = plot.x_of_days(starts[0], end)
    parts += y_axis(plot, ticks, f"cases completed per {period}") + x_date_axis(plot, starts[0], end, period)
    nexts = starts[1:] + [end]
    for start, nxt, value, is_full in zip(
        starts, nexts, periods["departures"].to_list(), periods["full"].to_list(), strict=True
    ):
        x0, x1 = x(start), x(nxt)
        gap = min(2.0, (x1 - x0) * 0.15)
        y = plot.y(value, ticks[-1])
        fill = PALETTE[0] if is_full else "#a5c0dd"
        parts.append(
            f'<rect x="{x0 + gap / 2:.1f}" y="{y:.1f}" width="{max(x1 - x0 - gap, 0.5):.1f}" '
            f'height="{plot.height - plot.bottom - y:.1f}" fill="{fill}">'
            f"<title>{start:%Y-%m-%d}: {value:,} completed{'' if is_full else ' (partial ' + period + ')'}"
            f"</title></rect>"
        )
    y_mean = plot.y(mean, ticks[-1])
    parts.append(
        line(plot.left, y_mean, plot.width - plot.right, y_mean, "#c92a2a", ' stroke-dasharray="6 4"')
    )
    return svg(WIDTH, plot.height, parts, "Throughput")


# ---------------------------------------------------------------- lead time


def _percentile_items(percentiles: dict[str, float | None]) -> list[tuple[str, float, str]]:
    return [
        (name, value, PERCENTILE_COLORS[name])
        for name, value in percentiles.items()
        if value is not None and name in PERCENTILE_COLORS
    ]


def lead_time_scatter(
    points: pl.DataFrame, percentiles: dict[str, float | None], cap_days: float, first: date, last: date
) -> str:
    """When each completed case finished vs its lead time (days), with the p50/p85/p95 lines.

    `points`: exit_at (local datetime), lead_days; drawn from the start of day `first` to the
    end of day `last`. Cases above `cap_days` are drawn as triangles on the top edge so one
    outlier does not flatten the rest."""
    if points.is_empty():
        return empty_chart("no completed cases yet")
    origin = datetime.combine(first, time())
    end = last + timedelta(days=1)
    span_s = (end - first).days * 86400
    ticks = nice_ticks(max(cap_days, 1e-3))
    top = ticks[-1]
    items = _percentile_items(percentiles)
    over_count = points.filter(pl.col("lead_days") > top).height
    legend_items = [("completed case", PALETTE[0], "dot")] + [
        (f"{name}: {fmt_number(value)} days", color, "dash") for name, value, color in items
    ]
    if over_count:
        legend_items.append(
            (f"{over_count:,} cases over {fmt_number(top)} days, drawn at the top", "#868e96", "box")
        )
    parts, plot = legend_plot(legend_items, 306, right=90)
    parts += y_axis(plot, ticks, "lead time (days)") + x_date_axis(
        plot, first, end, "when the case completed"
    )
    dots, over = [], []
    for moment, lead in points.select("exit_at", "lead_days").iter_rows():
        px = plot.left + plot.inner_w * (moment - origin).total_seconds() / span_s
        if lead > top:
            py = plot.top + 1
            over.append(f"M{px - 3:.1f},{py + 5:.1f}L{px + 3:.1f},{py + 5:.1f}L{px:.1f},{py:.1f}Z")
        else:
            dots.append(f"M{px:.1f},{plot.y(lead, top):.1f}h0")
    parts.append(
        f'<path d="{"".join(dots)}" stroke="{PALETTE[0]}" stroke-opacity="0.45" '
        f'stroke-width="4" stroke-linecap="round" fill="none"/>'
    )
    if over:
        parts.append(f'<path d="{"".join(over)}" fill="#868e96"/>')
    for name, value, color in items:
        if value <= top:
            y = plot.y(value, top)
            parts.append(line(plot.left, y, plot.width - plot.right, y, color, DASHED))
            parts.append(text(plot.width - plot.right + 4, y + 4, f"{name} {fmt_number(value)} d", cls="pct"))
    return svg(WIDTH, plot.height, parts, "Lead time of completed cases")


def lead_time_histogram(bins: pl.DataFrame, percentiles: dict[str, float | None], bin_days: float) -> str:
    """Completed cases per lead-time bin; the last bin may be open-ended ('≥ x days').

    `bins`: bin (0, 1, ...; bin i covers [i*bin_days, (i+1)*bin_days)), cases, open_ended (bool)."""
    if bins.is_empty():
        return empty_chart("no completed cases yet")
    n_bins = int(bins["bin"].max()) + 1
    counts = dict(zip(bins["bin"].to_list(), bins["cases"].to_list(), strict=True))
    open_ended = bool(bins.filter(pl.col("open_ended")).height)
    ticks = nice_ticks(max(counts.values()))
    items = _percentile_items(percentiles)
    legend_items = [(f"cases per {span_label(bin_days)} bin", PALETTE[0], "box")]
    if open_ended:
        legend_items.append((f"≥ {fmt_number((n_bins - 1) * bin_days)} days", "#868e96", "box"))
    legend_items += [(f"{name}: {fmt_number(value)} days", color, "dash") for name, value, color in items]
    parts, plot = legend_plot(legend_items, 266)
    span = n_bins * bin_days
    x_ticks = [t for t in nice_ticks(span, 8) if t <= span + 1e-9]
    parts += y_axis(plot, ticks, "completed cases") + x_value_axis(plot, x_ticks, span, "lead time (days)")
    bar_w = plot.inner_w / n_bins
    for i in range(n_bins):
        value = counts.get(i, 0)
        if not value:
            continue
        y = plot.y(value, ticks[-1])
        is_open = open_ended and i == n_bins - 1
        label = (
            f"≥ {fmt_number(i * bin_days)} days"
            if is_open
            else f"{fmt_number(i * bin_days)}–{fmt_number((i + 1) * bin_days)} days"
        )
        parts.append(
            f'<rect x="{plot.left + i * bar_w + 0.5:.1f}" y="{y:.1f}" width="{max(bar_w - 1, 0.5):.1f}" '
            f'height="{plot.height - plot.bottom - y:.1f}" fill="{"#868e96" if is_open else PALETTE[0]}">'
            f"<title>{esc(label)}: {value:,} cases</title></rect>"
        )
    for _, value, color in items:
        if value <= span:
            xp = plot.left + plot.inner_w * value / span
            parts.append(line(xp, plot.top, xp, plot.height - plot.bottom, color, DASHED))
    return svg(WIDTH, plot.height, parts, "Lead-time histogram")


# ---------------------------------------------------------------- aging WIP


def aging_wip_chart(
    points: pl.DataFrame,
    columns: list[tuple[str, int]],
    percentiles: dict[str, float | None],
    cap_days: float,
) -> str:
    """Open cases as dots: one column per current step (process order), height = age in days,
    colour = state; the completed cases' p50/p85/p95 lead times as lines behind them.

    `points`: column (label), case_id, current_state, age_days. `columns`: (label, open cases)
    in the order drawn. Dots spread across their column by a hash of the case id (stable)."""
    if points.is_empty():
        return empty_chart("no open cases: nothing is in progress")
    ticks = nice_ticks(max(cap_days, 1e-3))
    top = ticks[-1]
    col_w = (WIDTH - 64 - 90) / len(columns)
    chars = max(6, int(col_w / (CHAR_W * 11 / FONT)) - 1)
    labels = [wrap(label, chars) for label, _ in columns]
    bottom = 30 + 14 * max(len(lines) for lines in labels)
    states = sorted(points["current_state"].unique().to_list())
    items = _percentile_items(percentiles)
    legend_items = [(state, STATE_COLORS.get(state, OTHER_COLOR), "dot") for state in states]
    marked = points["sla_state"].drop_nulls().unique().to_list() if "sla_state" in points.columns else []
    legend_items += [
        (f"service level {m.replace('_', ' ')} (ringed)", SLA_COLORS[m], "dot") for m in sorted(marked)
    ]
    legend_items += [(f"completed cases' {name}: {fmt_number(v)} days", c, "dash") for name, v, c in items]
    parts, plot = legend_plot(legend_items, 266 + bottom, bottom=bottom, right=90)
    parts += y_axis(plot, ticks, "age of the open case (days)")
    base = plot.height - plot.bottom
    parts.append(line(plot.left, base, plot.width - plot.right, base, "#495057"))
    index = {label: i for i, (label, _) in enumerate(columns)}
    for i, ((label, count), lines) in enumerate(zip(columns, labels, strict=True)):
        cx = plot.left + col_w * (i + 0.5)
        if i:
            parts.append(line(plot.left + col_w * i, plot.top, plot.left + col_w * i, base, "#dee2e6"))
        tspans = "".join(
            f'<tspan x="{cx:.1f}" dy="{0 if j == 0 else 14}">{esc(line)}</tspan>'
            for j, line in enumerate(lines)
        )
        parts.append(
            f'<text x="{cx:.1f}" y="{base + 16:.1f}" text-anchor="middle" class="tick">'
            f"<title>{esc(label)}</title>{tspans}</text>"
        )
        parts.append(text(cx, base + 16 + 14 * len(lines), f"{count:,} open", anchor="middle", cls="note"))
    for name, value, color in items:
        if value <= top:
            y = plot.y(value, top)
            parts.append(line(plot.left, y, plot.width - plot.right, y, color, DASHED))
            parts.append(text(plot.width - plot.right + 4, y + 4, f"{name} {fmt_number(value)} d", cls="pct"))
    dot = 5 if points.height <= 500 else 4 if points.height <= 1500 else 3
    by_state: dict[str, list[str]] = {}
    rings: dict[str, list[str]] = {}
    if "sla_state" not in points.columns:
        points = points.with_columns(sla_state=pl.lit(None, dtype=pl.String))
    for column, case_id, state, age, sla_state in points.select(
        "column", "case_id", "current_state", "age_days", "sla_state"
    ).iter_rows():
        jitter = (zlib.crc32(str(case_id).encode()) % 1000) / 1000
        px = plot.left + col_w * (index[column] + 0.12 + 0.76 * jitter)
        py = plot.y(age, top) if age <= top else plot.top + 2
        by_state.setdefault(state, []).append(f"M{px:.1f},{py:.1f}h0")
        if sla_state:
            rings.setdefault(sla_state, []).append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{dot / 2 + 2.5:.1f}"/>'
            )
    for sla_state, circles in sorted(rings.items()):
        parts.append(
            f'<g fill="none" stroke="{SLA_COLORS[sla_state]}" stroke-width="1.5">'
            f"<title>service level {esc(sla_state.replace('_', ' '))}</title>{''.join(circles)}</g>"
        )
    for state, dots in sorted(by_state.items()):
        parts.append(
            f'<path d="{"".join(dots)}" stroke="{STATE_COLORS.get(state, OTHER_COLOR)}" stroke-opacity="0.6" '
            f'stroke-width="{dot}" stroke-linecap="round" fill="none"><title>{esc(state)}</title></path>'
        )
    return svg(WIDTH, plot.height, parts, "Aging work in progress")


# ---------------------------------------------------------------- service levels


def sla_attainment_chart(weekly: pl.DataFrame) -> str:
    """Share of the clocks that stopped in a week that met their target, a line per service
    level. Input: sla, week (date, a Monday), stopped, met, attainment (0..1)."""
    if weekly.is_empty():
        return empty_chart("no service-level clock has stopped yet")
    slas = sorted(weekly["sla"].unique().to_list())
    first, last = weekly["week"].min(), weekly["week"].max() + timedelta(days=7)
    items = [(name, PALETTE[i % len(PALETTE)], "box") for i, name in enumerate(slas)]
    parts, plot = legend_plot(items, 266)
    ticks = [0.0, 0.25, 0.5, 0.75, 1.0]
    x = plot.x_of_days(first, last)
    parts += y_axis(plot, ticks, "share met") + x_date_axis(plot, first, last, "week the clock stopped")
    for i, name in enumerate(slas):
        rows = weekly.filter(pl.col("sla") == name).sort("week")
        xs = [x(w + timedelta(days=3.5)) for w in rows["week"]]
        ys = [plot.y(a, 1.0) for a in rows["attainment"]]
        color = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<polyline points="{polyline_points(xs, ys)}" fill="none" stroke="{color}" stroke-width="2"/>'
        )
        for px, py, (week, stopped, met) in zip(
            xs, ys, rows.select("week", "stopped", "met").iter_rows(), strict=True
        ):
            parts.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{color}"><title>{esc(name)}, week of '
                f"{week:%Y-%m-%d}: {met:,} of {stopped:,} met</title></circle>"
            )
    return svg(WIDTH, plot.height, parts, "Service-level attainment per week")


# ---------------------------------------------------------------- handoffs


def _heat(share: float) -> str:
    """White to dark blue; sqrt so that small counts still show."""
    t = math.sqrt(max(0.0, min(1.0, share)))
    r, g, b = (round(255 + (c - 255) * t) for c in (0x1C, 0x4E, 0x80))
    return f"#{r:02x}{g:02x}{b:02x}"


def handoff_matrix(handoffs: pl.DataFrame, teams: list[str]) -> str:
    """Heat table: rows hand work to columns; cell = handoffs (consecutive visits by different teams).

    `handoffs`: from_team, to_team, count (only pairs among `teams`); `teams` in the order drawn."""
    if handoffs.is_empty() or not teams:
        return empty_chart("no handoffs between teams")
    counts = {(a, b): n for a, b, n in handoffs.select("from_team", "to_team", "count").iter_rows()}
    peak = max(counts.values())
    label_chars = min(28, max(len(t) for t in teams))
    cell = max(34, min(64, (WIDTH - 40 - label_chars * CHAR_W) / len(teams)))
    left = max(24 + label_chars * CHAR_W, 110)  # room for the 'from / to' key too
    top = 30 + min(28, max(len(t) for t in teams)) * CHAR_W * 0.72
    width = left + cell * len(teams) + 24
    height = top + cell * len(teams) + 16
    parts = [
        text(left - 8, top - 8, "from ↓  to →", anchor="end", cls="note"),
    ]
    for j, team in enumerate(teams):
        cx = left + cell * (j + 0.5)
        parts.append(
            f'<text x="{cx:.1f}" y="{top - 6:.1f}" transform="rotate(-40 {cx:.1f} {top - 6:.1f})" '
            f'class="tick"><title>{esc(team)}</title>{esc(shorten(team, 28))}</text>'
        )
    for i, source in enumerate(teams):
        y = top + cell * i
        parts.append(
            f'<text x="{left - 8:.1f}" y="{y + cell / 2 + 4:.1f}" text-anchor="end" class="tick">'
            f"<title>{esc(source)}</title>{esc(shorten(source, 28))}</text>"
        )
        for j, target in enumerate(teams):
            n = counts.get((source, target), 0)
            x = left + cell * j
            fill = _heat(n / peak) if n else ("#f1f3f5" if i == j else "#ffffff")
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}" fill="{fill}" '
                'stroke="#dee2e6">'
                f"<title>{esc(source)} → {esc(target)}: {n:,} handoffs</title></rect>"
            )
            if n:
                color = "#ffffff" if n / peak > 0.35 else "#212529"
                size = 11 if n < 10000 else 9
                parts.append(
                    f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + 4:.1f}" text-anchor="middle" '
                    f'font-size="{size}" fill="{color}">{n:,}</text>'
                )
    return svg(width, height, parts, "Handoff matrix", cls="chart matrix")


def trend_chart(trend: pl.DataFrame) -> str:
    """Lead time p50 and p85 (days) per snapshot, oldest first, one point each at even steps
    (snapshots come at any pace: the axis counts them, the table beside it dates them).

    Input columns: lead_time_p50_s, lead_time_p85_s (one row per snapshot, oldest first)."""
    if trend.height < 2:
        return empty_chart("one snapshot so far: the trend starts with the next compute")
    series = [
        ("lead time p50 (days)", "lead_time_p50_s", PERCENTILE_COLORS["p50"]),
        ("lead time p85 (days)", "lead_time_p85_s", PERCENTILE_COLORS["p85"]),
    ]
    days = {c: [None if v is None else v / 86400 for v in trend[c].to_list()] for _, c, _ in series}
    high = max([v for vs in days.values() for v in vs if v is not None] or [1])
    ticks = nice_ticks(high or 1)
    legend_parts, plot = legend_plot([(label, color, "line") for label, _, color in series], 200)
    n = trend.height
    xs = [plot.left + plot.inner_w * i / (n - 1) for i in range(n)]
    parts = legend_parts + y_axis(plot, ticks, "days")
    base = plot.top + plot.inner_h
    parts.append(line(plot.left, base, plot.left + plot.inner_w, base, "#adb5bd"))
    parts += [text(x, base + 16, str(i + 1), anchor="middle") for i, x in enumerate(xs)]
    parts.append(text(plot.left + plot.inner_w / 2, base + 34, "snapshot (oldest first)", anchor="middle"))
    for _, column, color in series:
        points = [(x, plot.y(v, ticks[-1])) for x, v in zip(xs, days[column], strict=True) if v is not None]
        if len(points) > 1:
            parts.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="1.6" '
                f'points="{polyline_points([p[0] for p in points], [p[1] for p in points])}"/>'
            )
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in points]
    return svg(WIDTH, plot.height, parts, "Lead time per snapshot")
