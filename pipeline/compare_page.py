"""The comparison page, `reports/<stream>/compare-<before>-<after>.html`: what changed in plain
sentences, the time per step of both windows on one scale, the two maps one above the other in
one layout, every figure in a table, and how each was tested.

One self-contained file like the stream's report (inline CSS and SVG, no script, nothing
fetched); everything from data is escaped. Pure: `render_compare_page` turns a `Comparison`
and its maps into the page's text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from pipeline import compare_stats as cs
from pipeline.compare import APPEARED, DISAPPEARED, Comparison, step_figures, stream_figures
from pipeline.report_page import CSS, Html, _inline_svg, _readable, section, table
from pipeline.svg import esc, nice_ticks, svg, text
from pipeline.vsm_map import MapData, fmt_amount, fmt_duration, fmt_pct, map_svg


@dataclass(frozen=True)
class Figure:
    label: str
    unit: str  # duration, rate, share, cases, number
    better: str = ""  # lower, higher, or '' when neither is better


FIGURES = {
    "lead_time_p50_s": Figure("Lead time p50", "duration", "lower"),
    "lead_time_p85_s": Figure("Lead time p85", "duration", "lower"),
    "lead_time_mean_s": Figure("Lead time mean", "duration", "lower"),
    "throughput_per_day": Figure("Throughput", "rate", "higher"),
    "wip_avg": Figure("Average WIP", "cases"),
    "first_pass_yield": Figure("First-pass yield", "share", "higher"),
    "rework_share": Figure("Rework share of visits", "share", "lower"),
    "handoffs_per_case": Figure("Handoffs per case", "number", "lower"),
    "visits_per_day": Figure("visits", "rate"),
    "queue_time_p50_s": Figure("queue time p50", "duration", "lower"),
    "process_time_p50_s": Figure("process time p50", "duration"),
}
MINUS = "\u2212"
MAX_STEP_SENTENCES = 12
QUEUE_COLOR, PROCESS_COLOR, LEAD_COLOR = "#f5b041", "#4e79a7", "#495057"


def figure_of(name: str) -> Figure:
    """How a figure is named and shown; a snapshot's other figures by their name's ending."""
    if name in FIGURES:
        return FIGURES[name]
    unit = "duration" if name.endswith("_s") else "share" if "yield" in name or "share" in name else "number"
    return Figure(name.replace("_", " "), unit)


def value_text(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "duration":
        return fmt_duration(value)
    if unit == "share":
        return fmt_pct(value)
    if unit == "rate":
        return f"{fmt_amount(value) if value >= 1 or value == 0 else f'{value:.2g}'} per day"
    if unit == "cases":
        return f"{fmt_amount(value)} cases"
    return f"{value:.2f}" if abs(value) >= 0.1 or value == 0 else f"{value:.2g}"


def change_text(change: float | None) -> str:
    """-0.34 as '−34%', 0.031 as '+3%', 0.004 as '+0.4%'; unbounded as '∞'."""
    if change is None:
        return "n/a"
    if math.isinf(change):
        return "+\u221e" if change > 0 else f"{MINUS}\u221e"
    pct = 100 * change
    shown = f"{abs(pct):.1f}" if abs(pct) < 1 else f"{abs(pct):,.0f}"
    if shown in ("0", "0.0"):
        return "0%"
    return f"{'+' if pct > 0 else MINUS}{shown}%"


def interval_text(low: float | None, high: float | None) -> str:
    lo = f"{MINUS}\u221e" if low is None else change_text(low)
    hi = "+\u221e" if high is None else change_text(high)
    return f"95% CI {lo} to {hi}"


def verdict(row: dict) -> str:
    """beyond noise, within noise, too few, not tested, appeared, disappeared."""
    if row["note"] == APPEARED:
        return "appeared"
    if row["note"] == DISAPPEARED and row["significant"] is None:
        return "disappeared"
    if row["significant"] is None:
        return "not tested"
    if row["significant"]:
        return "beyond noise"
    return "too few" if row["note"].startswith("too few") else "within noise"


def sentence(row: dict) -> str:
    """The change of one figure in words: 'Lead time p50 fell from 6.1 d to 4.0 d (−34%, 95% CI
    −41% to −27%)', or '... rose from ... (+3%) — within noise (95% CI −8% to +15%)'."""
    fig = figure_of(row["figure"])
    label = f"{row['step']}: {fig.label}" if row["step"] else fig.label
    before, after = row["before"], row["after"]
    shown_b, shown_a = value_text(before, fig.unit), value_text(after, fig.unit)
    if row["note"] == APPEARED:
        if row["figure"] == "visits_per_day":
            return f"{row['step']} appeared: {row['after_n']:,} visits ended in the after window, none before"
        return f"{label}: {shown_a} after; the step has no visits before"
    if before is None and after is None:
        return f"{label}: not measured in either window"
    if before is None or after is None:
        return f"{label}: {shown_b} before, {shown_a} after ({row['note'] or 'not measured in one window'})"
    if after == before:
        head = f"{label} did not change ({shown_b} in both windows)"
    elif shown_b == shown_a:
        head = f"{label} stayed at about {shown_b}"
    else:
        head = f"{label} {'fell' if after < before else 'rose'} from {shown_b} to {shown_a}"
    pct = "" if row["change"] is None or after == before else change_text(row["change"])
    ci = _interval_of(row)
    kind = verdict(row)
    if kind == "beyond noise":
        return f"{head} ({', '.join(p for p in (pct, ci) if p)})"
    head += f" ({pct})" if pct else ""
    if kind == "too few":
        return f"{head} \u2014 too few to tell: {row['note'].removeprefix('too few to test: ')}"
    if kind == "not tested":
        return f"{head} \u2014 not tested: {row['note']}"
    if "does not confirm" in row["note"]:  # the interval alone would have called it
        why = row["note"].removeprefix("within noise: ")
        return f"{head} \u2014 within noise: {why}" + (f"; {ci}" if ci else "")
    return f"{head} \u2014 within noise" + (f" ({ci})" if ci else "")


