"""The report page: its sections as HTML, with the charts inline, styled by inline CSS.

Everything that comes from data passes through `esc` (or `cell`, which escapes all but
the markup we built, `Html`); the page holds no script and refers to nothing outside itself.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

import polars as pl

from pipeline import charts
from pipeline.report_data import OTHER, TOP_AGING_COLUMNS, ReportData, shown_from
from pipeline.settings import StreamSettings, render_settings
from pipeline.svg import esc, fmt_number

FEW_COMPLETED = 30  # completed cases below which a window's p85 is not stable (quality_findings.sql)

BETWEEN = {
    "step": "(between steps: one done, the next not started)",
    "status": "(in a done status, not closed yet)",
}


class Html(str):
    """Markup we built ourselves: a table cell holding it is not escaped again."""


def cell(value: object) -> str:
    return value if isinstance(value, Html) else esc(value)


# ---------------------------------------------------------------- formatting


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.1f} d"


def pct(share: float | None, digits: int = 0) -> str:
    return "n/a" if share is None else f"{share:.{digits}%}"


def stamp(moment: datetime | None) -> str:
    if moment is None:
        return "n/a"
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip() if moment.tzinfo else f"{moment:%Y-%m-%d %H:%M}"


def table(
    headers: list[str], rows: list[list[object]], classes: dict[int, str] | None = None, empty: str = ""
) -> str:
    """An HTML table; `classes` gives a column (by index) a CSS class: num, why, window."""
    if not rows:
        return f'<p class="note">{esc(empty or "nothing to show")}</p>'
    classes = classes or {}
    attr = {i: f' class="{c}"' for i, c in classes.items()}
    head = "".join(f"<th{attr.get(i, '')}>{esc(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td{attr.get(i, '')}>{cell(v)}</td>" for i, v in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def section(anchor: str, title: str, body: str, intro: str = "") -> str:
    """A titled part of the page; the map's section spans the window's width, the others 1200px."""
    lead = f'<p class="intro">{esc(intro)}</p>' if intro else ""
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{lead}{body}</section>'


# ---------------------------------------------------------------- the sections


def _inline_svg(svg: str) -> str:
    """An SVG document as markup inside HTML: no XML prolog, no namespace URLs (the HTML
    parser puts <svg> in the SVG namespace itself)."""
    svg = re.sub(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>", "", svg).strip()
    return re.sub(r'\sxmlns(:\w+)?="[^"]*"', "", svg)


MAP_MIN_SCALE = 0.6  # below this the map's text is too small to read: scroll instead


def _readable(svg: str) -> str:
    """A map wider than the page is shrunk to fit, but never below MAP_MIN_SCALE: a long main
    path (BPIC 2012 has 16 steps) scrolls sideways at a size whose text can be read."""
    m = re.match(r'<svg\b[^>]*\bwidth="(\d+(?:\.\d+)?)"', svg)
    if not m or float(m.group(1)) * MAP_MIN_SCALE <= 1200:
        return svg
    width = round(float(m.group(1)) * MAP_MIN_SCALE)
    tag_end = svg.index(">")
    tag = svg[:tag_end]
    if 'class="' in tag:
        tag = tag.replace('class="', 'class="wide ', 1)
    else:
        tag = tag.replace("<svg", '<svg class="wide"', 1)
    return tag.replace("<svg", f'<svg style="width:{width}px"', 1) + svg[tag_end:]


def _header(stream: str, data: ReportData, now: datetime, timezone: str) -> str:
    s = data.summary
    runs = {row["kind"]: row for row in data.runs.to_dicts()}
    computed = runs.get("compute")
    loaded = runs.get("ingest")
    facts = [
        (
            "log",
            f"{s['log_shape']} log; {_count(s['events'], 'event')}, {_count(s['cases'], 'case')}, "
            f"{_count(s['steps'], 'step')}",
        ),
        ("window", _window_fact(s, timezone)),
        ("as of", f"{stamp(s['as_of'])}: the last event; open cases are aged to it"),
        ("loaded", f"run {loaded['run_id']}, {stamp(loaded['finished_at'])}" if loaded else "n/a"),
        ("computed", f"run {computed['run_id']}, {stamp(computed['finished_at'])}" if computed else "n/a"),
        ("report written", stamp(now)),
    ]
    rows = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts)
    return f'<header><h1>Value stream: {esc(stream)}</h1><dl class="facts">{rows}</dl></header>'


def _window_fact(s: dict, timezone: str) -> str:
    span = f"{stamp(s['window_start'])} to {stamp(s['window_end'])} (days in {timezone})"
    if s.get("window", "all") == "all":
        return f"the whole history: {span}"
    return f"{s['window']}: {span}; figures of the cases completed and the visits ended in it"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _cards(data: ReportData) -> str:
    s = data.summary
    overall = data.littles_law.filter(pl.col("window_kind") == "all").to_dicts()
    verdict = overall[0]["verdict"] if overall else "n/a"
    cards = [
        ("lead time p50", duration(s["lead_time_p50_s"]), f"mean {duration(s['lead_time_mean_s'])}"),
        ("lead time p85", duration(s["lead_time_p85_s"]), f"p95 {duration(s['lead_time_p95_s'])}"),
        ("throughput", fmt_number(s["throughput_per_day"], 2), "cases completed per day"),
        ("WIP", fmt_number(s["wip_avg"]), "cases in progress, time-average"),
        ("Little's Law", verdict, "whole window; see the panel"),
        ("first-pass yield", pct(s["first_pass_yield"]), "completed cases with no step repeated"),
        ("flow efficiency", pct(s["flow_efficiency"], 1), "process time / lead time"),
        ("handoffs per case", fmt_number(s["handoffs_per_case"], 2), "between teams"),
        (
            "cases",
            f"{s['completed_cases']:,}",
            f"completed; {s['open_cases']:,} open"
            if s.get("window", "all") == "all"
            else f"completed in the window; {s['open_cases']:,} open at its close",
        ),
    ]
    if s["lead_time_target_s"] is not None:
        cards.append(
            ("over target", f"{s['target_breached'] or 0:,}", f"target {duration(s['lead_time_target_s'])}")
        )
    body = "".join(
        f'<div class="card"><div class="label">{esc(label)}</div><div class="value">{esc(value)}</div>'
        f'<div class="sub">{esc(sub)}</div></div>'
        for label, value, sub in cards
    )
    few = ""
    if s.get("window", "all") != "all" and s["completed_cases"] < FEW_COMPLETED:
        few = (
            f"Only {s['completed_cases']:,} cases completed in the window {s['window']}: fewer than "
            f"{FEW_COMPLETED}, so the lead-time p85 and p95 are not stable; widen the window before "
            "comparing it."
        )
    return section("summary", "Summary", f'<div class="cards">{body}</div>' + _sla_summary(data), few)


def _sla_summary(data: ReportData) -> str:
    """Service-level attainment per [[sla]] and priority, under the cards; nothing without SLAs."""
    rows = [
        [
            r["sla"],
            r["priority"],
            f"{r['cases']:,}",
            pct(r["attainment"], 1),
            f"{r['met']:,}",
            f"{r['breached']:,}",
            f"{r['breached_open']:,}",
            f"{r['at_risk']:,}",
            f"{r['running']:,}",
        ]
        for r in data.sla_attainment.iter_rows(named=True)
    ]
    if not rows:
        return ""
    headers = ["service level", "priority", "cases", "attainment", "met", "breached", "breached, open"]
    return (
        '<h3>Service levels</h3><p class="intro">Attainment: the stopped clocks that met their target '
        "(business time when a calendar is set). Open cases: breached, at risk (past the warning share of "
        "the target) or running, at the measurement instant.</p>"
        + table([*headers, "at risk", "running"], rows, {i: "num" for i in range(2, 9)})
        + charts.sla_attainment_chart(data.sla_weekly)
    )


def _percentiles(s: dict) -> dict[str, float | None]:
    return {
        k: None if s[f"lead_time_{k}_s"] is None else s[f"lead_time_{k}_s"] / 86400
        for k in ("p50", "p85", "p95")
    }


def _shown_days(data: ReportData) -> tuple[pl.DataFrame, str]:
    """The days the charts over time show, and a sentence on any left off."""
    start = shown_from(data.wip_daily)
    if start is None:
        return data.wip_daily, ""
    left_off = data.wip_daily.filter(pl.col("day") < start)
    note = (
        f" The {left_off.height:,} days before {start:%Y-%m-%d} are left off: they saw "
        f"{left_off['departures'].sum():,} of the {data.wip_daily['done'][-1]:,} completions (the log "
        "reaches back to the arrival of its oldest cases)."
    )
    return data.wip_daily.filter(pl.col("day") >= start), note


def _flow_sections(data: ReportData) -> str:
    s = data.summary
    days, note = _shown_days(data)
    by = "status" if s["log_shape"] == "status" else "step"
    wip = section(
        "wip",
        "WIP over time",
        charts.wip_chart(days),
        "Cases arrived and not yet completed, per day." + note,
    )
    bands = data.cfd_bands.filter(pl.col("day") >= days["day"][0]) if not days.is_empty() else data.cfd_bands
    cfd = section(
        "cfd",
        f"Cumulative flow by {by}",
        charts.cumulative_flow_chart(bands, days.select("day", "done", "wip_end"), OTHER[by], BETWEEN[by]),
        f"Bottom band: cases completed since the window opened; above it, the cases in each {by} when "
        f"the day closes, the first {by} on top. The top edge counts the cases arrived, so the height "
        "between it and the done band is the WIP, and the width is roughly the lead time. A band that "
        f"widens is work piling up in that {by}." + note,
    )
    periods, period = charts.throughput_periods(days)
    throughput = section(
        "throughput",
        "Throughput",
        charts.throughput_chart(periods, period),
        f"Cases completed per {period}; the line is the mean over full {period}s.",
    )
    return wip + cfd + throughput


def _lead_time_section(data: ReportData) -> str:
    s, stats = data.summary, data.lead_stats
    days, _ = _shown_days(data)
    points, first, last = data.lead_points, None, None
    if not days.is_empty():
        first, last = days["day"][0], days["day"][-1]
        points = points.filter(pl.col("exit_at").dt.date() >= first)
    sample = (
        f" A fixed sample of {points.height:,} of the {stats['completed']:,} completed cases is drawn; "
        "the percentiles are over all of them."
        if points.height < (stats["completed"] or 0)
        else ""
    )
    axis = (
        f" The axes stop at {fmt_number(data.lead_cap_days)} days; the longest lead time is "
        f"{fmt_number(stats['max_days'])} days."
        if stats["completed"] and stats["max_days"] > data.lead_cap_days
        else ""
    )
    percentiles = _percentiles(s)
    body = charts.lead_time_scatter(points, percentiles, data.lead_cap_days, first, last)
    body += charts.lead_time_histogram(data.lead_bins, percentiles, data.bin_days)
    return section(
        "lead-time",
        "Lead time",
        body,
        "Time from arrival to completion of each completed case, by when it completed, and how lead "
        "times are spread; dashed lines: 50th, 85th and 95th percentiles." + sample + axis,
    )


def _aging_section(data: ReportData) -> str:
    steps = data.aging_steps
    positions = data.positions
    top = steps.head(TOP_AGING_COLUMNS)["current_step"].to_list()
    other = "(other steps)"
    ordered = sorted(top, key=lambda step: (positions.get(step, math.inf), step))
    counts = dict(steps.iter_rows())
    columns = [(step, counts[step]) for step in ordered]
    rest = steps.height - len(top)
    if rest > 0:
        columns.append((other, int(steps.tail(rest)["open_cases"].sum())))
    points = data.aging_points.with_columns(
        column=pl.when(pl.col("current_step").is_in(top))
        .then(pl.col("current_step"))
        .otherwise(pl.lit(other))
    )
    percentiles = _percentiles(data.summary)
    ages = points["age_days"]
    p95 = percentiles["p95"] or 0
    cap = max(ages.max() or 0, p95 * 1.05) if not points.is_empty() else 1
    if not points.is_empty() and ages.max() > 4 * max(ages.quantile(0.95), p95, 1e-9):
        cap = max(ages.quantile(0.99), p95 * 1.05)
    total = int(steps["open_cases"].sum()) if not steps.is_empty() else 0
    rings = points["sla_state"].drop_nulls().len() > 0 if "sla_state" in points.columns else False
    sample = (
        f" A fixed sample of {points.height:,} of the {total:,} open cases is drawn."
        if points.height < total
        else ""
    )
    capped = (
        f" Cases older than {fmt_number(cap)} days sit on the top edge."
        if not points.is_empty() and ages.max() > cap
        else ""
    )
    return section(
        "aging",
        "Aging WIP",
        charts.aging_wip_chart(points, columns, percentiles, cap),
        "Each dot is an open case, in the step (or status) it is in now, as high as its age at the "
        "measurement instant. Dots above the p85 line are older than 85% of completed cases were "
        "when they finished: ask what they wait for."
        + (" A ring marks a case whose service level is at risk or breached." if rings else "")
        + sample
        + capped,
    )


NO_STEPS = "(no work steps)"  # a completed case with no visit to a step: its variant's steps are ''


def _variant_steps(steps: str) -> Html:
    """A variant as a chain of step names; a step repeated in a row shows once with ×n, and a
    long chain keeps its first and last steps around a count of the ones left out. The empty
    variant (cases that completed without visiting any step) is named, not a blank chip."""
    if not steps:
        why = "completed cases that visited no step: only wait / done statuses, or dropped activities"
        chip = f'<span class="step empty">{esc(NO_STEPS)}</span>'
        return Html(f'<span class="chain" title="{esc(why)}">{chip}</span>')
    names = steps.split(" > ")
    runs: list[list] = []
    for name in names:
        if runs and runs[-1][0] == name:
            runs[-1][1] += 1
        else:
            runs.append([name, 1])
    parts = [f'<span class="step">{esc(n)}{f" ×{k}" if k > 1 else ""}</span>' for n, k in runs]
    if len(parts) > 10:
        hidden = sum(k for _, k in runs[7:-2])
        parts = parts[:7] + [f'<span class="more">… {hidden} more …</span>'] + parts[-2:]
    chain = ' <span class="arrow">→</span> '.join(parts)  # the spaces let a long chain wrap
    return Html(f'<span class="chain" title="{esc(" → ".join(names))}">{chain}</span>')


def _variants_section(data: ReportData) -> str:
    rows = [
        [
            r["rank"],
            _variant_steps(r["steps"]),
            r["step_count"],
            f"{r['cases']:,}",
            pct(r["share"], 1),
            pct(r["lead_time_share"], 1),
            duration(r["lead_time_mean_s"]),
        ]
        for r in data.variants.to_dicts()
    ]
    return section(
        "variants",
        "Top variants",
        table(
            ["#", "steps", "length", "cases", "share of cases", "share of lead time", "mean lead time"],
            rows,
            dict.fromkeys([0, 2, 3, 4, 5, 6], "num"),
            empty="no completed cases yet",
        ),
        "The most frequent step sequences of completed cases. A variant with a larger share of lead "
        "time than of cases is slower than the rest.",
    )


def _handoff_section(data: ReportData) -> str:
    h = data.handoffs
    if h.is_empty():
        return section("handoffs", "Handoffs between teams", charts.handoff_matrix(h, []))
    ranks = pl.concat(
        [
            h.select(team="from_team", rank="team_rank_from"),
            h.select(team="to_team", rank="team_rank_to"),
        ]
    ).unique()
    teams = ranks.sort("rank")["team"].to_list()
    total, all_teams = h["all_handoffs"][0], h["all_teams"][0]
    shown = int(h["count"].sum())
    scope = (
        f" The {len(teams)} teams with the most handoffs of {all_teams:,}; they carry "
        f"{shown / total:.0%} of all {total:,} handoffs."
        if all_teams > len(teams)
        else f" All {total:,} handoffs."
    )
    return section(
        "handoffs",
        "Handoffs between teams",
        charts.handoff_matrix(h, teams),
        "Rows hand work to columns: consecutive visits of a case done by different teams "
        "(by different people where a visit has no team)." + scope,
    )


def _window(row: dict) -> str:
    if row["window_kind"] == "all":
        return "whole window"
    return f"{row['window_start']:%Y-%m}"


def _verdict(verdict: str | None) -> Html:
    kind = (verdict or "").replace(" ", "-")
    return Html(f'<span class="verdict v-{esc(kind)}">{esc(verdict)}</span>')


LITTLES_LAW_MONTHS = 12  # monthly rows shown; earlier months are summed up in one line


def _months(n: int) -> str:
    return "month" if n == 1 else f"{n} months"


def _earlier_months(months: pl.DataFrame) -> str:
    verdicts = months.group_by("verdict").len().sort(["len", "verdict"], descending=[True, False])
    counts = ", ".join(f"{n} {v}" for v, n in verdicts.iter_rows())
    return (
        f" The {_months(months.height)} before {months['window_end'][-1]:%Y-%m} "
        f"{'is' if months.height == 1 else 'are'} not listed ({counts}); "
        f"{'it is' if months.height == 1 else 'all are'} in the littles_law table (vsm sql)."
    )


def _littles_law_section(data: ReportData) -> str:
    law = data.littles_law
    months = law.filter(pl.col("window_kind") == "month")
    earlier = months.head(max(months.height - LITTLES_LAW_MONTHS, 0))
    shown = pl.concat([law.filter(pl.col("window_kind") != "month"), months.tail(LITTLES_LAW_MONTHS)])
    rows = [
        [
            _window(r),
            fmt_number(r["wip_avg"]),
            fmt_number(r["predicted_wip"]),
            fmt_number(r["ratio"], 2),
            fmt_number(r["throughput_per_day"], 2),
            duration(r["lead_time_mean_s"]),
            f"{r['arrivals'] or 0:,}",
            f"{r['departures'] or 0:,}",
            _verdict(r["verdict"]),
            r["why"],
        ]
        for r in shown.to_dicts()
    ]
    return section(
        "littles-law",
        "Little's Law",
        table(
            [
                "window",
                "WIP avg",
                "predicted WIP",
                "ratio",
                "throughput / day",
                "mean lead time",
                "arrivals",
                "departures",
                "verdict",
                "why",
            ],
            rows,
            dict.fromkeys([1, 2, 3, 4, 5, 6, 7], "num") | {0: "window", 9: "why"},
        ),
        "Average WIP should equal throughput × mean lead time when the system is stable. The ratio "
        "says how far the measured WIP is from that prediction, and the verdict why."
        + (_earlier_months(earlier) if earlier.height else ""),
    )


def _trend_section(data: ReportData) -> str:
    trend = data.trend
    rows = [
        [
            str(i + 1),
            stamp(r["computed_at"]),
            str(r["run_id"]),
            r["window"],
            "n/a" if r["completed_cases"] is None else f"{int(r['completed_cases']):,}",
            duration(r["lead_time_p50_s"]),
            duration(r["lead_time_p85_s"]),
            fmt_number(r["throughput_per_day"], 2),
            fmt_number(r["wip_avg"]),
            pct(r["first_pass_yield"]),
        ]
        for i, r in enumerate(trend.to_dicts())
    ]
    headers = ["#", "computed", "run", "window", "completed", "lead time p50", "lead time p85",
               "throughput / day", "WIP avg", "first-pass yield"]  # fmt: skip
    intro = (
        "The headline figures of each compute that published results (metric_history; `vsm history` "
        "lists them), oldest first: a re-map after a change shows here beside the map before it. "
        "Snapshots of different windows measure different spans: compare like with like."
    )
    if trend.height == 1:
        intro = "One snapshot so far (this compute): the trend starts with the next compute. " + intro
    return section(
        "trend",
        "Trend",
        charts.trend_chart(trend)
        + table(headers, rows, {0: "num", 4: "num", 5: "num", 6: "num", 7: "num", 8: "num", 9: "num"}),
        intro,
    )


def _findings_section(data: ReportData) -> str:
    rows = [
        [
            Html(f'<span class="sev sev-{esc(r["severity"])}">{esc(r["severity"])}</span>'),
            r["rule"],
            f"{r['count']:,}",
            r["example"] or "",
            r["detail"] or "",
        ]
        for r in data.findings.to_dicts()
    ]
    return section(
        "quality",
        "Data-quality findings",
        table(
            ["severity", "rule", "count", "example", "detail"],
            rows,
            {1: "nowrap", 2: "num"},
            empty="no findings",
        ),
        "What the log shows that may bend the figures above; the example is a case id to look at.",
    )


def _settings_section(settings: StreamSettings, data: ReportData, now: datetime) -> str:
    path = settings.path
    text = path.read_text(encoding="utf-8") if path and path.exists() else render_settings(settings)
    where = f"from {path}" if path and path.exists() else "as in effect (no settings file)"
    computed = [r for r in data.runs.to_dicts() if r["kind"] == "compute"]
    run = (
        f"Flow computed in run {computed[0]['run_id']} at {stamp(computed[0]['finished_at'])}: "
        f"{computed[0]['message']}. "
        if computed
        else ""
    )
    body = f'<p class="note">{esc(run)}Report written {esc(stamp(now))}.</p><pre>{esc(text)}</pre>'
    return section("settings", "Settings used", body, f"The stream's settings {where}.")


CSS = """
:root{color-scheme:light}
*{box-sizing:border-box}
body{margin:0;background:#f1f3f5;color:#212529;
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif}
main{padding:20px 24px 40px}
main>*{max-width:1200px;margin-left:auto;margin-right:auto}
main>section#map{max-width:none}
header h1{font-size:24px;margin:4px 0 10px;overflow-wrap:anywhere}
dl.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:2px 24px;margin:0}
dl.facts div{display:flex;gap:8px}dl.facts dt{color:#495057;min-width:104px}dl.facts dd{margin:0}
nav{margin-top:12px;font-size:13px}nav a{margin-right:14px;color:#1c4e80}
section{background:#fff;border:1px solid #dee2e6;border-radius:6px;padding:14px 20px 18px;
margin-top:16px;margin-bottom:16px}
h2{font-size:18px;margin:0 0 6px}
p.intro{color:#495057;margin:0 0 10px;max-width:900px}p.note{color:#495057;font-size:13px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:10px}
.card{border:1px solid #dee2e6;border-radius:6px;padding:8px 12px}
.card .label{font-size:12px;color:#495057;text-transform:uppercase;letter-spacing:.03em}
.card .value{font-size:22px;font-weight:600;overflow-wrap:anywhere}.card .sub{font-size:12px;color:#6c757d}
svg.chart{display:block;width:100%;max-width:100%;height:auto;margin:8px 0}
svg.chart.matrix{width:auto}
svg text.tick{fill:#495057;font-size:11px}svg text.axis-label{fill:#343a40}
svg text.legend{fill:#343a40}svg text.note,svg text.empty{fill:#6c757d}
svg text.pct{fill:#343a40;font-size:11px}
.map{overflow:auto;border:1px solid #e9ecef;border-radius:4px;padding:8px;background:#fff}
.map svg{display:block;max-width:100%;height:auto;margin:0 auto}
.map svg.wide{max-width:none}
.table{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th{font-weight:600;color:#343a40;border-bottom:2px solid #dee2e6}
th,td{padding:5px 8px;text-align:left;vertical-align:top;border-bottom:1px solid #e9ecef}
td{overflow-wrap:break-word}
th.num,td.num{text-align:right;font-variant-numeric:tabular-nums}td.num,td.nowrap{white-space:nowrap}
.chain .step{background:#e7f0fa;border-radius:3px;padding:0 4px;white-space:nowrap;line-height:1.9}
.chain .step.empty{background:#f1f3f5;color:#6c757d;font-style:italic}
.chain .arrow{color:#868e96}.chain .more{color:#6c757d;white-space:nowrap}
td.why{min-width:280px;width:34%}td.window{white-space:nowrap}
.sev,.verdict{border-radius:3px;padding:1px 6px;white-space:nowrap;font-size:12px}
.sev-error{background:#ffe3e3;color:#a61e1e}.sev-warning{background:#fff3bf;color:#7a5b00}
.sev-info{background:#e7f5ff;color:#1c4e80}
.v-consistent{background:#d3f9d8;color:#1b5e20}.v-WIP-growing,.v-WIP-shrinking{background:#fff3bf;color:#7a5b00}
.v-data-gap{background:#ffe3e3;color:#a61e1e}
pre{background:#f8f9fa;border:1px solid #e9ecef;padding:12px;overflow:auto;font-size:12px;
font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace}
"""

# The page may use its own inline styles and nothing else: no script, no fetch of any kind.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
NAV = [
    ("map", "Map"),
    ("summary", "Summary"),
    ("wip", "WIP"),
    ("cfd", "Cumulative flow"),
    ("throughput", "Throughput"),
    ("lead-time", "Lead time"),
    ("aging", "Aging WIP"),
    ("variants", "Variants"),
    ("handoffs", "Handoffs"),
    ("littles-law", "Little's Law"),
    ("trend", "Trend"),
    ("quality", "Data quality"),
    ("settings", "Settings"),
]


def render_html(
    stream: str, data: ReportData, map_markup: str, settings: StreamSettings, now: datetime, notes: list[str]
) -> str:
    """The whole page as one string."""
    nav = "<nav>" + "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in NAV) + "</nav>"
    note = "".join(f'<p class="note">{esc(n)}</p>' for n in notes)
    map_section = section(
        "map",
        "Value stream map",
        f'<div class="map">{_readable(_inline_svg(map_markup))}</div>'
        '<p class="note">Drawn to fit the window; <a href="map.svg">map.svg</a> shows it at full size. '
        f"Beside this page for slides and tickets: map.svg and map.png.</p>{note}",
    )
    body = (
        _header(stream, data, now, settings.timezone)
        + nav
        + map_section
        + _cards(data)
        + _flow_sections(data)
        + _lead_time_section(data)
        + _aging_section(data)
        + _variants_section(data)
        + _handoff_section(data)
        + _littles_law_section(data)
        + _trend_section(data)
        + _findings_section(data)
        + _settings_section(settings, data, now)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<link rel="icon" href="data:,">'
        f"<title>Value stream: {esc(stream)}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )
