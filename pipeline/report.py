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

from pipeline.errors import SettingsError
from pipeline.memory import memory_guard
from pipeline.report_data import ReportError, gather
from pipeline.report_page import render_html
from pipeline.settings import StreamSettings, check_stream_name
from pipeline.snapshot import svg_to_png

__all__ = ["ReportError", "check_stored_window", "map_svg", "report_time", "write_report"]

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


def check_stored_window(con: duckdb.DuckDBPyConnection, stream: str, text: str, timezone: str) -> None:
    """`vsm report --window`: the report shows the stored results, so they must be of that
    window (resolved at their as_of, as the compute resolved it); a SettingsError saying how
    to compute it otherwise."""
    from pipeline.windows import parse_window

    row = con.execute(
        'SELECT "window", as_of FROM stream_summary WHERE stream = $stream', {"stream": stream}
    ).fetchall()
    if not row:
        raise ReportError(f"stream {stream!r} has no results in the store; run `vsm compute {stream}` first")
    stored, as_of = row[0]
    wanted = parse_window(text, timezone, as_of, "--window").label
    if wanted != stored:
        raise SettingsError(
            f"--window {text!r} ({wanted}): the stored results of stream {stream!r} are of the window "
            f"{stored}; `vsm compute {stream} --window {text!r}` computes that window and writes its report"
        )


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def write_report(
    con: duckdb.DuckDBPyConnection,
    stream: str,
    out_dir: Path,
    settings: StreamSettings,
    now: datetime,
    *,
    png: bool = True,
    drawn: str | None = None,
) -> Path:
    """Write `out_dir/<stream>/index.html`, `map.svg` and `map.png` from the store; return the page's path.

    `drawn`: the map's SVG when the caller has it as the store's results give it (the compute
    that just published them drew it for its snapshot: pipeline/history.py); else it is drawn
    here from the store. (10M events: reading and drawing it takes about 0.3 s.)

    `png=False` leaves out map.png (headless Chromium costs about a second a run), and
    removes an older one, which would show an older map. The three files are written aside
    (``*.partial``) and put in place together once all are done, the page last: an
    interrupted report leaves the older three as they were, never a map of one run beside
    the page of another."""
    check_stream_name(stream)
    with memory_guard(f"writing the report of stream {stream!r}"):
        return _write_report(con, stream, out_dir, settings, now, png, drawn)


def _write_report(
    con, stream: str, out_dir: Path, settings: StreamSettings, now: datetime, png: bool, drawn: str | None
) -> Path:
    data = gather(con, stream, settings.timezone)
    folder = Path(out_dir) / stream
    folder.mkdir(parents=True, exist_ok=True)
    if drawn is None:
        drawn = map_svg(con, stream)
    svg, image, page = folder / "map.svg", folder / "map.png", folder / "index.html"
    _partial(svg).write_text(_standalone_svg(drawn), encoding="utf-8")
    _partial(image).unlink(missing_ok=True)  # one an interrupted run left is not this run's
    if png:
        note = svg_to_png(_partial(svg), _partial(image))
    else:
        note = "map.png not written (--no-png)"
    _partial(page).write_text(
        render_html(stream, data, drawn, settings, now, [note] if note else []), encoding="utf-8"
    )
    os.replace(_partial(svg), svg)
    if _partial(image).exists():
        os.replace(_partial(image), image)
    else:
        image.unlink(missing_ok=True)  # an older PNG would show an older map
    os.replace(_partial(page), page)
    return page


def report_time() -> datetime:
    """Now, in UTC, to the second: when a report is written."""
    return datetime.now(UTC).replace(microsecond=0)