def _interval_of(row: dict) -> str:
    if row["change_low"] is None and row["change_high"] is None:
        return ""
    return interval_text(row["change_low"], row["change_high"])


def tone(row: dict) -> str:
    """better / worse for a change beyond noise in a figure where a direction is better."""
    better = figure_of(row["figure"]).better
    if not row["significant"] or not better or row["change"] is None:
        return ""
    improved = (row["change"] < 0) == (better == "lower")
    return "better" if improved else "worse"


# ---------------------------------------------------------------- sections


def _sentences(rows: list[dict]) -> str:
    items = "".join(f'<li class="{tone(r)}">{esc(sentence(r))}</li>' for r in rows)
    return f'<ul class="changes">{items}</ul>'


def _step_sentences(step_rows: list[dict]) -> str:
    """Steps that appeared or disappeared, then each step figure changed beyond noise."""
    gone = [r for r in step_rows if r["figure"] == "visits_per_day" and r["note"] in (APPEARED, DISAPPEARED)]
    gone.sort(key=lambda r: -max(r["before_n"] or 0, r["after_n"] or 0))  # the busiest first
    moved = [r for r in step_rows if r["significant"] and r["note"] not in (APPEARED, DISAPPEARED)]
    picked = (gone + moved)[:MAX_STEP_SENTENCES]
    if not picked:
        return '<p class="note">No step changed beyond noise, and no step appeared or disappeared.</p>'
    items = []
    for r in picked:
        if r["note"] == DISAPPEARED:
            said = f"{r['step']} disappeared: no visit in the after window ({r['before_n']:,} before)"
            items.append(f'<li class="gone">{esc(said)}</li>')
        else:
            items.append(f'<li class="{"new" if r["note"] == APPEARED else tone(r)}">{esc(sentence(r))}</li>')
    more = len(gone) + len(moved) - len(picked)
    tail = (
        f'<p class="note">{more} more (steps that appeared or disappeared, figures beyond noise) '
        "in the table below.</p>"
        if more > 0
        else ""
    )
    return f'<ul class="changes">{"".join(items)}</ul>{tail}'


