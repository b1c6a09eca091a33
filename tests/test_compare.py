"""`vsm compare` end to end: cohorts worked out by hand on a tiny log, a log whose process
changed on a known date (found, with the right sign and size), logs with no change (noise),
two streams, snapshots, the comparisons table, and the page in headless Chromium."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from pipeline.compare import read_cohort, resolve_side, step_figures, stream_figures
from pipeline.publish import work_path
from pipeline.store import open_store
from tests import browser
from tests.compare_logs import AFTER, ASSESS_QUEUE_CHANGE, BEFORE, claims_log
from tests.conftest import vsm_in
from tests.logs import load_log

chromium = browser.chromium  # the fixture: real headless Chromium, or a skip saying why
HOUR = 3600.0
BEFORE_WINDOW, AFTER_WINDOW = "2026-01-12..2026-02-08", "2026-02-23..2026-03-22"
MONTHS = "2026-01-01_to_2026-01-31-2026-03-01_to_2026-03-31"  # the page of --before 2026-01 --after 2026-03

# ------------------------------------------------------------------ the cohorts, by hand

# Two steps, Step2 ends a case; resources only (a change of resource is a handoff). The window
# 2026-03-02..2026-03-03 is [Mar 2 00:00, Mar 4 00:00): 48 hours.
#   A arrived Mar 1 09:00 (before the window), completes Mar 2 16:00 (in it): lead 31 h
#   B inside it: Mar 2 08:00 -> Mar 3 20:00, lead 36 h
#   C arrives in it (Mar 3 12:00), completes after it (Mar 4 10:00): in WIP 12 h of it
#   D arrives and completes before it: in no cohort of the window
#   E inside it with rework (Step1, Step2, Step1, Step2): lead 8 h, 2 of its 4 visits rework
#   F arrives in it (Mar 3 06:00) and stays open: in WIP 18 h of it
TINY = """case,activity,lifecycle,timestamp,resource
A,Step1,start,2026-03-01 09:00,ann
A,Step1,complete,2026-03-01 12:00,ann
A,Step2,start,2026-03-02 10:00,bob
A,Step2,complete,2026-03-02 16:00,bob
B,Step1,start,2026-03-02 08:00,ann
B,Step1,complete,2026-03-02 09:00,ann
B,Step2,start,2026-03-03 08:00,ann
B,Step2,complete,2026-03-03 20:00,ann
C,Step1,start,2026-03-03 12:00,ann
C,Step1,complete,2026-03-03 13:00,ann
C,Step2,start,2026-03-04 09:00,bob
C,Step2,complete,2026-03-04 10:00,bob
D,Step1,start,2026-02-27 10:00,ann
D,Step1,complete,2026-02-27 11:00,ann
D,Step2,start,2026-02-28 10:00,bob
D,Step2,complete,2026-02-28 12:00,bob
E,Step1,start,2026-03-02 09:00,ann
E,Step1,complete,2026-03-02 10:00,ann
E,Step2,start,2026-03-02 11:00,bob
E,Step2,complete,2026-03-02 12:00,bob
E,Step1,start,2026-03-02 13:00,ann
E,Step1,complete,2026-03-02 14:00,ann
E,Step2,start,2026-03-02 15:00,bob
E,Step2,complete,2026-03-02 17:00,bob
F,Step1,start,2026-03-03 06:00,ann
F,Step1,complete,2026-03-03 07:00,ann
"""


@pytest.fixture(params=["UTC", "Europe/Amsterdam"])
def tiny(store, tmp_path, request):
    """The tiny log loaded with its naive times read in the zone `request.param`: a window in
    that zone holds the same events either way, so the figures are the same."""
    load_log(store, tmp_path, TINY, name="tiny", end_activities=["Step2"], timezone=request.param)
    return store, request.param


def test_window_cohorts_worked_by_hand(tiny):
    tiny, zone = tiny
    side = resolve_side(tiny, "tiny", "2026-03-02..2026-03-03", zone, "--after")
    assert side.days == 2 and not side.clipped
    cohort = read_cohort(tiny, side)
    assert sorted(cohort.cases["case_id"]) == ["A", "B", "E"]  # completed in the window
    figures = stream_figures(cohort)
    assert figures["lead_time_p50_s"] == 31 * HOUR  # of 8, 31, 36 h
    assert figures["lead_time_p85_s"] == pytest.approx(34.5 * HOUR)  # 31 + 0.7 * (36 - 31)
    assert figures["throughput_per_day"] == 1.5  # 3 completions in 2 days
    assert figures["first_pass_yield"] == pytest.approx(2 / 3)  # E reworked
    assert figures["rework_share"] == 0.25  # 2 rework visits of 2 + 2 + 4
    assert figures["handoffs_per_case"] == pytest.approx(4 / 3)  # A 1 (ann, bob), B 0, E 3
    # in WIP inside the window: A 16 h, B 36 h, C 12 h, E 8 h, F 18 h (open); D not
    assert figures["wip_avg"] == pytest.approx((16 + 36 + 12 + 8 + 18) / 48)
    steps = {r["step"]: r for r in step_figures(cohort).iter_rows(named=True)}
    # Step1 visits that ended in the window: B, C, E twice, F (A's ended on Mar 1)
    one = steps["Step1"]
    assert (one["visits"], one["visits_per_day"]) == (5, 2.5)
    assert one["queue_time_p50_s"] == 0  # first visits start at arrival (0); E's rework waited 1 h
    assert one["process_time_p50_s"] == HOUR
    assert one["first_pass_yield"] == 0.75  # B, C, F once; E twice
    # Step2: A (waited 22 h, worked 6 h), B (23 h, 12 h), E twice (1 h, 1 h; 1 h, 2 h); C's ended after
    two = steps["Step2"]
    assert two["visits"] == 4
    assert two["queue_time_p50_s"] == pytest.approx(11.5 * HOUR)  # of 1, 1, 22, 23 h
    assert two["process_time_p50_s"] == pytest.approx(4 * HOUR)  # of 1, 2, 6, 12 h
    assert two["first_pass_yield"] == pytest.approx(2 / 3)
    # queue WIP before Step2: A 10 h, B 23 h, C 11 h (until the window ends), E 1 h + 1 h
    assert two["queue_wip_avg"] == pytest.approx(46 / 48)


def test_a_window_reaching_before_the_log_is_measured_from_its_first_arrival(tiny):
    tiny, zone = tiny
    side = resolve_side(tiny, "tiny", "2026-02-20..2026-03-01", zone, "--before")
    # the first arrival is D's, Feb 27 10:00: 2 days 14 hours to Mar 2 00:00
    assert side.clipped and side.days == pytest.approx(2 + 14 / 24)
    figures = stream_figures(read_cohort(tiny, side))
    assert figures["throughput_per_day"] == pytest.approx(1 / (2 + 14 / 24))  # D only
    # D in WIP 26 h, A from Mar 1 09:00 to the window's end 15 h; over 62 h
    assert figures["wip_avg"] == pytest.approx(41 / 62)


def test_a_window_outside_the_log_is_refused(tiny):
    from pipeline.errors import SettingsError

    tiny, zone = tiny
    with pytest.raises(SettingsError, match="outside what stream 'tiny' observes"):
        resolve_side(tiny, "tiny", "2025-01", zone, "--before")


# ------------------------------------------------------------------ the CLI on made logs


vsm = vsm_in  # every call names the project folder it runs in


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A folder with the changed log (seed 1) and two no-change logs (seeds 2, 3) discovered
    as streams `changed`, `same2`, `same3`, and the changed stream compared."""
    folder = tmp_path_factory.mktemp("compare")
    for name, seed, changed in (("changed", 1, True), ("same2", 2, False), ("same3", 3, False)):
        (folder / f"{name}.csv").write_text(claims_log(seed, days=84, changed=changed), encoding="utf-8")
        result = vsm(folder, "discover", f"{name}.csv", "--stream", name, "--no-png")
        assert result.exit_code == 0, result.output
    result = vsm(folder, "compare", "changed", "--before", BEFORE_WINDOW, "--after", AFTER_WINDOW)
    assert result.exit_code == 0, result.output
    return folder, result.output


