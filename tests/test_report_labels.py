"""What the map, the page and the runs table say: figures that add up (issue 14, item 11) and
the small things a reader trips on (item 12). Tiny logs drawn here, figures worked out by hand.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import polars as pl

from pipeline.flow import compute_flow
from pipeline.ingest import ingest
from pipeline.report import write_report
from pipeline.report_page import _earlier_months, _variant_steps
from pipeline.settings import Source, StreamSettings
from pipeline.vsm_map import fmt_duration, render_map_svg
from tests.conftest import write

SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)

# Monday 2026-03-02, UTC. Every ticket is in team Desk.
#   q1  New 09:00 ........ In Progress 13:00 [===] Resolved 14:00
#       -> In Progress visit 1: queue 4 h, all internal (New)
#   q2  In Progress 09:00 [===] Awaiting Customer 10:00 ...... In Progress 12:00 [===] Resolved 13:00
#       -> visit 1 starts at the ticket's arrival: nothing before it, queue counted as 0
#       -> visit 2 (rework): queue 2 h, all external (Awaiting Customer)
#   q3  New 10:00 .... Resolved 11:00: completed without any work status (the empty variant)
#
# Queue before In Progress, over all 3 visits:
#   mean     (4 h + 0 + 2 h) / 3 = 2 h            (over the 2 visits with a queue it was 3 h)
#   internal (4 h + 0 + 0) / 3   = 1 h 20 min = 4800 s
#   external (0 + 0 + 2 h) / 3   = 40 min     = 2400 s;   4800 + 2400 = 7200 = the mean
#   p50 of [0, 2 h, 4 h]         = 2 h
DESK = """number,state,sys_updated_on,assigned_to,assignment_group
q1,New,2026-03-02T09:00:00Z,,Desk
q1,In Progress,2026-03-02T13:00:00Z,ann,Desk
q1,Resolved,2026-03-02T14:00:00Z,ann,Desk
q2,In Progress,2026-03-02T09:00:00Z,ann,Desk
q2,Awaiting Customer,2026-03-02T10:00:00Z,ann,Desk
q2,In Progress,2026-03-02T12:00:00Z,ann,Desk
q2,Resolved,2026-03-02T13:00:00Z,ann,Desk
q3,New,2026-03-02T10:00:00Z,,Desk
q3,Resolved,2026-03-02T11:00:00Z,,Desk
"""


def _load(store, tmp_path, log: str = DESK, name: str = "desk") -> StreamSettings:
    path = write(tmp_path / f"{name}.csv", log)
    # by status: this log has one team and one work status, which `auto` would map by team
    settings = StreamSettings(name=name, source=Source(path=str(path)), step_by="activity")
    ingest(store, settings)
    compute_flow(store, settings)
    return settings


def _group(root, cls: str, step: str):
    return next(g for g in root.iter(f"{SVG}g") if g.get("class") == cls and g.get("data-step") == step)


def _value(group, key: str) -> str:
    return next(t.text for t in group.iter(f"{SVG}text") if t.get("data-key") == key)


# ---------------------------------------------------------------- item 11: means that add up


def test_queue_mean_and_its_parts_are_over_the_same_visits(store, tmp_path):
    _load(store, tmp_path)
    row = store.execute(
        "SELECT visits, queue_time_mean_s, queue_internal_mean_s, queue_external_mean_s, queue_time_p50_s "
        "FROM step_metrics WHERE stream = 'desk' AND step = 'In Progress'"
    ).fetchall()
    assert row == [(3, 7200.0, 4800.0, 2400.0, 7200.0)]
    visits, mean, internal, external, _ = row[0]
    assert internal + external == mean


def test_the_map_queue_adds_up_and_says_over_how_many_visits(store, tmp_path):
    _load(store, tmp_path)
    root = ET.fromstring(render_map_svg(store, "desk"))
    queue = _group(root, "queue", "In Progress")
    assert _value(queue, "queue_time_mean") == fmt_duration(7200) == "2 h"
    assert _value(queue, "queue_internal_mean") == fmt_duration(4800) == "1.3 h"
    assert _value(queue, "queue_external_mean") == fmt_duration(2400) == "40 min"
    assert _value(queue, "queue_visits") == "3 visits"
    title = queue.find(f"{SVG}title").text
    assert "mean 2 h = internal 1.3 h + waiting on customer / vendor 40 min" in title
    assert "over all 3 visits of the step" in title


def test_a_step_no_visit_waited_before_keeps_its_queue_not_observed(store, tmp_path):
    # Register starts every case (arrival = its start): nothing is known before it.
    log = """case,activity,lifecycle,timestamp
