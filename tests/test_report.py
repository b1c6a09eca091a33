"""The report: one self-contained page per stream, checked in real headless Chromium.

The browser tests (the `chromium` fixture) load each report from a file and fail on any
console error, any request other than the page itself, or any JavaScript dialog; their
screenshots are kept under pytest's tmp folder (printed with -s) to look at.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.report import write_report
from pipeline.store import open_store
from pipeline.streams import discover
from tests import browser
from tests.conftest import PROJECT, write

chromium = browser.chromium  # the fixture: real headless Chromium, or a skip saying why

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
SCRIPT = "<script>alert(1)</script>"
# Names from data that must show as text, never act as markup or links.
HOSTILE = {
    "status": SCRIPT,
    "team": '<img src=x onerror="alert(2)">',
    "other_team": "R&D <b>bold</b>",
    "resource": "https://evil.example/x.js",
}
HOSTILE_LOG = """number,state,sys_updated_on,assigned_to,assignment_group
H1,New,2026-03-02 09:00:00,ann,{team}
H1,{status},2026-03-02 10:00:00,ann,{team}
H1,In Progress,2026-03-02 15:00:00,bob,{other_team}
H1,Resolved,2026-03-03 10:00:00,bob,{other_team}
H2,New,2026-03-02 11:00:00,ann,{team}
H2,{status},2026-03-03 09:00:00,{resource},{resource}
H2,In Progress,2026-03-04 09:00:00,bob,{other_team}
H2,Resolved,2026-03-05 09:00:00,bob,{other_team}
H3,New,2026-03-04 08:00:00,ann,{team}
H3,In Progress,2026-03-04 09:30:00,bob,{other_team}
H3,{status},2026-03-05 09:30:00,ann,{team}
H3,Resolved,2026-03-06 17:00:00,ann,{team}
H4,New,2026-03-05 08:00:00,ann,{team}
H4,{status},2026-03-06 08:00:00,ann,{team}
"""


def _csv_field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """The reports of both sample streams and of a stream whose names are hostile markup.

    Maps stream -> page; the store's connection is `reports["con"]`."""
    folder = tmp_path_factory.mktemp("reports")
    fields = {k: _csv_field(v) if '"' in v else v for k, v in HOSTILE.items()}
    hostile = write(folder / "hostile.csv", HOSTILE_LOG.format(**fields))
    con = open_store(folder / "vsm.duckdb")
    pages = {}
    for name, source in [
        ("claims", PROJECT / "sample_logs" / "claims.csv"),
        ("incidents", PROJECT / "sample_logs" / "incidents.csv"),
        ("hostile", hostile),
    ]:
        found = discover(con, source, name, streams_dir=folder / "streams")
        pages[name] = write_report(con, name, folder / "out", found.settings, NOW)
    pages["con"] = con
    yield pages
    con.close()


