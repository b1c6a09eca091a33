"""What the report shows, read from the store: small frames from the result tables.

Every query is a file in `sql/report/` and reads aggregates (a row per day, step, team
pair, or a fixed sample of at most `MAX_POINTS` cases), never raw events, so a log of ten
million events draws as fast as a small one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl

from pipeline.errors import VsmError
from pipeline.store import query_frame, read_sql
from pipeline.svg import nice_ticks

TOP_BANDS = 8  # cumulative flow: steps drawn as their own band
TOP_AGING_COLUMNS = 12
TOP_VARIANTS = 10
TOP_TEAMS = 12  # handoff matrix rows and columns
MAX_POINTS = 3000  # scatter and aging chart: a fixed sample beyond this
HISTOGRAM_BINS = 30
TREND_SNAPSHOTS = 20  # the trend section: the latest snapshots
OTHER = {"step": "(other steps)", "status": "(other statuses)"}


class ReportError(VsmError):
    exit_code = 1


# ---------------------------------------------------------------- the data


def _frame(con: duckdb.DuckDBPyConnection, name: str, params: dict) -> pl.DataFrame:
    sql = read_sql(f"report/{name}.sql")
    return query_frame(con, sql, {k: v for k, v in params.items() if f"${k}" in sql})


LEAD_IN_SHARE = 0.01  # days before 1% of the completions ...
LEAD_IN_MIN_DAYS_SHARE = 0.1  # ... are left off the charts over time when they are 10% of the window


def shown_from(wip_daily: pl.DataFrame) -> date | None:
    """The first day the charts over time show, or None for the whole window.

    An export of the cases that completed in some period (BPIC 2013: closed in 2012) reaches
    back to the arrival of its oldest case, so most of its window holds only a trickle of
    arrivals and no completions. Those days say nothing about flow and squash the days that
    do, so they are left off when they are at least 10% of the window and see under 1% of the
    completions; the page says so."""
    if wip_daily.is_empty() or not wip_daily["done"][-1]:
        return None
    total = wip_daily["done"][-1]
    first = wip_daily.filter(pl.col("done") >= LEAD_IN_SHARE * total)["day"][0]
    before = wip_daily.filter(pl.col("day") < first).height
    return first if before >= LEAD_IN_MIN_DAYS_SHARE * wip_daily.height else None


@dataclass
class ReportData:
    summary: dict
    runs: pl.DataFrame
    wip_daily: pl.DataFrame
    positions: dict[str, float]
    cfd_bands: pl.DataFrame
    lead_stats: dict
    lead_points: pl.DataFrame
    lead_bins: pl.DataFrame
    bin_days: float
    lead_cap_days: float
    aging_points: pl.DataFrame
    aging_steps: pl.DataFrame
    variants: pl.DataFrame
    handoffs: pl.DataFrame
    littles_law: pl.DataFrame
    findings: pl.DataFrame
    trend: pl.DataFrame  # the latest snapshots (metric_history), oldest first
    sla_attainment: pl.DataFrame  # per [[sla]] and priority (empty: no service levels)
    sla_weekly: pl.DataFrame


def gather(con: duckdb.DuckDBPyConnection, stream: str, timezone: str) -> ReportData:
    """Everything the page shows, as small frames from the result tables."""
    params = {"stream": stream, "timezone": timezone, "top": TOP_BANDS, "limit": MAX_POINTS}
    summary_rows = _frame(con, "rpt_summary", params).to_dicts()
    if not summary_rows:
        raise ReportError(f"stream {stream!r} has no results in the store; run `vsm compute {stream}` first")
    summary = summary_rows[0]
    params["log_shape"] = summary["log_shape"]
    positions = dict(_frame(con, "rpt_positions", params).iter_rows())
    cfd_name = "rpt_cfd_statuses" if summary["log_shape"] == "status" else "rpt_cfd_steps"
    other = OTHER["status" if summary["log_shape"] == "status" else "step"]
    cfd = _frame(con, cfd_name, params).with_columns(
        position=pl.col("band").replace_strict(positions, default=None, return_dtype=pl.Float64),
        band=pl.col("band").fill_null(other),
    )
    cfd = cfd.with_columns(position=pl.col("position").fill_null(math.inf))
    lead_stats = _frame(con, "rpt_lead_time_stats", params).to_dicts()[0]
    cap, bin_days, bins = _lead_time_axes(summary, lead_stats)
    lead_bins = (
        _frame(con, "rpt_lead_time_histogram", params | {"bin_days": bin_days, "bins": bins})
        if lead_stats["completed"]
        else pl.DataFrame(schema={"bin": pl.Int32, "cases": pl.Int64, "open_ended": pl.Boolean})
    )
    return ReportData(
        summary=summary,
        runs=_frame(con, "rpt_runs", params),
        wip_daily=_frame(con, "rpt_wip_daily", params),
        positions=positions,
        cfd_bands=cfd,
        lead_stats=lead_stats,
        lead_points=_frame(con, "rpt_lead_time_points", params),
        lead_bins=lead_bins,
        bin_days=bin_days,
        lead_cap_days=cap,
        aging_points=_frame(con, "rpt_aging_points", params),
        aging_steps=_frame(con, "rpt_aging_steps", params),
        variants=_frame(con, "rpt_variants", params | {"top": TOP_VARIANTS}),
        handoffs=_frame(con, "rpt_handoffs", params | {"top": TOP_TEAMS}),
        littles_law=_frame(con, "rpt_littles_law", params),
        findings=_frame(con, "rpt_quality_findings", params),
        trend=_frame(con, "rpt_trend", params | {"limit": TREND_SNAPSHOTS}),
        sla_attainment=_frame(con, "rpt_sla_attainment", params),
        sla_weekly=_frame(con, "rpt_sla_weekly", params),
    )


BIN_CHOICES_DAYS = (1 / 24, 2 / 24, 6 / 24, 0.5, 1, 2, 5, 7, 10, 14, 30, 60, 90, 180, 365)


def _lead_time_axes(summary: dict, stats: dict) -> tuple[float, float, int]:
    """(axis cap, bin width, bins), all in days. The axes stop at the 99th percentile (or
    1.25 x p95 when higher) so one very old case does not squash the rest; longer lead times
    go to an open-ended last bin and to the scatter's top edge."""
    if not stats["completed"]:
        return 1.0, 1.0, 1
    p95 = (summary["lead_time_p95_s"] or 0) / 86400
    cap = nice_ticks(min(stats["max_days"], max(stats["p99_days"], 1.25 * p95)) or 1 / 24)[-1]
    bin_days = next((b for b in BIN_CHOICES_DAYS if cap / b <= HISTOGRAM_BINS), BIN_CHOICES_DAYS[-1])
    bins = math.ceil(cap / bin_days - 1e-9)
    if stats["max_days"] >= bins * bin_days:
        bins += 1
    return cap, bin_days, bins
