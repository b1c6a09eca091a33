"""Tiny logs drawn in tests: write, load and compute them in one call."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pipeline.flow import FlowResult, compute_flow
from pipeline.ingest import ingest
from pipeline.settings import Source, StreamSettings


def load_log(
    con, folder: Path, text: str, *, name: str = "t", as_of: datetime | None = None, **settings
) -> tuple[StreamSettings, FlowResult]:
    """Write `text` as folder/log.csv, load it as stream `name` and compute its flow."""
    path = Path(folder) / "log.csv"
    path.write_text(text, encoding="utf-8")
    stream = StreamSettings(name=name, source=Source(path=str(path)), **settings)
    ingest(con, stream)
    return stream, compute_flow(con, stream, as_of=as_of)


def rows(con, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


# The sample logs' business hours (the keys of a [calendar] table) and two service levels for
# the sample incidents (a condition on priority; first response, paused in the external
# waits): settings the parity and before/after tests add to what discover writes, so the
# *_bh_s columns differ from the elapsed ones and `sla` has rows.
SAMPLE_CALENDAR = """timezone = "Europe/Amsterdam"
hours = { mon = ["08:00-17:00"], tue = ["08:00-17:00"], wed = ["08:00-17:00"],
          thu = ["08:00-17:00"], fri = ["08:00-16:00"] }
holidays = { dates = ["2026-04-06"] }
"""
INCIDENT_SLAS = """
[[sla]]
name = "resolve critical"
where = "priority = '1 - Critical'"
stop = "Resolved"
target = "8h"

[[sla]]
name = "respond"
stop = "first_response"
pause = ["Awaiting Customer", "Awaiting Vendor"]
target = "4h"
warn_at = 0.5
"""
