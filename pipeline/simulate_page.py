"""The future-state page of `vsm simulate`: the validation, the scenario's changes, the
current-state map's drawing with the changed steps marked (CHANGED; a removed step greyed)
and each figure shown as current -> predicted (p10-p90 over the replications), and the
`simulations` rows as a table."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import duckdb

from pipeline.report_page import _inline_svg, section, table
from pipeline.svg import esc
from pipeline.vsm_map import CHANGED, REMOVED, MapData, fmt_amount, fmt_duration, load_map_data, map_svg

_SUMMARY_KEYS = {
    "lead_time_p50_s": ("lead_time_p50", fmt_duration),
    "lead_time_p85_s": ("lead_time_p85", fmt_duration),
    "throughput_per_day": ("throughput_per_day", fmt_amount),  # per day
    "wip_avg": ("wip_avg", fmt_amount),  # cases
}


def changed_steps(result) -> tuple[set[str], set[str]]:
    """(steps the scenario changes, steps it removes)."""
    s = result.scenario
    changed = {x for g in s.merge_steps for x in g}
    for table_ in (s.capacity, s.wip_limit, s.batch_size, s.process_time):
        changed |= {k for k in table_ if k != "stream"}
    for key in s.rework:
        changed |= {p.strip() for p in key.split("->")}
    return changed, set(s.remove_step)


def _arrow(fmt, observed, p50, p10, p90) -> str:
    return f"{fmt(observed)} \u2192 {fmt(p50)} ({fmt(p10)} to {fmt(p90)})"


def future_map(data: MapData, result) -> MapData:
    """`data` (the current-state map) with the scenario's changes marked and the predicted
    figures in the summary and the queues."""
    if data.summary is None:
        return data
    changed, removed = changed_steps(result)
    rows = result.rows.to_dicts()
    stream = {r["figure"]: r for r in rows if not r["step"]}
    queues = {r["step"]: r for r in rows if r["step"]}
    predicted = []
    for figure, (key, fmt) in _SUMMARY_KEYS.items():
        r = stream.get(figure)
        if r is not None:
            # from the model's own current state (the observed figure for `current`: its check)
            base = r["observed"] if result.scenario.name == "current" else r["current_p50"]
            predicted.append((key, _arrow(fmt, base, r["p50"], r["p10"], r["p90"])))
    steps = []
    for step in data.steps:
        mark = REMOVED if step.step in removed else CHANGED if step.step in changed else step.mark
        q = queues.get(step.step)
        said = ()
        if q is not None and q["p50"] is not None and step.step not in removed:
            said = (fmt_duration(q["p50"]), f"{fmt_duration(q['p10'])}\u2013{fmt_duration(q['p90'])}")
        steps.append(replace(step, mark=mark, predicted_queue=said))
    return replace(data, summary=replace(data.summary, predicted=tuple(predicted)), steps=tuple(steps))


def _shown(figure: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    return fmt_duration(value) if figure.endswith("_s") else fmt_amount(value)


def render_simulate_page(con: duckdb.DuckDBPyConnection, result, now: datetime) -> str:
    v = result.validation
    name = result.scenario.name
    verdict = (
        f"The current-state model reproduces the observed lead times (distance {v.emd_relative:.2f} of the "
        "median, threshold 0.25): the figures below are predictions."
        if v.passed
        else f"NOT PREDICTIONS: the current-state model does not reproduce the observed lead times (distance "
        f"{v.emd_relative:.2f} of the median, threshold 0.25). The step it gets most wrong: {v.wrong_why}."
    )
    p = lambda s: fmt_duration(s) if s is not None else "n/a"  # noqa: E731
    facts = [
        f"observed lead time p50 {p(v.observed_p50_s)}, p85 {p(v.observed_p85_s)}; simulated current state "
        f"p50 {p(v.simulated_p50_s)}, p85 {p(v.simulated_p85_s)}",
        f"{int(result.rows['replications'][0])} replications of {result.rows['horizon_days'][0]:g} days, "
        f"seed {int(result.rows['seed'][0])}; simulated {now:%Y-%m-%d %H:%M} UTC; rows in the "
        "<code>simulations</code> table",
    ]
    changes = result.scenario.changes() or ["none: the current state (the validation run)"]
    header = (
        f"<header><h1>Future state: {esc(result.stream)} \u00b7 {esc(name)}</h1>"
        f'<p class="verdict {"ok" if v.passed else "refused"}">{esc(verdict)}</p>'
        f'<ul class="facts">{"".join(f"<li>{f}</li>" for f in facts)}</ul></header>'
    )
    body = [header]
    body.append(
        section("changes", "Changes", "<ul>" + "".join(f"<li>{esc(c)}</li>" for c in changes) + "</ul>")
    )
    svg = _inline_svg(map_svg(future_map(load_map_data(con, result.stream), result)))
    body.append(
        section(
            "map",
            "Future-state map",
            f'<div class="map">{svg}</div>',
            "The current-state map with the changed steps marked; summary figures as the simulated current "
            "state \u2192 predicted (p10\u2013p90 over the replications; for the scenario current, observed "
            "\u2192 simulated), so the change is the scenario's, not the model's error.",
        )
    )
    headers = ["figure", "step", "observed", "current_p50", "p10", "p50", "p90", "change"]
    numbers = ("observed", "current_p50", "p10", "p50", "p90")
    rows = [
        [
            _shown(r["figure"], r[h])
            if h in numbers
            else ("n/a" if r[h] is None else f"{r[h]:+.0%}")
            if h == "change"
            else r[h]
            for h in headers
        ]
        for r in result.rows.to_dicts()
    ]
    body.append(section("figures", "Figures", table(headers, rows, {i: "num" for i in range(2, 8)})))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Future state: {esc(result.stream)} {esc(name)}</title><style>{_CSS}</style></head><body>"
        + "".join(body)
        + "</body></html>\n"
    )


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;margin:24px;color:#212529}
.verdict{padding:8px 12px;border-radius:4px;max-width:1100px}
.verdict.ok{background:#ebfbee;border:1px solid #2b8a3e}
.verdict.refused{background:#fff4e6;border:1px solid #e8590c;font-weight:bold}
.facts{color:#495057}.map{overflow-x:auto}.map svg{max-width:100%;height:auto}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #dee2e6;padding:3px 8px;text-align:right}
"""
