"""`vsm simulate` from the command line: the simulations table published to analysts, the
future-state page (in Chromium), usage and scenario errors with their exit codes; and the
validation figures on the real logs with start and complete times."""

from __future__ import annotations

import duckdb
import pytest

from tests import browser
from tests.conftest import vsm_in
from tests.queue_logs import Station, network_log

chromium = browser.chromium
LOOP = (
    {"A": Station(1, 0.25), "B": Station(1, 1 / 3)},
    {"__start__": {"A": 1.0}, "A": {"B": 1.0}, "B": {"A": 0.4, "__end__": 0.6}},
    1.0,
)


vsm = vsm_in  # every call names the project folder it runs in


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The loop log discovered as stream `loop`, a scenario `fix`, and `vsm simulate loop fix`."""
    folder = tmp_path_factory.mktemp("simulate")
    text, _ = network_log(*LOOP, days=45)
    (folder / "loop.csv").write_text(text, encoding="utf-8")
    result = vsm(folder, "discover", "loop.csv", "--stream", "loop", "--no-png")
    assert result.exit_code == 0, result.output
    (folder / "scenarios" / "loop").mkdir(parents=True)
    (folder / "scenarios" / "loop" / "fix.toml").write_text(
        'remove_step = []\n[capacity]\n"B" = "+1"\n[rework]\n"B->A" = 0.5\n', encoding="utf-8"
    )
    result = vsm(folder, "simulate", "loop", "fix", "--horizon", "45")
    assert result.exit_code == 0, result.output
    return folder, result.output


def test_simulate_writes_the_table_analysts_read(made):
    folder, output = made
    assert "Validation of loop: lead time p50 observed" in output and "NOT PREDICTIONS" not in output
    assert "Scenario fix: capacity B +1; rework B->A x0.5" in output
    with duckdb.connect(str(folder / "vsm.duckdb"), read_only=True) as con:  # the analysts' file
        rows = con.execute(
            "SELECT figure, step, observed, p10, p50, p90, predicted, replications, horizon_days, seed "
            "FROM simulations WHERE stream = 'loop' AND scenario = 'fix' ORDER BY figure, step"
        ).fetchall()
    figures = {(r[0], r[1]): r for r in rows}
    assert set(figures) == {
        ("lead_time_p50_s", ""),
        ("lead_time_p85_s", ""),
        ("lead_time_mean_s", ""),
        ("throughput_per_day", ""),
        ("wip_avg", ""),
        ("queue_time_mean_s", "A"),
        ("queue_time_mean_s", "B"),
        ("queue_time_mean_s", "Arrive"),
    }
    assert all(r[6] is True and r[7] == 30 and r[8] == 45 and r[9] == 1 for r in rows)
    lead = figures[("lead_time_p50_s", "")]
    assert lead[3] <= lead[4] <= lead[5] < lead[2]  # the fix shortens the lead time
    # the same command again (in two processes: the same figures) replaces its rows, and
    # `current` adds its own
    again = vsm(folder, "simulate", "loop", "fix", "--horizon", "45", "--workers", "2")
    assert again.exit_code == 0, again.output
    assert "reused" not in output  # the first run simulated the current state (and wrote its rows)
    assert "(reused: the current state simulated 20" in again.output  # the second took it from them
    assert vsm(folder, "simulate", "loop", "--horizon", "45").exit_code == 0
    with duckdb.connect(str(folder / "vsm.duckdb"), read_only=True) as con:
        counts = dict(con.execute("SELECT scenario, count(*) FROM simulations GROUP BY 1").fetchall())
        same = con.execute(
            "SELECT figure, step, p10, p50, p90 FROM simulations WHERE scenario = 'fix' ORDER BY figure, step"
        ).fetchall()
    assert counts == {"fix": 8, "current": 8}
    assert same == [(r[0], r[1], r[3], r[4], r[5]) for r in rows]


def test_simulate_refuses_bad_usage_and_scenarios(made):
    folder, _ = made
    few = vsm(folder, "simulate", "loop", "--replications", "5")
    assert few.exit_code == 2 and "--replications 5: expected 30 or more" in few.output
    none = vsm(folder, "simulate", "loop", "--workers", "0")
    assert none.exit_code == 2 and "--workers 0: expected 1 or more" in none.output
    nowhere = vsm(folder, "simulate", "loop", "--db", "other.duckdb")
    assert nowhere.exit_code == 4 and "other.duckdb: no store here" in nowhere.output
    missing = vsm(folder, "simulate", "loop", "nope")
    assert missing.exit_code == 2 and "scenarios/loop/nope.toml: no such scenario file" in missing.output
    (folder / "scenarios" / "loop" / "bad.toml").write_text('[capacity]\n"Nope" = "+1"\n', encoding="utf-8")
    bad = vsm(folder, "simulate", "loop", "bad")
    assert bad.exit_code == 2
    assert "bad.toml: [capacity] 'Nope' = '+1': no step 'Nope' in stream 'loop'" in bad.output


def test_the_future_state_page_opens_in_chromium(made, chromium, tmp_path):
    folder, _ = made
    page = folder / "reports" / "loop" / "simulate-fix.html"
    marks = "document.querySelectorAll('svg.vsm-map [data-key=changed]').length"
    load = chromium.open_page(page, evaluate={"marks": marks})
    shot = tmp_path / "simulate.png"
    shot.write_bytes(load.screenshot)
    print(f"screenshot: {shot}")
    assert load.console_errors == [] and load.other_requests == [] and load.dialogs == []
    assert "the figures below are predictions" in load.text
    assert "capacity B +1" in load.text and "rework B->A x0.5" in load.text
    assert "\u2192 mean" in load.text  # predicted queue times on the map
    assert load.values["marks"] == 2  # A and B changed
    assert load.screenshot.startswith(b"\x89PNG")


@pytest.mark.parametrize("file", ["bpic2012.xes.gz", "bpic2013_incidents.xes.gz"])
def test_validation_figures_on_real_logs_with_start_and_complete_times(real_logs, tmp_path, file):
    """The current state of the real logs with start and complete (or status) times: the
    validation figures printed for the record; whichever way it goes, the verdict follows the
    threshold and a failed one names a step."""
    from pipeline.flow import compute_flow
    from pipeline.store import open_store
    from pipeline.streams import discover

    name = file.split(".")[0]
    con = open_store(tmp_path / "vsm.duckdb")
    found = discover(con, real_logs / file, name, streams_dir=tmp_path / "streams")
    compute_flow(con, found.settings)
    from pipeline.simulate import VALIDATION_MAX_EMD, simulate_stream

    result = simulate_stream(con, name, found.settings.timezone, "current", tmp_path, horizon_days=90)
    v = result.validation
    print(
        f"\n{name}: EMD/median {v.emd_relative:.3f}; lead time p50 observed {v.observed_p50_s / 3600:.1f} h, "
        f"simulated {v.simulated_p50_s / 3600:.1f} h; p85 observed {v.observed_p85_s / 3600:.1f} h, "
        f"simulated {v.simulated_p85_s / 3600:.1f} h; passed {v.passed}; {v.wrong_why}"
    )
    assert v.passed == (v.emd_relative <= VALIDATION_MAX_EMD)
    assert v.passed or v.wrong_step in result.model.steps
    con.close()
