"""SVG drawing primitives for the report's charts: scales, ticks, axes, legends, text.

Our own few lines instead of a plotting library, so the page stays one self-contained file
and is the same for the same data. All text goes through `esc`: names from data can hold
markup (a status called `<script>`), and must show as text.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

WIDTH = 960  # of every time chart, in CSS pixels; the page scales it to its width
FONT = 12
CHAR_W = 0.6 * FONT  # mean advance of a sans-serif character, for laying out labels


def esc(value: object) -> str:
    """Text from data, safe inside SVG/HTML text and attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


def shorten(text: str, max_chars: int) -> str:
    """`text` cut to `max_chars` with an ellipsis (the full name goes in a <title>)."""
    return text if len(text) <= max_chars else text[: max(1, max_chars - 1)].rstrip() + "…"


def fmt_number(value: float | None, digits: int = 1) -> str:
    """A figure for people: thousands separated; decimals only below 100."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def fmt_tick(value: float) -> str:
    """An axis label, short: 150k, 1.5M."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:g}k"
    return f"{value:,.10g}"


# ---------------------------------------------------------------- axes and scales


def nice_ticks(high: float, count: int = 5) -> list[float]:
    """Ticks 0, step, 2*step, ... up to the first tick >= `high`; step is 1, 2, 2.5 or 5 x 10^k."""
    high = max(float(high), 1e-9)
    raw = high / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < high - 1e-9 * step:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    return date(day.year + month // 12, month % 12 + 1, 1)


def date_ticks(first: date, last: date, max_ticks: int = 9) -> list[tuple[date, str]]:
    """Calendar-aligned ticks between two days: days, Mondays, month or year starts."""
    span = (last - first).days
    for days in (1, 2, 7, 14):
        if span / days <= max_ticks:
            start = first if days < 7 else first + timedelta(days=(7 - first.weekday()) % 7)
            return [
                (start + timedelta(days=i), f"{start + timedelta(days=i):%Y-%m-%d}")
                for i in range(0, span - (start - first).days + 1, days)
            ]
    for months in (1, 2, 3, 6, 12, 24, 60):
        if span / (30.44 * months) <= max_ticks:
            tick = add_months(first, 0 if first.day == 1 else 1)
            while (tick.month - 1) % months:
                tick = add_months(tick, 1)
            ticks = []
            while tick <= last:
                ticks.append((tick, f"{tick:%Y}" if months >= 12 else f"{tick:%Y-%m}"))
                tick = add_months(tick, months)
            return ticks
    return [(first, f"{first:%Y}"), (last, f"{last:%Y}")]


@dataclass(frozen=True)
class Plot:
    """The drawing area of a chart inside its SVG."""

    height: int
    left: int = 64
    right: int = 24
    top: int = 16
    bottom: int = 44
    width: int = WIDTH

    @property
    def inner_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def inner_h(self) -> float:
        return self.height - self.top - self.bottom

    def y(self, value: float, top: float) -> float:
        return self.top + self.inner_h * (1 - min(value, top) / top)

    def x_of_days(self, first: date, last: date) -> Callable[[date], float]:
        span = max((last - first).days, 1)
        return lambda d: self.left + self.inner_w * (d - first).days / span


def svg(width: float, height: float, body: Sequence[str], label: str, cls: str = "chart") -> str:
    return (
        f'<svg class="{cls}" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
        f'height="{height:.0f}" role="img" aria-label="{esc(label)}" '
        f'font-family="system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif" '
        f'font-size="{FONT}">' + "".join(body) + "</svg>"
    )


def text(x: float, y: float, content: str, *, anchor: str = "start", cls: str = "", extra: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}{extra}>{esc(content)}</text>'


def line(x1, y1, x2, y2, stroke="#000", extra="") -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"{extra}/>'


def y_axis(plot: Plot, ticks: list[float], label: str) -> list[str]:
    top = ticks[-1]
    parts = []
    for t in ticks:
        y = plot.y(t, top)
        parts.append(line(plot.left, y, plot.width - plot.right, y, "#e9ecef"))
        parts.append(text(plot.left - 6, y + 4, fmt_tick(t), anchor="end", cls="tick"))
    mid = plot.top + plot.inner_h / 2
    parts.append(
        text(
            14, mid, label, anchor="middle", cls="axis-label", extra=f' transform="rotate(-90 14 {mid:.1f})"'
        )
    )
    return parts


def _tick_label(plot: Plot, x: float, y: float, label: str) -> str:
    """A tick label centred under its tick, pushed inside the SVG when it would stick out."""
    half = len(label) * CHAR_W * 11 / FONT / 2
    if x + half > plot.width - 2:
        return text(plot.width - 2, y, label, anchor="end", cls="tick")
    return text(x, y, label, anchor="middle", cls="tick")


def x_date_axis(plot: Plot, first: date, last: date, label: str) -> list[str]:
    x = plot.x_of_days(first, last)
    base = plot.height - plot.bottom
    parts = [line(plot.left, base, plot.width - plot.right, base, "#495057")]
    max_ticks = max(2, int(plot.inner_w // 90))
    for day, tick_label in date_ticks(first, last, max_ticks):
        parts.append(line(x(day), base, x(day), base + 4, "#495057"))
        parts.append(_tick_label(plot, x(day), base + 17, tick_label))
    parts.append(
        text(plot.left + plot.inner_w / 2, plot.height - 6, label, anchor="middle", cls="axis-label")
    )
    return parts


def x_value_axis(plot: Plot, ticks: list[float], span: float, label: str) -> list[str]:
    """A numeric x axis from 0 to `span` with labels at `ticks`."""
    base = plot.height - plot.bottom
    parts = [line(plot.left, base, plot.width - plot.right, base, "#495057")]
    for t in ticks:
        x = plot.left + plot.inner_w * t / span
        parts.append(line(x, base, x, base + 4, "#495057"))
        parts.append(_tick_label(plot, x, base + 17, fmt_tick(t)))
    parts.append(
        text(plot.left + plot.inner_w / 2, plot.height - 6, label, anchor="middle", cls="axis-label")
    )
    return parts


def legend(
    items: Sequence[tuple[str, str, str]], x0: float, y0: float, width: float
) -> tuple[list[str], float]:
    """Legend entries (label, color, shape: 'box' | 'line' | 'dash' | 'dot') laid out in rows.

    Returns the SVG parts and the height used."""
    parts, x, y = [], x0, y0
    for label, color, shape in items:
        shown = shorten(label, 64)
        item_w = 22 + len(shown) * CHAR_W + 18
        if x > x0 and x + item_w > x0 + width:
            x, y = x0, y + 18
        if shape == "box":
            parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="14" height="10" fill="{color}"/>')
        elif shape == "dot":
            parts.append(f'<circle cx="{x + 7:.1f}" cy="{y - 4:.1f}" r="4" fill="{color}"/>')
        else:
            dash = ' stroke-dasharray="5 3"' if shape == "dash" else ""
            parts.append(line(x, y - 4, x + 16, y - 4, color, f' stroke-width="2"{dash}'))
        title = f"<title>{esc(label)}</title>" if shown != label else ""
        parts.append(f"<g>{title}{text(x + 20, y, shown, cls='legend')}</g>")
        x += item_w
    return parts, y - y0 + 18


def legend_plot(
    items: Sequence[tuple[str, str, str]], body_height: int, **plot: int
) -> tuple[list[str], Plot]:
    """A legend above the drawing area, and the Plot below it (`body_height` from its top edge)."""
    parts, used = legend(items, 64, 16, WIDTH - 88)
    top = int(16 + used)
    return parts, Plot(height=top + body_height, top=top, **plot)


def span_label(days: float) -> str:
    return f"{days * 24:g}-hour" if days < 1 else f"{fmt_number(days)}-day"


def polyline_points(xs: Sequence[float], ys: Sequence[float]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))


def empty_chart(message: str, height: int = 80) -> str:
    return svg(WIDTH, height, [text(WIDTH / 2, height / 2, message, anchor="middle", cls="empty")], message)


def wrap(label: str, chars: int, lines: int = 3) -> list[str]:
    """`label` in at most `lines` lines of about `chars` characters, broken after spaces,
    underscores, slashes or hyphens; the last line cut with an ellipsis when it is too long."""
    pieces = [p for p in re.split(r"(?<=[\s_/-])", label) if p]
    out, current = [], ""
    for piece in pieces:
        if current and len((current + piece).rstrip()) > chars:
            out.append(current)
            current = piece
        else:
            current += piece
    out.append(current)
    if len(out) > lines:
        out = out[: lines - 1] + ["".join(out[lines - 1 :])]
    return [shorten(line.strip(), chars) for line in out]
