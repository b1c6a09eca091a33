"""The history of a stream's computes (issue 19): metric_history and map_history snapshots,
`vsm history`, the export, and the report's trend section (checked in headless Chromium).

The log: three cases, point log, end step B; all times 2026-03-DD HH:MM UTC.
    c1  A 02 09:00, B 03 09:00           lead 1 d
    c2  A 02 12:00, B 04 12:00           lead 2 d
    c3  A 03 08:00                       open
Later a fourth case arrives (c4: A 05 08:00, B 09 08:00, lead 4 d), and the figures move.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.flow import compute_flow
from pipeline.history import snapshot_map_svg
from pipeline.ingest import ingest
from pipeline.report import write_report
from pipeline.settings import Source, StreamSettings, write_settings
from pipeline.store import open_store
from tests import browser
from tests.logs import rows

chromium = browser.chromium
runner = CliRunner()
DAY = 86400.0
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)

LOG = """case_id,activity,timestamp
c1,A,2026-03-02 09:00
c1,B,2026-03-03 09:00
c2,A,2026-03-02 12:00
c2,B,2026-03-04 12:00
c3,A,2026-03-03 08:00
"""
LATER = "c4,A,2026-03-05 08:00\nc4,B,2026-03-09 08:00\n"


def stream_settings(folder: Path) -> StreamSettings:
    return StreamSettings(
        name="h",
        source=Source(path=str(folder / "log.csv")),
        log_shape="point",
        end_activities=["B"],
        stale_after="60d",
    )


@pytest.fixture
def project(tmp_path):
    """A project folder: streams/h.toml, the log, and a store computed once."""
    (tmp_path / "log.csv").write_text(LOG, encoding="utf-8")
    settings = stream_settings(tmp_path)
    (tmp_path / "streams").mkdir()
    write_settings(settings, tmp_path / "streams" / "h.toml")
    con = open_store(tmp_path / "vsm.duckdb")
    ingest(con, settings)
    compute_flow(con, settings)
    yield tmp_path, con, settings
    con.close()


def snapshot_figures(con, run_id: int) -> dict:
    return dict(
        rows(con, "SELECT figure, value FROM metric_history WHERE run_id = ? AND step = ''", [run_id])
    )


def compute_runs(con) -> list[int]:
    return [r[0] for r in rows(con, "SELECT run_id FROM runs WHERE kind = 'compute' ORDER BY run_id")]


def test_a_compute_appends_its_figures_and_map(project):
    _, con, _ = project
    (run,) = compute_runs(con)
    figures = snapshot_figures(con, run)
    # completed c1 (1 d) and c2 (2 d): p50 1.5 d; both first pass
    assert figures["completed_cases"] == 2
    assert figures["lead_time_p50_s"] == pytest.approx(1.5 * DAY)
    assert figures["first_pass_yield"] == 1.0
    # every number column of stream_summary, by its name, equal to the published value
    cur = con.execute("SELECT * FROM stream_summary")
    published = dict(zip([d[0] for d in cur.description], cur.fetchall()[0], strict=True))
    for name, value in figures.items():
        assert value == (None if published[name] is None else pytest.approx(float(published[name]))), name
    assert {"throughput_per_day", "wip_avg", "lead_time_p85_s", "cases"} <= set(figures)
    # step figures carry their step
    queue = dict(rows(con, "SELECT step, value FROM metric_history WHERE figure = 'visits' AND step <> ''"))
    assert queue == {"A": 3.0, "B": 2.0}
    (window, svg, steps, data) = rows(
        con, 'SELECT "window", map_svg, map_steps::VARCHAR, map_data::VARCHAR FROM map_history'
    )[0]
    assert window == "all"
    assert svg.startswith("<svg") and ">A<" in svg.replace("</tspan>", "<")
    assert [s["step"] for s in json.loads(steps)] == ["A", "B"]
    assert snapshot_map_svg(data) == svg  # the stored data redraws the stored map exactly


def test_a_compute_hands_on_the_map_its_snapshot_drew_which_is_the_stores_map(project):
    # the report of the same refresh shows this SVG instead of drawing it again (streams.refresh)
    from pipeline.vsm_map import render_map_svg

    _, con, settings = project
    result = compute_flow(con, settings, full=True)
    (stored,) = rows(con, "SELECT map_svg FROM map_history ORDER BY run_id DESC LIMIT 1")[0]
    assert result.map_svg == stored == render_map_svg(con, settings.name)
    assert compute_flow(con, settings).map_svg is None  # current: nothing drawn, the report draws it


def test_a_current_compute_adds_no_snapshot_and_recomputes_never_delete_one(project):
    folder, con, settings = project
    compute_flow(con, settings)  # nothing changed: current
    assert rows(con, "SELECT count(*) FROM map_history") == [(1,)]
    first = compute_runs(con)[0]
    before = snapshot_figures(con, first)
    with (folder / "log.csv").open("a", encoding="utf-8") as f:
        f.write(LATER)
    ingest(con, settings)
    compute_flow(con, settings)
    assert rows(con, "SELECT count(*) FROM map_history") == [(2,)]
    assert snapshot_figures(con, first) == before  # the old snapshot as it was
    latest = rows(con, "SELECT max(run_id) FROM map_history")[0][0]
    # now c1 1 d, c2 2 d, c4 4 d: p50 2 d
    assert snapshot_figures(con, latest)["lead_time_p50_s"] == pytest.approx(2 * DAY)
    compute_flow(con, settings, full=True)
    assert rows(con, "SELECT count(*) FROM map_history") == [(3,)]


def test_vsm_history_lists_the_snapshots(project):
    folder, con, settings = project
    settings.window = "2026-03-03..2026-03-04"
    compute_flow(con, settings)
    con.close()
    db = str(folder / "vsm.duckdb")
    out = runner.invoke(app, ["history", "h", "--db", db])
    assert out.exit_code == 0, out.output
    text = out.output
    assert "2026-03-03..2026-03-04" in text and "all" in text
    assert text.index("2026-03-03..2026-03-04") < text.index(" all ")  # newest first
    assert "1.50 d" in text  # the first snapshot's p50
    out = runner.invoke(app, ["history", "h", "--db", db, "--figure", "process_time_p50_s", "--limit", "1"])
    assert out.exit_code == 0, out.output
    assert "process_time_p50_s" in out.output and " all " not in out.output
    unknown = runner.invoke(app, ["history", "nope", "--db", db])
    assert unknown.exit_code == 2 and "nothing in the store" in unknown.output
    bad = runner.invoke(app, ["history", "h", "--db", db, "--figure", "speed"])
    assert bad.exit_code == 2 and "--figure speed" in bad.output


def test_the_export_holds_the_history(project):
    folder, con, _ = project
    con.close()
    out = runner.invoke(
        app,
        ["export", "h", "--out", str(folder / "out"), "--db", str(folder / "vsm.duckdb"),
         "--streams-dir", str(folder / "streams"), "--format", "csv"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert (folder / "out" / "map_history.csv").exists()
    lines = (folder / "out" / "metric_history.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("stream,computed_at,run_id,window,window_start,window_end,figure,step,value")
    assert sum(",lead_time_p50_s," in line for line in lines) == 1


def test_report_window_must_match_the_stored_results(project):
    folder, con, _ = project
    con.close()
    args = ["report", "h", "--db", str(folder / "vsm.duckdb"), "--streams-dir", str(folder / "streams")]
    refused = runner.invoke(app, [*args, "--out", str(folder / "r"), "--no-png", "--window", "2026-03"])
    assert refused.exit_code == 2 and "vsm compute h --window" in refused.output
    ok = runner.invoke(app, [*args, "--out", str(folder / "r"), "--no-png", "--window", "all"])
    assert ok.exit_code == 0, ok.output


def test_the_trend_section_in_chromium(project, chromium, tmp_path):
    folder, con, settings = project
    page = write_report(con, "h", folder / "reports", settings, NOW, png=False)
    html = page.read_text(encoding="utf-8")
    assert "One snapshot so far" in html
    with (folder / "log.csv").open("a", encoding="utf-8") as f:
        f.write(LATER)
    ingest(con, settings)
    compute_flow(con, settings)
    settings.window = "2026-03-03..2026-03-09"
    compute_flow(con, settings)
    page = write_report(con, "h", folder / "reports", settings, NOW, png=False)
    load = chromium.open_page(page, evaluate={"trend": "document.querySelector('#trend')?.innerText ?? ''"})
    shot = tmp_path / "trend.png"
    shot.write_bytes(load.screenshot)
    print(f"screenshot: {shot}")
    assert load.console_errors == [] and load.other_requests == []
    assert "Trend" in load.text and "One snapshot so far" not in load.text
    # three snapshots, oldest first: p50 1.5 d (c1, c2), 2.0 d (c1, c2, c4), then the window's
    # (completed Mar 3..9: c1, c2, c4 again: 2.0 d)
    table = load.values["trend"].splitlines()
    snapshots = [line.split("\t") for line in table if line.count("\t") == 9 and line[:1].isdigit()]
    assert [(r[3], r[5]) for r in snapshots] == [
        ("all", "1.5 d"),
        ("all", "2.0 d"),
        ("2026-03-03..2026-03-09", "2.0 d"),
    ]


def test_compare_two_real_snapshots_reads_what_each_compute_published(project):
    """Two computes of the log (c1, c2 done; then c4 too), compared by their run ids: the
    before and after figures are the stream_summary values each compute published, the
    change their relative difference, untested, and the page draws each snapshot's map."""
    folder, con, settings = project
    first = compute_runs(con)[0]
    p50_first = rows(con, "SELECT lead_time_p50_s FROM stream_summary")[0][0]
    with (folder / "log.csv").open("a", encoding="utf-8") as f:
        f.write(LATER)
    ingest(con, settings)
    compute_flow(con, settings)
    second = compute_runs(con)[-1]
    p50_second = rows(con, "SELECT lead_time_p50_s FROM stream_summary")[0][0]
    assert (p50_first, p50_second) == (1.5 * DAY, 2 * DAY)  # by hand: (1 d, 2 d) then (1, 2, 4 d)
    con.close()
    db = str(folder / "vsm.duckdb")
    out = runner.invoke(
        app,
        ["compare", "h", "--db", db, "--streams-dir", str(folder / "streams"),
         "--before-snapshot", str(first), "--after-snapshot", str(second), "--out", str(folder / "reports")],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "Lead time p50 rose from 1.5 d to 2 d (+33%)" in out.output
    con2 = open_store(folder / "vsm.duckdb", read_only=True)
    try:
        found = rows(
            con2,
            "SELECT before, after, change, significant FROM comparisons "
            "WHERE figure = 'lead_time_p50_s' AND step = ''",
        )
        steps = {r[0] for r in rows(con2, "SELECT DISTINCT figure FROM comparisons WHERE step <> ''")}
    finally:
        con2.close()
    assert found == [(1.5 * DAY, 2 * DAY, pytest.approx(1 / 3), None)]
    # per step only the figures a comparison of windows shows, not every column kept
    assert steps <= {
        "visits",
        "visits_per_day",
        "queue_time_p50_s",
        "process_time_p50_s",
        "first_pass_yield",
        "wip_avg",
    }
    pages = list((folder / "reports" / "h").glob("compare-run_*.html"))
    assert len(pages) == 1 and pages[0].read_text(encoding="utf-8").count("<svg") >= 2