def rows(folder: Path, where: str) -> dict:
    con = duckdb.connect(str(folder / "vsm.duckdb"), read_only=True)
    try:
        found = con.sql(f"SELECT * FROM comparisons WHERE {where}").pl()
    finally:
        con.close()
    return {(r["figure"], r["step"]): r for r in found.iter_rows(named=True)}


def _true_lead_time_p50(steps: dict, draws: int = 400_000) -> float:
    """The lead time median the generator's process gives, by simulation (a second method)."""
    rng = np.random.default_rng(99)
    total = np.zeros(draws)
    for queue, process in steps.values():
        total += (rng.exponential(queue, draws) if queue else 0) + rng.exponential(process, draws)
    return float(np.median(total))


def test_a_changed_process_is_found_with_the_right_sign_and_size(made):
    folder, output = made
    found = rows(folder, "stream = 'changed'")
    # The queue before Assess halved (medians of exponentials: -50%). Each window holds about
    # 560 visits of Assess, so the estimate's standard error is about 4% (half the width of its
    # interval / 1.96); a tolerance of 0.12 is three of them.
    queue = found[("queue_time_p50_s", "Assess")]
    assert queue["significant"] is True
    assert queue["change"] == pytest.approx(ASSESS_QUEUE_CHANGE, abs=0.12)
    assert queue["change_low"] < ASSESS_QUEUE_CHANGE < queue["change_high"]
    # Lead time: Check gone and the Assess queue halved; the true change of the median, by
    # simulating the generator's two processes, is about -52%. Its estimate's standard error
    # is about 2% (555 cases a window): tolerance 0.08.
    true = _true_lead_time_p50(AFTER) / _true_lead_time_p50(BEFORE) - 1
    for figure in ("lead_time_p50_s", "lead_time_p85_s"):
        lead = found[(figure, "")]
        assert lead["significant"] is True and lead["change"] < 0
    assert found[("lead_time_p50_s", "")]["change"] == pytest.approx(true, abs=0.08)
    # the removed step: marked, its visits fell by 100%
    check = found[("visits_per_day", "Check")]
    assert check["note"].startswith("disappeared") and check["change"] == -1.0 and check["significant"]
    assert found[("queue_time_p50_s", "Check")]["after"] is None
    # what did not change is called noise: the same arrivals, so throughput
    assert found[("throughput_per_day", "")]["significant"] is False
    assert found[("queue_time_p50_s", "Pay")]["significant"] is False
    assert "Lead time p50 fell from" in output and "disappeared: Check" in output
    assert row_keys_are_the_contract(found)


