"""The report: `reports/<stream>/index.html`, one self-contained page per value stream.

The page reads only the store's result tables, through the aggregate queries in
`sql/report/` (a row per day, step, team pair or sampled case, never raw events), draws
its charts with `pipeline.charts` and the map with `pipeline.vsm_map`, and needs nothing
from the network: inline CSS and SVG, system fonts, no script. Every name that comes from
data is escaped (`esc`), in HTML and in SVG alike. Beside it: `map.svg` and `map.png`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipeline.memory import memory_guard
from pipeline.report_data import ReportError, gather
from pipeline.report_page import render_html
from pipeline.settings import StreamSettings, check_stream_name
from pipeline.snapshot import svg_to_png

__all__ = ["ReportError", "map_svg", "report_time", "write_report"]

MAP_PLACEHOLDER = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="640" height="80" viewBox="0 0 640 80">'
    '<rect x="0.5" y="0.5" width="639" height="79" fill="#f8f9fa" stroke="#adb5bd"/>'
    '<text x="320" y="45" text-anchor="middle" font-family="sans-serif" font-size="14">'
    "map not available</text></svg>"
)


def _standalone_svg(svg: str) -> str:
    if "xmlns=" not in svg.split(">", 1)[0]:
        svg = svg.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg"', 1)
    return svg


def map_svg(con: duckdb.DuckDBPyConnection, stream: str) -> str:
    """The value stream map (`pipeline.vsm_map`), or a placeholder while that module is absent."""
    try:
        from pipeline.vsm_map import render_map_svg
    except ModuleNotFoundError as exc:
        if exc.name != "pipeline.vsm_map":
            raise
        return MAP_PLACEHOLDER
    return render_map_svg(con, stream)


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def write_report(
    con: duckdb.DuckDBPyConnection,
    stream: str,
    out_dir: Path,
    settings: StreamSettings,
    now: datetime,
    *,
    png: bool = True,
) -> Path:
    """Write `out_dir/<stream>/index.html`, `map.svg` and `map.png` from the store; return the page's path.

    `png=False` leaves out map.png (headless Chromium costs about a second a run), and
    removes an older one, which would show an older map."""
    check_stream_name(stream)
    with memory_guard(f"writing the report of stream {stream!r}"):
        return _write_report(con, stream, out_dir, settings, now, png)


def _write_report(
    con, stream: str, out_dir: Path, settings: StreamSettings, now: datetime, png: bool
) -> Path:
    data = gather(con, stream, settings.timezone)
    folder = Path(out_dir) / stream
    folder.mkdir(parents=True, exist_ok=True)
    drawn = map_svg(con, stream)
    _write_atomically(folder / "map.svg", _standalone_svg(drawn))
    if png:
        note = svg_to_png(folder / "map.svg", folder / "map.png")
    else:
        (folder / "map.png").unlink(missing_ok=True)
        note = "map.png not written (--no-png)"
    page = folder / "index.html"
    _write_atomically(page, render_html(stream, data, drawn, settings, now, [note] if note else []))
    return page


def report_time() -> datetime:
    """Now, in UTC, to the second: when a report is written."""
    return datetime.now(UTC).replace(microsecond=0)