@pytest.fixture(scope="module")
def real_reports(real_logs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("real_reports")
    con = open_store(folder / "vsm.duckdb")
    cache: dict[str, Path] = {"con": con}

    def report(name: str) -> Path:
        if name not in cache:
            found = discover(con, real_logs / f"{name}.xes.gz", name, streams_dir=folder / "streams")
            cache[name] = write_report(con, name, folder / "out", found.settings, NOW)
        return cache[name]

    report.con = con

    yield report
    con.close()


def _main_path(con, stream: str) -> list[str]:
    """Main-path steps the map must show, once the map module exists (until then: none)."""
    try:
        import pipeline.vsm_map  # noqa: F401
    except ModuleNotFoundError:
        return []
    rows = con.execute(
        "SELECT step FROM map_steps WHERE stream = ? AND on_main_path ORDER BY position", [stream]
    ).fetchall()
    return [step for (step,) in rows]


def _check_loads_cleanly(chromium, con, page: Path, shots: Path) -> None:
    load = chromium.open_page(page, evaluate={"map": "document.querySelector('#map svg')?.textContent ?? ''"})
    shot = shots / f"{page.parent.name}.png"
    shot.write_bytes(load.screenshot)
    print(f"screenshot: {shot}")
    assert load.console_errors == []
    assert load.other_requests == []
    assert load.dialogs == []
    assert f"Value stream: {page.parent.name}" in load.text
    for heading in (
        "Value stream map",
        "WIP over time",
        "Cumulative flow",
        "Throughput",
        "Lead time",
        "Aging WIP",
        "Top variants",
        "Handoffs between teams",
        "Little's Law",
        "Data-quality findings",
        "Settings used",
    ):
        assert heading in load.text
    assert load.screenshot.startswith(b"\x89PNG")
    for step in _main_path(con, page.parent.name):
        assert step in load.values["map"], f"main-path step {step!r} is not on the map"


@pytest.mark.parametrize("stream", ["claims", "incidents"])
def test_sample_reports_load_in_chromium_without_errors_or_requests(chromium, reports, stream, tmp_path):
    _check_loads_cleanly(chromium, reports["con"], reports[stream], tmp_path)


@pytest.mark.parametrize("stream", ["bpic2013_incidents", "bpic2012"])
def test_real_log_reports_load_in_chromium_without_errors_or_requests(
    chromium, real_reports, stream, tmp_path
):
    _check_loads_cleanly(chromium, real_reports.con, real_reports(stream), tmp_path)


def test_a_status_named_script_shows_as_text_and_opens_no_dialog(chromium, reports, tmp_path):
    load = chromium.open_page(
        reports["hostile"],
        evaluate={
            "all_text": "document.body.textContent",  # with the SVG charts' text
            "elements": "document.querySelectorAll("
            "'script, img, iframe, object, embed, link:not([rel=icon])').length",
        },
    )
    (tmp_path / "hostile.png").write_bytes(load.screenshot)
    assert load.dialogs == []
    assert load.console_errors == []
    assert load.other_requests == []
    assert SCRIPT in load.text  # rendered text, as a reader sees it
    for name in HOSTILE.values():
        assert name in load.values["all_text"], f"{name!r} is not shown as text"
    assert load.values["elements"] == 0


def test_every_name_from_data_is_escaped(reports):
    html = reports["hostile"].read_text(encoding="utf-8")
    for name in HOSTILE.values():
        assert name not in html.replace("https://evil.example/x.js", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in html
    assert "R&amp;D &lt;b&gt;bold&lt;/b&gt;" in html
    assert "<script" not in html.lower()
    assert "onerror=" not in html.replace("onerror=&quot;", "")


@pytest.mark.parametrize("stream", ["claims", "incidents", "hostile"])
def test_the_page_refers_to_nothing_outside_itself(reports, stream):
    html = reports[stream].read_text(encoding="utf-8")
    without_data = html.replace(HOSTILE["resource"], "")
    assert re.findall(r"(?:https?:)?//[\w.-]+", without_data) == []
    assert re.findall(r"@import|@font-face|url\(", without_data) == []
    links = set(re.findall(r'(?:href|src)="([^"]*)"', without_data))
    assert all(link.startswith("#") or link in {"data:,", "map.svg"} for link in links), links


def test_map_svg_stands_alone_and_map_png_beside_it(reports):
    folder = reports["claims"].parent
    svg = (folder / "map.svg").read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in svg.split(">", 1)[0]
    from pipeline.snapshot import find_chromium

    if find_chromium() is None:
        assert not (folder / "map.png").exists()
    else:
        assert (folder / "map.png").read_bytes().startswith(b"\x89PNG")


def test_the_same_store_writes_the_same_page(reports, tmp_path):
    from pipeline.settings import load_settings

    settings = load_settings("claims", reports["claims"].parents[2] / "streams")
    again = write_report(reports["con"], "claims", tmp_path, settings, NOW)
    assert again.read_text(encoding="utf-8") == reports["claims"].read_text(encoding="utf-8")


def test_cli_report_regenerates_from_the_store_and_discover_writes_it(tmp_path, monkeypatch):
    (tmp_path / "sample_logs").symlink_to(PROJECT / "sample_logs")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    found = runner.invoke(app, ["discover", "sample_logs/claims.csv", "--stream", "claims"])
    assert found.exit_code == 0, found.output
    assert (tmp_path / "reports" / "claims" / "index.html").exists()
    again = runner.invoke(app, ["report", "claims", "--out", "elsewhere"])
    assert again.exit_code == 0, again.output
    assert "elsewhere/claims/index.html" in again.output
    assert (tmp_path / "elsewhere" / "claims" / "map.svg").exists()
    nightly = runner.invoke(app, ["compute", "claims", "--no-png"])
    assert nightly.exit_code == 0, nightly.output
    assert not (tmp_path / "reports" / "claims" / "map.png").exists()
    assert (tmp_path / "reports" / "claims" / "map.svg").exists()
    unknown = runner.invoke(app, ["report", "nosuch"])
    assert unknown.exit_code == 2 and "Error:" in unknown.output


def test_no_png_leaves_map_png_out_and_removes_an_older_one(reports, tmp_path):
    from pipeline.settings import load_settings

    settings = load_settings("claims", reports["claims"].parents[2] / "streams")
    stale = tmp_path / "claims" / "map.png"
    stale.parent.mkdir()
    stale.write_bytes(b"\x89PNG an older map")
    page = write_report(reports["con"], "claims", tmp_path, settings, NOW, png=False)
    assert not stale.exists()
    assert (tmp_path / "claims" / "map.svg").exists()
    assert "map.png not written (--no-png)" in page.read_text(encoding="utf-8")