def row_keys_are_the_contract(found: dict) -> bool:
    row = next(iter(found.values()))
    required = {"stream", "before_window", "after_window", "figure", "step", "before", "after", "change"}
    return required | {"change_low", "change_high", "significant"} <= set(row)


def test_the_page_marks_the_removed_step_on_both_maps(made):
    folder, _ = made
    page = folder / "reports" / "changed" / "compare-2026-01-12_to_2026-02-08-2026-02-23_to_2026-03-22.html"
    html = page.read_text(encoding="utf-8")
    before_map, after_map = html.split("<h3>After: ", 1)
    assert 'data-key="leaves"' in before_map and ">GONE AFTER<" in before_map  # Check, tagged
    assert 'class="process gone" data-step="Check"' in after_map  # drawn as not in this window
    assert "Check disappeared" in html
    assert "Assess: queue time p50 fell from" in html
    assert "<script" not in html and "http" not in html.replace("http://www.w3.org", "")


def test_no_change_is_called_noise_end_to_end(made):
    folder, _ = made
    flagged = []
    for name in ("same2", "same3"):
        result = vsm(folder, "compare", name, "--before", BEFORE_WINDOW, "--after", AFTER_WINDOW)
        assert result.exit_code == 0, result.output
        found = rows(folder, f"stream = '{name}'")
        stream_rows = [r for (_, step), r in found.items() if not step]
        assert len(stream_rows) == 7
        flagged += [f"{name} {r['figure']}" for r in stream_rows if r["significant"]]
        for figure in ("lead_time_p50_s", "lead_time_p85_s", "throughput_per_day"):
            assert found[(figure, "")]["significant"] is False, figure
        assert not any(r["note"].startswith(("appeared", "disappeared")) for r in found.values())
    assert len(flagged) <= 1, flagged  # 14 figures at 5% each


def test_compare_again_replaces_its_rows_and_keeps_the_others(made):
    folder, _ = made
    count = "SELECT count(*) FROM comparisons WHERE stream = 'changed'"
    before = _scalar(folder, count)
    result = vsm(folder, "compare", "changed", "--before", BEFORE_WINDOW, "--after", AFTER_WINDOW)
    assert result.exit_code == 0, result.output
    assert _scalar(folder, count) == before
    result = vsm(folder, "compare", "changed", "--before", "2026-01", "--after", "2026-03")
    assert result.exit_code == 0, result.output
    assert _scalar(folder, count) > before  # a second comparison beside the first
    assert (folder / "reports" / "changed" / f"compare-{MONTHS}.html").exists()


def test_out_puts_the_page_elsewhere(made, tmp_path):
    folder, _ = made
    result = vsm(
        folder, "compare", "changed", "--before", "2026-01", "--after", "2026-03", "--out", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "changed" / f"compare-{MONTHS}.html").exists()
    assert f"Page: {tmp_path}" in result.output


def _scalar(folder: Path, query: str):
    con = duckdb.connect(str(folder / "vsm.duckdb"), read_only=True)
    try:
        return con.execute(query).fetchone()[0]
    finally:
        con.close()


