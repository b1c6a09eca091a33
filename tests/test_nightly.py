"""`vsm run`: every stream in turn, a failing one does not stop the others; the summary, the
exit code, the JSON log lines, the choice of streams by name, and the overview page
reports/index.html (self-contained, checked in real headless Chromium).

Each `vsm run` is a process of its own (`run_vsm_process`): the exit code, stdout and stderr
are what a scheduler sees. stderr is a pipe there, so the run writes plain lines, no spinner.
"""

from __future__ import annotations

import json
import re

import pytest

from pipeline.store import open_store
from pipeline.streams import discover, init_stream
from tests import browser
from tests.conftest import run_vsm_process, write

chromium = browser.chromium

# Two stages of three cases, a point log (one timestamp per step).
#   C1: Submit 03-02 09:00 -> Close 03-04 09:00  lead time 2.0 d
#   C2: Submit 03-02 09:00 -> Close 03-05 09:00  lead time 3.0 d
#   C3: Submit 03-03 09:00, Review 03-04 09:00, never closed: the one open case
GOOD = """case,activity,timestamp
C1,Submit,2026-03-02 09:00:00
C1,Review,2026-03-03 09:00:00
C1,Close,2026-03-04 09:00:00
C2,Submit,2026-03-02 09:00:00
C2,Review,2026-03-03 21:00:00
C2,Close,2026-03-05 09:00:00
C3,Submit,2026-03-03 09:00:00
C3,Review,2026-03-04 09:00:00
"""
# The nightly drop of the good stream: one more case, two events.
GOOD_NEW = GOOD + "C4,Submit,2026-03-05 10:00:00\nC4,Review,2026-03-05 12:00:00\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project folder with streams `good` and `broken`, both loaded once; then broken's
    export is truncated to its header (a broken drop), good's receives two new events, and a
    third stream's settings `typo` do not parse; then one `vsm run` of all (text log) and one
    with --log-format json."""
    root = tmp_path_factory.mktemp("nightly")
    write(root / "good.csv", GOOD)
    write(root / "broken.csv", re.sub(r"(?m)^C", "B", GOOD))
    for name in ("good", "broken"):  # the settings, with Close the one end step
        init_stream(name, root / f"{name}.csv", streams_dir=root / "streams")
        path = root / "streams" / f"{name}.toml"
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"(?m)^end_activities = .*$", 'end_activities = ["Close"]', text))
    with open_store(root / "vsm.duckdb") as con:
        for name in ("good", "broken"):
            discover(
                con,
                root / f"{name}.csv",
                name,
                streams_dir=root / "streams",
                reports_dir=root / "reports",
                png=False,
            )
    write(root / "broken.csv", "case,activity,timestamp\n")
    write(root / "streams" / "typo.toml", "[source\npath = 'x.csv'\n")  # settings that do not parse
    write(root / "good.csv", GOOD_NEW)
    text = run_vsm_process("run", "--no-png", cwd=root)
    as_json = run_vsm_process("run", "--no-png", "--log-format", "json", cwd=root)
    return root, text, as_json


def test_a_failing_stream_does_not_stop_the_others_and_the_exit_code_says_so(project):
    root, run, _ = project
    assert run.returncode == 6, run.stderr
    rows = {line.split()[0]: line for line in run.stdout.splitlines() if line.split()}
    # stream, status, new events, rejects, seconds, error
    assert re.match(r"good\s+ok\s+2\s+0\s+\d+\.\d\s*$", rows["good"]), rows["good"]
    assert re.match(
        r"broken\s+failed\s+0\s+0\s+\d+\.\d\s+\S*broken\.csv: has a header but no rows", rows["broken"]
    )
    # settings that do not parse fail their stream alone, exit code 2 of a settings error
    assert re.match(r"typo\s+failed\s+0\s+0\s+\d+\.\d\s+\S*typo\.toml: not valid TOML", rows["typo"])
    assert "3 streams run, 2 failed" in run.stdout
    # good was published: its report exists and the store holds C4 (4 cases, 2 open: C3, C4)
    assert (root / "reports" / "good" / "index.html").exists()
    with open_store(root / "vsm.duckdb", read_only=True) as con:
        assert con.execute(
            "SELECT cases, open_cases FROM stream_summary WHERE stream = 'good'"
        ).fetchall() == [(4, 2)]
    # plain lines on a pipe: a timestamped line per stage and per stream, no terminal codes
    assert "\x1b[" not in run.stderr
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ good: ok, 2 new events", run.stderr, re.M)
    assert re.search(
        r"Z broken: failed, 0 new events \(\d+\.\d s\): \S*broken\.csv: has a header", run.stderr
    )


def test_json_log_lines_each_parse(project):
    _, _, run = project
    assert run.returncode == 6, run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines()]
    streams = {r["stream"]: r for r in records if r["event"] == "stream"}
    assert (
        streams["good"]["status"] == "ok" and streams["good"]["new_events"] == 0
    )  # loaded by the run before
    assert streams["broken"]["status"] == "failed" and streams["broken"]["exit_code"] == 3
    assert "has a header but no rows" in streams["broken"]["error"]
    assert streams["typo"]["status"] == "failed" and streams["typo"]["exit_code"] == 2
    assert {r["stream"] for r in records if r["event"] == "stage"} == {"good", "broken", "typo"}
    assert records[-1]["event"] == "summary"
    assert records[-1]["failed"] == ["broken", "typo"] and records[-1]["exit_code"] == 6


def test_the_overview_lists_every_stream_with_its_figures_status_and_link(project):
    root, _, _ = project
    html = (root / "reports" / "index.html").read_text(encoding="utf-8")
    rows = dict(re.findall(r"<tr><td>(?:<a [^>]*>)?(\w+)(?:</a>)?</td>(.*?)</tr>", html))
    assert set(rows) == {"good", "broken", "typo"}
    assert "3 streams; 2 failed in their last run" in html
    assert "<td>failed</td>" in rows["typo"] and "not valid TOML" in rows["typo"]
    # good: completed C1 2.0 d, C2 3.0 d (interpolated percentiles): p50 = 2.5 d,
    # p85 = 2.0 + 0.85 x 1.0 = 2.85 d, shown 2.9 d; no step repeated: first-pass yield 100%;
    # open cases C3 and C4: 2
    figures = re.findall(r'<td class="num">([^<]*)</td>', rows["good"])
    assert (figures[0], figures[1], figures[4], figures[5]) == ("2.5 d", "2.9 d", "100%", "2")
    assert "<td>ok</td>" in rows["good"] and '<td class="num">2</td>' in rows["good"]
    # broken failed, and keeps the figures of its last good load (B3 open)
    assert "<td>failed</td>" in rows["broken"] and "has a header but no rows" in rows["broken"]
    assert '<td class="num">1</td>' in rows["broken"]
    links = set(re.findall(r'(?:href|src)="([^"]*)"', html))
    assert links == {"data:,", "good/index.html", "broken/index.html"}
    assert re.findall(r"(?:https?:)?//[\w.-]+|@import|@font-face|url\(", html) == []
    assert not (root / "reports" / "index.html.partial").exists()


def test_the_overview_opens_in_chromium_without_errors(chromium, project, tmp_path):
    root, _, _ = project
    load = chromium.open_page(root / "reports" / "index.html")
    (tmp_path / "overview.png").write_bytes(load.screenshot)
    assert load.console_errors == [] and load.other_requests == [] and load.dialogs == []
    assert "good" in load.text and "broken" in load.text and "Value streams" in load.text


def test_named_streams_run_alone_and_bad_choices_are_refused(project):
    root, _, _ = project
    only = run_vsm_process("run", "good", "--no-png", cwd=root)
    assert only.returncode == 0, only.stderr
    assert "1 stream run, 0 failed" in only.stdout and "broken" not in only.stdout
    # the overview still shows broken, with its last run's status
    html = (root / "reports" / "index.html").read_text(encoding="utf-8")
    assert "<td>failed</td>" in html
    unknown = run_vsm_process("run", "good", "nosuch", cwd=root)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().startswith("Error: stream 'nosuch': no settings at streams/nosuch.toml")
    none = run_vsm_process("run", "--parallel", "0", cwd=root)
    assert none.returncode == 2
    assert none.stderr.strip() == "Error: --parallel 0: expected a whole number of streams at once, 1 or more"
    xml = run_vsm_process("run", "--log-format", "xml", cwd=root)
    assert xml.returncode == 2 and xml.stderr.strip() == "Error: --log-format xml: expected text or json"


SIGTERM_AT_BROKEN = """
import os, signal
import pipeline.streams as streams
refresh = streams.refresh
def refresh_until_broken(con, settings, **options):
    if settings.name == "broken":
        os.kill(os.getpid(), signal.SIGTERM)
    return refresh(con, settings, **options)
streams.refresh = refresh_until_broken
"""


def test_sigterm_stops_the_whole_run_not_just_its_stream(project):
    root, _, _ = project
    # streams run in name order: broken, good, typo; SIGTERM arrives as broken starts
    run = run_vsm_process("run", "--no-png", cwd=root, before=SIGTERM_AT_BROKEN)
    assert run.returncode == 130, run.stderr
    assert "Error: interrupted (SIGTERM)" in run.stderr
    assert "good:" not in run.stderr and "streams run" not in run.stdout
