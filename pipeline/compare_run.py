"""`vsm compare`: the request (one of three forms) made into a comparison, its rows written
to `comparisons` and its page to `reports/<stream>/compare-<before>-<after>.html`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from pipeline.compare import Comparison, compare_streams, compare_windows, write_rows
from pipeline.compare_snapshots import compare_snapshots, snapshot_map_svgs
from pipeline.errors import SettingsError
from pipeline.settings import StreamSettings, check_stream_name


@dataclass(frozen=True)
class Request:
    """What `vsm compare` was asked: one of the three forms (the others left empty)."""

    before: str = ""
    after: str = ""
    other: str = ""
    window: str = ""
    before_snapshot: int | None = None
    after_snapshot: int | None = None

    def form(self) -> str:
        """windows, streams or snapshots; a SettingsError when the options mix or miss forms."""
        given = {
            "windows": bool(self.before or self.after),
            "streams": bool(self.other or self.window),
            "snapshots": self.before_snapshot is not None or self.after_snapshot is not None,
        }
        forms = [k for k, v in given.items() if v]
        usage = (
            "give --before A --after B (two windows), --other STREAM --window W (two streams), or "
            "--before-snapshot RUN --after-snapshot RUN (two snapshots)"
        )
        if len(forms) != 1:
            mixed = " and ".join(forms) if forms else "none"
            raise SettingsError(f"vsm compare: one comparison at a time ({mixed} given): {usage}")
        form = forms[0]
        pairs = {
            "windows": (self.before, self.after, "--before", "--after"),
            "streams": (self.other, self.window, "--other", "--window"),
            "snapshots": (
                self.before_snapshot is not None,
                self.after_snapshot is not None,
                "--before-snapshot",
                "--after-snapshot",
            ),
        }
        a, b, ka, kb = pairs[form]
        if not a or not b:
            raise SettingsError(f"vsm compare: {ka} needs {kb} (and {kb} needs {ka}): {usage}")
        return form


@dataclass
class CompareResult:
    comparison: Comparison
    page: Path


def run_compare(
    con: duckdb.DuckDBPyConnection,
    settings: StreamSettings,
    request: Request,
    out_dir: Path,
    now: datetime,
) -> CompareResult:
    """Make the comparison `request` asks for on `settings`' stream, replace its rows in
    `comparisons` and write its page; the caller publishes (pipeline.publish.writing)."""
    from pipeline.compare_maps import comparison_maps
    from pipeline.compare_page import render_compare_page

    form = request.form()
    stream = settings.name
    fold = {"coverage": settings.discovery.coverage, "max_steps": settings.discovery.max_steps}
    if form == "windows":
        comparison = compare_windows(con, stream, settings.timezone, request.before, request.after, **fold)
    elif form == "streams":
        check_stream_name(request.other)
        comparison = compare_streams(con, stream, request.other, settings.timezone, request.window, **fold)
    else:
        comparison = compare_snapshots(con, stream, request.before_snapshot, request.after_snapshot)
    maps = None
    svgs = None
    if comparison.cohorts is not None:
        maps = comparison_maps(comparison, comparison.coverage, comparison.max_steps)
    else:
        svgs = snapshot_map_svgs(con, comparison)
    write_rows(con, comparison, now)
    html = render_compare_page(comparison, maps, now, svgs)
    folder = Path(out_dir) / stream
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / comparison.page_name
    partial = page.with_name(page.name + ".partial")
    partial.write_text(html, encoding="utf-8")
    os.replace(partial, page)
    return CompareResult(comparison, page)
