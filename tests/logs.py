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