def _figure_table(rows: list[dict]) -> str:
    body = []
    for r in rows:
        fig = figure_of(r["figure"])
        ci = (
            ""
            if r["change_low"] is None and r["change_high"] is None
            else interval_text(r["change_low"], r["change_high"]).removeprefix("95% CI ")
        )
        kind = verdict(r)
        pill = Html(f'<span class="verdict v-{kind.replace(" ", "-")} {tone(r)}">{esc(kind)}</span>')
        body.append(
            [
                r["step"] or "(stream)",
                fig.label,
                value_text(r["before"], fig.unit),
                value_text(r["after"], fig.unit),
                change_text(r["change"]),
                ci,
                pill,
                r["test"],
                "" if r["p_value"] is None else f"{r['p_value']:.3g}",
                f"{r['before_n']:,} / {r['after_n']:,}" if r["before_n"] is not None else "",
                r["note"],
            ]
        )
    headers = [
        "step",
        "figure",
        "before",
        "after",
        "change",
        "95% interval",
        "verdict",
        "test",
        "p",
        "n before / after",
        "note",
    ]
    return table(headers, body, {2: "num", 3: "num", 4: "num", 5: "nowrap", 8: "num", 9: "num"})


def timeline_chart(comparison: Comparison, order: list[str]) -> str:
    """Lead time p50, then each step's queue and process time p50, before and after, as bars
    on one time scale (the maps' boxes hold the same figures as text)."""
    before, after = comparison.cohorts
    figs = [{r["step"]: r for r in step_figures(c).iter_rows(named=True)} for c in (before, after)]
    leads = [stream_figures(c)["lead_time_p50_s"] for c in (before, after)]
    steps = [s for s in order if s in figs[0] or s in figs[1]]  # the maps' steps; the rarer ones fold

    def total(f: dict | None) -> float:
        return 0.0 if f is None else (f["queue_time_p50_s"] or 0.0) + (f["process_time_p50_s"] or 0.0)

    high = max([v or 0.0 for v in leads] + [total(f.get(s)) for f in figs for s in steps] + [1.0])
    if high <= 1.0 and not any(leads) and not steps:
        return '<p class="note">No completed case and no step time in either window to draw.</p>'
    ticks = _time_ticks(high)
    left, right, row_h, bar_h = 200, 190, 17, 12
    width = 960
    inner = width - left - right
    scale = inner / ticks[-1][0]
    y = 30
    parts = [
        f'<rect x="{left}" y="8" width="12" height="10" fill="{QUEUE_COLOR}"/>',
        text(left + 16, 17, "queue time p50", cls="legend"),
        f'<rect x="{left + 130}" y="8" width="12" height="10" fill="{PROCESS_COLOR}"/>',
        text(left + 146, 17, "process time p50", cls="legend"),
        f'<rect x="{left + 270}" y="8" width="12" height="10" fill="{LEAD_COLOR}"/>',
        text(left + 286, 17, "lead time p50 (completed cases)", cls="legend"),
        text(left + 520, 17, "upper bar: before \u00b7 lower bar: after", cls="legend"),
    ]
    rows = [("Lead time p50", [leads[0], leads[1]], None)] + [
        (s, None, [f.get(s) for f in figs]) for s in steps
    ]
    for name, lead, step_figs in rows:
        parts.append(
            f"<g><title>{esc(name)}</title>{text(left - 8, y + row_h, _clip(name, 30), anchor='end')}</g>"
        )
        for k in range(2):
            top = y + 3 + k * (bar_h + 4)
            tag = "before" if k == 0 else "after"
            if lead is not None:
                parts += _bar(
                    left, top, bar_h, [(lead[k] or 0.0, LEAD_COLOR)], scale, fmt_duration(lead[k]), tag
                )
                continue
            f = step_figs[k]
            if f is None:
                parts.append(text(left + 4, top + bar_h - 2, f"{tag}: not in this window", cls="note"))
                continue
            q, p = f["queue_time_p50_s"], f["process_time_p50_s"]
            label = f"queue {_observed(q)} + process {_observed(p)}"
            parts += _bar(
                left, top, bar_h, [(q or 0.0, QUEUE_COLOR), (p or 0.0, PROCESS_COLOR)], scale, label, tag
            )
        y += 2 * row_h + 12
        parts.append(f'<line x1="{left}" y1="{y - 5}" x2="{left + inner}" y2="{y - 5}" stroke="#f1f3f5"/>')
    base = y + 2
    parts.append(f'<line x1="{left}" y1="{base}" x2="{left + inner}" y2="{base}" stroke="#495057"/>')
    for t, tick_label in ticks:
        x = left + t * scale
        parts.append(f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}" stroke="#495057"/>')
        parts.append(f'<line x1="{x:.1f}" y1="26" x2="{x:.1f}" y2="{base}" stroke="#e9ecef"/>')
        parts.append(text(x, base + 17, tick_label, anchor="middle", cls="tick"))
    height = base + 28
    grid = [p for p in parts if 'stroke="#e9ecef"' in p]
    rest = [p for p in parts if 'stroke="#e9ecef"' not in p]
    return svg(width, height, grid + rest, "Time per step before and after, on one scale")