c1,Register,start,2026-03-02T09:00:00Z
c1,Register,complete,2026-03-02T09:30:00Z
c1,Decide,start,2026-03-02T10:00:00Z
c1,Decide,complete,2026-03-02T10:30:00Z
"""
    _load(store, tmp_path, log, name="claims")
    got = store.execute(
        "SELECT step, queue_time_mean_s, queue_time_p50_s FROM step_metrics "
        "WHERE stream = 'claims' ORDER BY step"
    ).fetchall()
    assert got == [("Decide", 1800.0, 1800.0), ("Register", None, None)]


# ---------------------------------------------------------------- item 12: small things


def test_the_empty_variant_is_named_on_the_page(store, tmp_path):
    settings = _load(store, tmp_path)
    steps = store.execute("SELECT steps FROM variants WHERE stream = 'desk' ORDER BY steps").fetchall()
    assert ("",) in steps  # q3: no work status; the table keeps '' (the map's discovery reads it)
    page = write_report(store, "desk", tmp_path / "reports", settings, NOW, png=False).read_text()
    assert "(no work steps)" in page
    assert '<span class="step"></span>' not in page


def test_variant_chips():
    assert "(no work steps)" in _variant_steps("")
    assert "(no work steps)" not in _variant_steps("A > B")


def test_one_earlier_month_reads_in_the_singular():
    one = pl.DataFrame({"verdict": ["consistent"], "window_end": [datetime(2026, 2, 1, tzinfo=UTC)]})
    text = _earlier_months(one)
    assert "The month before 2026-02 is not listed (1 consistent); it is in the littles_law table" in text
    assert "1 months" not in text
    two = pl.DataFrame(
        {"verdict": ["consistent"] * 2, "window_end": [datetime(2026, m, 1, tzinfo=UTC) for m in (1, 2)]}
    )
    assert "The 2 months before 2026-02 are not listed (2 consistent); all are in" in _earlier_months(two)


def test_a_compute_run_records_when_it_started_and_when_it_finished(store, tmp_path):
    before = datetime.now(UTC)
    _load(store, tmp_path)
    after = datetime.now(UTC)
    ((started, finished),) = store.execute(
        "SELECT started_at, finished_at FROM runs WHERE stream = 'desk' AND kind = 'compute'"
    ).fetchall()
    load_finished = store.execute(
        "SELECT finished_at FROM runs WHERE stream = 'desk' AND kind = 'ingest'"
    ).fetchall()[0][0]
    # the compute began after the load and finished after it began (it took more than 0 s)
    assert before <= load_finished <= started < finished <= after


def test_first_pass_yield_is_labelled_as_what_it_is(store, tmp_path):
    settings = _load(store, tmp_path)
    svg = render_map_svg(store, "desk")
    root = ET.fromstring(svg)
    box = _group(root, "process", "In Progress")
    labels = [t.text for t in box.iter(f"{SVG}text") if t.get("class") == "label"]
    assert labels[-1] == "First-pass yield"
    page = write_report(store, "desk", tmp_path / "reports", settings, NOW, png=False).read_text()
    for text in (svg, page):
        assert "C&amp;A" not in text and "C&A" not in text and "FPY" not in text