def test_two_streams_over_one_window(made):
    folder, _ = made
    result = vsm(folder, "compare", "same2", "--other", "changed", "--window", AFTER_WINDOW)
    assert result.exit_code == 0, result.output
    found = rows(folder, "kind = 'streams' AND stream = 'same2'")
    lead = found[("lead_time_p50_s", "")]
    assert lead["other_stream"] == "changed" and lead["before_window"] == lead["after_window"] == AFTER_WINDOW
    assert lead["significant"] and lead["change"] < 0  # the changed stream is faster then
    assert found[("visits_per_day", "Check")]["note"].startswith("disappeared")
    name = "compare-same2_2026-02-23_to_2026-03-22-changed_2026-02-23_to_2026-03-22.html"
    assert (folder / "reports" / "same2" / name).exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--before", BEFORE_WINDOW], "--before needs --after"),
        (["--before", "a", "--after", "b", "--other", "same2"], "one comparison at a time"),
        ([], "one comparison at a time (none given)"),
        (["--before", "2026-13", "--after", AFTER_WINDOW], "--before = '2026-13': expected a window"),
        (["--before", "2025-01", "--after", AFTER_WINDOW], "outside what stream 'changed' observes"),
        (["--other", "changed", "--window", AFTER_WINDOW], "compared with itself"),
        (["--other", "nosuch", "--window", AFTER_WINDOW], "'nosuch' has no computed flow"),
        (["--before-snapshot", "1", "--after-snapshot", "2"], "has no snapshot of that run"),
    ],
)
def test_usage_errors_exit_2_with_what_to_give(made, args, message):
    folder, _ = made
    result = vsm(folder, "compare", "changed", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_snapshots_are_compared_untested(tmp_path):
    """Two snapshots in a metric_history table shaped as migration 012 declares it."""
    (tmp_path / "changed.csv").write_text(claims_log(1, days=20), encoding="utf-8")
    assert vsm(tmp_path, "discover", "changed.csv", "--stream", "changed", "--no-png").exit_code == 0
    con = open_store(work_path(tmp_path / "vsm.duckdb"))
    con.execute(
        "CREATE TABLE IF NOT EXISTS metric_history (stream VARCHAR, computed_at TIMESTAMPTZ, run_id BIGINT, "
        '"window" VARCHAR, window_start TIMESTAMPTZ, window_end TIMESTAMPTZ, figure VARCHAR, '
        "step VARCHAR NOT NULL DEFAULT '', value DOUBLE)"
    )
    con.execute(
        "INSERT INTO metric_history BY NAME SELECT * FROM (VALUES "
        "('changed', now(), 7, 'all', 'lead_time_p50_s', '', 400000.0), "
        "('changed', now(), 7, 'all', 'queue_time_p50_s', 'Check', 60000.0), "
        "('changed', now(), 9, '2026-01', 'lead_time_p50_s', '', 300000.0)) "
        'AS t(stream, computed_at, run_id, "window", figure, step, value)'
    )
    con.close()
    result = vsm(tmp_path, "compare", "changed", "--before-snapshot", "7", "--after-snapshot", "9")
    assert result.exit_code == 0, result.output
    found = rows(tmp_path, "kind = 'snapshots'")
    lead = found[("lead_time_p50_s", "")]
    assert (lead["before"], lead["after"], lead["change"]) == (400000.0, 300000.0, -0.25)
    assert lead["significant"] is None and lead["test"] == "none" and "cannot be tested" in lead["note"]
    assert (lead["before_run_id"], lead["after_run_id"], lead["after_window"]) == (7, 9, "2026-01")
    assert found[("queue_time_p50_s", "Check")]["note"].startswith("disappeared")
    assert "not tested: a snapshot keeps figures, not cases" in result.output
    missing = vsm(tmp_path, "compare", "changed", "--before-snapshot", "7", "--after-snapshot", "8")
    assert missing.exit_code == 2 and "no snapshot of that run (its latest: 9, 7" in missing.output


def test_the_comparison_page_opens_in_chromium(made, chromium, tmp_path):
    folder, _ = made
    page = folder / "reports" / "changed" / "compare-2026-01-12_to_2026-02-08-2026-02-23_to_2026-03-22.html"
    count_maps = "document.querySelectorAll('#maps svg.vsm-map').length"
    load = chromium.open_page(page, evaluate={"maps": count_maps})
    shot = tmp_path / "compare.png"
    shot.write_bytes(load.screenshot)
    print(f"screenshot: {shot}")
    assert load.console_errors == [] and load.other_requests == [] and load.dialogs == []
    assert load.values["maps"] == 2
    assert "Lead time p50 fell from 3.5 d to 1.7 d (\u221253%, 95% CI" in load.text
    assert "within noise" in load.text and "Check disappeared" in load.text
    assert load.screenshot.startswith(b"\x89PNG")