def _bar(left, top, h, segments, scale, label, tag) -> list[str]:
    parts, x = [], left
    for value, color in segments:
        w = value * scale
        if w > 0:
            parts.append(
                f'<rect x="{x:.1f}" y="{top:.1f}" width="{max(w, 1):.1f}" height="{h}" fill="{color}">'
                f"<title>{esc(tag)}</title></rect>"
            )
        x += w
    parts.append(text(x + 6, top + h - 2, f"{tag}: {label}", cls="value"))
    return parts


def _time_ticks(high_s: float) -> list[tuple[float, str]]:
    """Ticks (seconds, label) in the unit that reads best: d, h, min or s."""
    for unit, name in ((86400, "d"), (3600, "h"), (60, "min"), (1, "s")):
        if high_s >= 2 * unit or unit == 1:
            return [(t * unit, f"{t:g} {name}") for t in nice_ticks(high_s / unit, 6)]
    return [(0.0, "0 s"), (high_s, f"{high_s:g} s")]


def _observed(seconds: float | None) -> str:
    return "not observed" if seconds is None else fmt_duration(seconds)


def _map_block(k: int, label: str, svg_text: str) -> str:
    title = f"<h3>{esc(('Before', 'After')[k])}: {esc(label)}</h3>"
    return f'{title}<div class="map">{_readable(_inline_svg(svg_text))}</div>'


def _clip(name: str, chars: int) -> str:
    return name if len(name) <= chars else name[: chars - 1] + "\u2026"


# ---------------------------------------------------------------- the page

COMPARE_CSS = """
ul.changes{margin:6px 0 4px;padding-left:20px}ul.changes li{margin:3px 0}
ul.changes li.better{color:#1b5e20}ul.changes li.worse{color:#a61e1e}
ul.changes li.gone{color:#495057}ul.changes li.new{color:#1b5e20}
.v-beyond-noise{background:#e7f5ff;color:#1c4e80}.v-beyond-noise.better{background:#d3f9d8;color:#1b5e20}
.v-beyond-noise.worse{background:#ffe3e3;color:#a61e1e}
.v-within-noise,.v-not-tested{background:#f1f3f5;color:#495057}.v-too-few{background:#fff3bf;color:#7a5b00}
.v-appeared{background:#d3f9d8;color:#1b5e20}
h3{font-size:15px;margin:14px 0 4px}
svg text.value{fill:#343a40;font-size:11px}svg text.legend{fill:#343a40;font-size:12px}
svg text.tick{fill:#495057;font-size:11px}svg text.note{fill:#6c757d;font-size:11px;font-style:italic}
"""


def _side_facts(comparison: Comparison, k: int) -> str:
    side = (comparison.before, comparison.after)[k]
    name = ("before", "after")[k]
    label = comparison.page_labels[k]
    if side is None:
        run = (comparison.before_run_id, comparison.after_run_id)[k]
        return f"{name}: snapshot of run {run} ({label})"
    cohort = comparison.cohorts[k]
    measured = (
        f"{side.span_start:%Y-%m-%d %H:%M} to {side.span_end:%Y-%m-%d %H:%M} UTC ({side.days:,.1f} days)"
    )
    clipped = ", the part of the window the stream's events cover" if side.clipped else ""
    return (
        f"{name}: {label} \u2014 {cohort.cases.height:,} cases completed, "
        f"{cohort.visits.height:,} visits ended; "
        f"measured {measured}{clipped}"
    )


def render_compare_page(
    comparison: Comparison,
    maps: tuple[MapData, MapData] | None,
    now: datetime,
    snapshot_svgs: tuple[str, str] | None = None,
) -> str:
    """The whole page as one string."""
    rows = comparison.rows.to_dicts()
    stream_rows = [r for r in rows if not r["step"]]
    step_rows = [r for r in rows if r["step"]]
    title = f"Compare: {comparison.stream}" + (
        f" with {comparison.other_stream}" if comparison.other_stream else ""
    )
    facts = "".join(f"<li>{esc(_side_facts(comparison, k))}</li>" for k in (0, 1))
    header = (
        f'<header><h1>{esc(title)}</h1><ul class="facts">{facts}'
        f"<li>compared {now:%Y-%m-%d %H:%M} UTC; the rows are in the <code>comparisons</code> table</li>"
        "</ul></header>"
    )
    body = [header]
    body.append(
        section(
            "changed",
            "What changed",
            _sentences(stream_rows) + "<h3>Steps</h3>" + _step_sentences(step_rows),
            "Each change with its 95% interval; a change the interval does not separate from no change, "
            "or that its second test does not confirm, is called within noise.",
        )
    )
    order: list[str] = []
    if comparison.cohorts is not None:
        from pipeline.compare_maps import layout_order

        order = layout_order(*comparison.cohorts, comparison.coverage, comparison.max_steps)
        steps = {r["step"] for r in step_rows}
        folded = len(steps - set(order))
        rarer = (
            f" The {folded} rarer steps, folded into 'other' on the maps, are in the comparisons table."
            if folded
            else ""
        )
        body.append(
            section(
                "timeline",
                "Time per step, to scale",
                timeline_chart(comparison, order),
                "Queue and process time p50 of the visits that ended in each window, before above after, "
                "on one time axis, for the steps on the maps." + rarer,
            )
        )
    if maps is not None:
        drawn = "".join(_map_block(k, comparison.page_labels[k], map_svg(m)) for k, m in enumerate(maps))
        body.append(
            section(
                "maps",
                "The two maps",
                drawn,
                "One layout for both: the same steps in the same places. NEW marks a step only the after "
                "window has, GONE AFTER one only the before window has; a grey dashed box, a step with no "
                "visit in that window. Decision points are not drawn on compared maps.",
            )
        )
    elif snapshot_svgs is not None:
        drawn = "".join(_map_block(k, comparison.page_labels[k], s) for k, s in enumerate(snapshot_svgs) if s)
        body.append(
            section(
                "maps",
                "The two maps",
                drawn or '<p class="note">These snapshots kept no map.</p>',
                "The maps as each snapshot's compute drew them (their layouts may differ).",
            )
        )
    shown = rows
    note = ""
    if comparison.cohorts is not None:  # the steps on the maps; a log of 600 teams has the rest in the table
        mapped = set(order)
        shown = [r for r in rows if not r["step"] or r["step"] in mapped]
        rest = len({r["step"] for r in rows if r["step"] and r["step"] not in mapped})
        if rest:
            note = (
                f'<p class="note">The figures of {rest} rarer steps (folded into "other" on the maps) are in '
                'the comparisons table: <code>vsm sql "SELECT * FROM comparisons WHERE ..."</code>.</p>'
            )
    body.append(section("figures", "All figures", _figure_table(shown) + note))
    body.append(section("tests", "How the changes are tested", _method()))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}{COMPARE_CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


def _method() -> str:
    items = [
        f"Lead time and step times (p50, p85): bootstrap of the relative change ({cs.RESAMPLES:,} resamples, "
        "a fixed seed), "
        "and the Mann-Whitney rank test on the two distributions; both must agree.",
        "Throughput and visits per day: Poisson rate ratio, exact interval, confirmed by the binomial test.",
        "First-pass yield: Wilson intervals combined into an interval of the ratio (MOVER-R), confirmed by "
        "Fisher's exact test.",
        "Rework share (rework visits / visits): bootstrap over cases, confirmed by a z test; handoffs per "
        "case: bootstrap of the mean, confirmed by Welch's t test.",
        "Average WIP: the cases in flight as a compound Poisson sum, normal interval of the log ratio.",
        f"Fewer than {cs.MIN_N} cases (visits, for a step) in a window: shown, never called beyond noise. "
        "Cohorts: lead time, yield, rework, handoffs and throughput over cases completed in the window; "
        "WIP over the cases in flight during it; step figures over visits that ended in it "
        "(docs/metrics.md, Comparing windows).",
    ]
    return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


__all__ = ["pl", "render_compare_page", "sentence", "timeline_chart"]
