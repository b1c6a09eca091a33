"""Measurement windows in the flow (issue 19): a tiny log cut by a window, each cohort's
figures worked out by hand (docs/metrics.md "Windows").

The log (interval, UTC, end step B; times 2026-03-DD HH:MM) and the window
2026-03-10..2026-03-19, i.e. [Mar 10 00:00, Mar 20 00:00), 10 days:

    c1  A 01 08:00-01 10:00, B 02 08:00-02 12:00      completed before the window
    c2  A 05 08:00-05 10:00, B 11 08:00-12 08:00      arrived before, completed in it (lead 7 d)
    c3  A 15 08:00-15 12:00, B 25 08:00-26 08:00      arrived in it, open at its close (exit 26 08:00)
    c4  A 12 00:00-12 06:00, C 12 06:00-12 08:00,     arrived and completed in it (lead 2 d), back
        A 12 08:00-12 10:00, B 13 00:00-14 00:00      to A: rework
    c5  A 09 20:00-10 04:00, B 10 08:00-10 20:00      visit A spans the window's start (lead 1 d)
    c6  A 19 20:00-20 04:00, B started 21 08:00       visit A spans its end; open at as_of

as_of is the last event, Mar 26 08:00.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.errors import SettingsError
from pipeline.flow import compute_flow
from pipeline.ingest import ingest
from pipeline.settings import Source, StreamSettings, settings_from_dict
from pipeline.store import open_store
from tests.logs import rows

HOUR, DAY = 3600.0, 86400.0
WINDOW = "2026-03-10..2026-03-19"

LOG = """case_id,activity,lifecycle,timestamp
c1,A,start,2026-03-01 08:00
c1,A,complete,2026-03-01 10:00
c1,B,start,2026-03-02 08:00
c1,B,complete,2026-03-02 12:00
c2,A,start,2026-03-05 08:00
c2,A,complete,2026-03-05 10:00
c2,B,start,2026-03-11 08:00
c2,B,complete,2026-03-12 08:00
c3,A,start,2026-03-15 08:00
c3,A,complete,2026-03-15 12:00
c3,B,start,2026-03-25 08:00
c3,B,complete,2026-03-26 08:00
c4,A,start,2026-03-12 00:00
c4,A,complete,2026-03-12 06:00
c4,C,start,2026-03-12 06:00
c4,C,complete,2026-03-12 08:00
c4,A,start,2026-03-12 08:00
c4,A,complete,2026-03-12 10:00
c4,B,start,2026-03-13 00:00
c4,B,complete,2026-03-14 00:00
c5,A,start,2026-03-09 20:00
c5,A,complete,2026-03-10 04:00
c5,B,start,2026-03-10 08:00
c5,B,complete,2026-03-10 20:00
c6,A,start,2026-03-19 20:00
c6,A,complete,2026-03-20 04:00
c6,B,start,2026-03-21 08:00
"""

AGGREGATES = (
    "step_metrics",
    "transitions",
    "variants",
    "wip_daily",
    "step_wip_daily",
    "handoffs",
    "littles_law",
    "quality_findings",
    "aging_wip",
    "stream_summary",
    "map_steps",
    "rework_loops",
    "decision_points",
    "visits",
    "cases",
)


def settings_for(tmp_path, window: str = "") -> StreamSettings:
    path = tmp_path / "log.csv"
    path.write_text(LOG, encoding="utf-8")
    return StreamSettings(
        name="w",
        source=Source(path=str(path)),
        log_shape="interval",
        end_activities=["B"],
        stale_after="60d",
        window=window,
    )


@pytest.fixture
def windowed(tmp_path):
    con = open_store(tmp_path / "vsm.duckdb")
    settings = settings_for(tmp_path, WINDOW)
    ingest(con, settings)
    result = compute_flow(con, settings)
    yield con, result
    con.close()


def summary(con) -> dict:
    cur = con.execute("SELECT * FROM stream_summary")
    return dict(zip([d[0] for d in cur.description], cur.fetchall()[0], strict=True))


def mar(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def test_case_figures_are_over_the_cases_completed_in_the_window(windowed):
    con, result = windowed
    s = summary(con)
    assert result.window == WINDOW and s["window"] == WINDOW
    assert (s["window_start"], s["window_end"]) == (mar(10), mar(20))
    # completed in it: c2 (7 d), c4 (2 d), c5 (1 d); c1 before it, c3 and c6 after it
    assert s["completed_cases"] == 3
    assert s["lead_time_p50_s"] == pytest.approx(2 * DAY)
    assert s["lead_time_mean_s"] == pytest.approx(10 / 3 * DAY)
    assert s["first_pass_yield"] == pytest.approx(2 / 3)  # c4 repeated A
    # in the stream during it: c2..c6 (c1 left before it); open at its close: c3, c6
    assert (s["cases"], s["open_cases"]) == (5, 2)
    assert s["throughput_per_day"] == pytest.approx(3 / 10)
    assert rows(con, "SELECT steps, cases FROM variants ORDER BY cases DESC") == [
        ("A > B", 2),
        ("A > C > A > B", 1),
    ]


def test_wip_is_inside_the_window_with_the_cases_on_hand_when_it_opens(windowed):
    con, _ = windowed
    # on hand at Mar 10 00:00: c2, c5. Then c5 leaves on the 10th, c4 comes and c2 leaves on
    # the 12th, c4 leaves at the 14th's midnight, c3 comes on the 15th, c6 on the 19th.
    assert rows(con, "SELECT day::VARCHAR, wip_end, arrivals, departures FROM wip_daily ORDER BY day") == [
        ("2026-03-10", 1, 0, 1),
        ("2026-03-11", 1, 0, 0),
        ("2026-03-12", 1, 1, 1),
        ("2026-03-13", 1, 0, 0),
        ("2026-03-14", 0, 0, 1),
        ("2026-03-15", 1, 1, 0),
        ("2026-03-16", 1, 0, 0),
        ("2026-03-17", 1, 0, 0),
        ("2026-03-18", 1, 0, 0),
        ("2026-03-19", 2, 1, 0),
    ]
    law = con.execute(
        "SELECT window_start, window_end, wip_start, wip_end, wip_avg, throughput_per_day, lead_time_mean_s, "
        "ratio, verdict FROM littles_law WHERE window_kind = 'all'"
    ).fetchall()
    # case-time inside the window: c2 2 d 8 h, c5 20 h, c4 2 d, c3 4 d 16 h, c6 4 h = 10 d over 10 days
    start, end, wip_start, wip_end, wip_avg, tput, lead_mean, ratio, verdict = law[0]
    assert (start, end, wip_start, wip_end) == (mar(10), mar(20), 2, 2)
    assert wip_avg == pytest.approx(1.0)
    assert tput == pytest.approx(0.3)
    assert lead_mean == pytest.approx(10 / 3 * DAY)
    assert ratio == pytest.approx(1.0) and verdict == "consistent"
    # step WIP at each day's close, on hand included: A holds c5 (in process) at the opening
    a = dict(rows(con, "SELECT day::VARCHAR, active_wip_end FROM step_wip_daily WHERE step = 'A'"))
    assert a["2026-03-10"] == 0 and a["2026-03-19"] == 1  # c5's A ended at 04:00; c6's A runs over
    b_queue = dict(rows(con, "SELECT day::VARCHAR, queue_wip_end FROM step_wip_daily WHERE step = 'B'"))
    assert b_queue["2026-03-10"] == 1  # c2 waits for B since Mar 5 (ready then, started on the 11th)


def test_step_figures_are_over_the_visits_that_ended_in_the_window(windowed):
    con, _ = windowed
    got = {
        r[0]: r[1:]
        for r in rows(
            con,
            "SELECT step, visits, cases, rework_visits, first_pass_yield, process_time_mean_s, "
            "process_time_p50_s, queue_time_p50_s FROM step_metrics",
        )
    }
    # A ended in it: c3, c4 (twice), c5 (spans the start) = 4 visits of 3 cases, c4 came back;
    # c2's A (Mar 5) and c6's A (ends Mar 20 04:00) are out. Process 4 h, 6 h, 2 h, 8 h.
    visits, cases, rework, fpy, mean, p50, _ = got["A"]
    assert (visits, cases, rework) == (4, 3, 1)
    assert fpy == pytest.approx(2 / 3)
    assert (mean, p50) == (pytest.approx(5 * HOUR), pytest.approx(5 * HOUR))
    # B ended in it: c2, c4, c5 (c3's ends Mar 26, c6's is in process past the window).
    # Queues: c2 Mar 5 10:00 -> 11 08:00 = 142 h, c4 12 10:00 -> 13 00:00 = 14 h, c5 4 h.
    visits, cases, rework, fpy, mean, p50, queue_p50 = got["B"]
    assert (visits, cases, rework, fpy) == (3, 3, 0, 1.0)
    assert (mean, p50, queue_p50) == (
        pytest.approx(20 * HOUR),
        pytest.approx(24 * HOUR),
        pytest.approx(14 * HOUR),
    )
    assert rows(con, "SELECT from_step, to_step, count FROM transitions ORDER BY from_step, to_step") == [
        ("A", "B", 3),
        ("A", "C", 1),
        ("C", "A", 1),
    ]


def test_aging_is_taken_at_the_window_close(windowed):
    con, _ = windowed
    got = rows(
        con,
        "SELECT case_id, current_step, current_state, age_s, time_in_step_s, age_percentile "
        "FROM aging_wip ORDER BY case_id",
    )
    # at Mar 20 00:00: c3 waits after A (ended 15 12:00); c6 is in A (started 19 20:00).
    # Completed before then: c1 (28 h), c5 (1 d), c4 (2 d), c2 (7 d).
    assert got == [
        ("c3", "A", "queued", pytest.approx((4 * 24 + 16) * HOUR), pytest.approx(4.5 * DAY), 0.75),
        ("c6", "A", "in process", pytest.approx(4 * HOUR), pytest.approx(4 * HOUR), 0.0),
    ]


def test_few_completed_cases_are_a_finding_and_the_run_names_the_window(windowed):
    con, _ = windowed
    found = rows(
        con, "SELECT severity, count, example FROM quality_findings WHERE rule = 'few_completed_cases'"
    )
    assert found == [("warning", 3, "c5")]  # the earliest completion in the window
    (message,) = rows(con, "SELECT message FROM runs WHERE kind = 'compute'")[0]
    assert f"window {WINDOW}" in message and "3 cases completed in it" in message


def test_per_case_tables_stay_complete(windowed):
    con, _ = windowed
    assert rows(con, "SELECT count(*) FROM cases") == [(6,)]
    assert rows(con, "SELECT count(*) FROM visits") == [(14,)]


def _tables(con) -> dict:
    return {
        t: sorted(
            con.execute(f"SELECT * EXCLUDE (stream) FROM {t}").fetchall(), key=lambda r: [str(v) for v in r]
        )
        for t in AGGREGATES
    }


def test_the_window_all_gives_the_whole_history(tmp_path):
    results = []
    for window in ("", "all"):
        folder = tmp_path / (window or "none")
        folder.mkdir()
        with open_store(folder / "vsm.duckdb") as con:
            settings = settings_for(folder, window)
            ingest(con, settings)
            compute_flow(con, settings)
            results.append(_tables(con))
            assert summary(con)["window"] == "all"
            assert rows(con, "SELECT count(*) FROM quality_findings WHERE rule = 'few_completed_cases'") == [
                (0,)
            ]
    assert results[0] == results[1]
    with open_store(tmp_path / "none" / "vsm.duckdb") as con:
        s = summary(con)
        # all six cases; completed c1, c2, c4, c5 and (at its exit, as_of) c3; c6 open
        assert (s["cases"], s["completed_cases"], s["open_cases"]) == (6, 5, 1)
        assert rows(con, "SELECT count(*) FROM wip_daily") == [(26,)]  # Mar 1 .. Mar 26


def test_a_window_change_recomputes_the_aggregates_incrementally_as_a_full_compute_would(tmp_path):
    with open_store(tmp_path / "vsm.duckdb") as con:
        settings = settings_for(tmp_path)
        ingest(con, settings)
        compute_flow(con, settings)
        settings.window = WINDOW
        changed = compute_flow(con, settings)
        # no case changed, but the stored aggregates are of another window: not "current"
        assert (changed.full, changed.recomputed_cases, changed.window) == (False, 0, WINDOW)
        incremental = _tables(con)
        again = compute_flow(con, settings)  # now nothing changed at all: current, no new run of results
        assert again.window == WINDOW
        assert rows(con, "SELECT count(*) FROM map_history") == [(2,)]
    full_dir = tmp_path / "full"
    full_dir.mkdir()
    with open_store(full_dir / "vsm.duckdb") as con:
        settings = settings_for(full_dir, WINDOW)
        ingest(con, settings)
        compute_flow(con, settings, full=True)
        assert _tables(con) == incremental


def test_last_n_days_closes_at_as_of(tmp_path):
    with open_store(tmp_path / "vsm.duckdb") as con:
        settings = settings_for(tmp_path, "last 7d")
        ingest(con, settings)
        result = compute_flow(con, settings)
        s = summary(con)
        # as_of Mar 26 08:00: [Mar 19 08:00, as_of], closed at as_of: c3's exit at as_of is in it
        assert result.window == "2026-03-19T08:00:00..2026-03-26T08:00:00"
        assert (s["window_start"], s["window_end"]) == (mar(19, 8), mar(26, 8))
        assert s["completed_cases"] == 1 and s["lead_time_p50_s"] == pytest.approx(11 * DAY)
        # c6's B is in process at as_of, which the window reaches: counted in B's visits
        assert rows(con, "SELECT visits, in_process FROM step_metrics WHERE step = 'B'") == [(2, 1)]


def test_a_window_that_misses_the_events_is_refused(tmp_path):
    with open_store(tmp_path / "vsm.duckdb") as con:
        settings = settings_for(tmp_path, "2025-Q4")
        ingest(con, settings)
        with pytest.raises(SettingsError, match=r"\[flow\] window = '2025-Q4' .*does not meet the events"):
            compute_flow(con, settings)


@pytest.mark.parametrize("bad", ["2026-13", "last week", "2026-03-10..2026-03-01"])
def test_a_bad_window_setting_is_refused_when_the_settings_load(bad):
    with pytest.raises(SettingsError, match=r"\[flow\] window"):
        settings_from_dict({"stream": {"name": "w"}, "source": {"path": "x.csv"}, "flow": {"window": bad}})


STATUS_LOG = """case_id,status,timestamp
s1,New,2026-03-01 09:00
s1,In Progress,2026-03-02 09:00
s1,Awaiting Customer,2026-03-03 09:00
s1,In Progress,2026-03-12 09:00
s1,Resolved,2026-03-13 09:00
s2,New,2026-03-11 09:00
s2,In Progress,2026-03-14 09:00
s2,Resolved,2026-03-15 09:00
"""


def test_a_status_log_window_that_closes_before_as_of(tmp_path):
    # Window [Mar 5, Mar 11): s1 is on hand all through it, waiting for the customer since Mar 3
    # 09:00; s2 arrives after it; nothing completes in it. as_of is Mar 15 09:00.
    from pipeline.store import query_frame, read_sql

    path = tmp_path / "log.csv"
    path.write_text(STATUS_LOG, encoding="utf-8")
    settings = StreamSettings(
        name="st",
        source=Source(path=str(path)),
        log_shape="status",
        stale_after="60d",
        window="2026-03-05..2026-03-10",
    )
    with open_store(tmp_path / "vsm.duckdb") as con:
        ingest(con, settings)
        compute_flow(con, settings)
        s = summary(con)
        assert (s["cases"], s["open_cases"], s["completed_cases"], s["lead_time_p50_s"]) == (1, 1, 0, None)
        assert rows(
            con, "SELECT min(wip_end), max(wip_end), sum(arrivals), sum(departures), count(*) FROM wip_daily"
        ) == [(1, 1, 0, 0, 6)]
        assert rows(con, "SELECT verdict FROM littles_law WHERE window_kind = 'all'") == [("data gap",)]
        assert rows(con, "SELECT count FROM quality_findings WHERE rule = 'few_completed_cases'") == [(0,)]
        # at Mar 11 00:00: waiting in Awaiting Customer for 7 d 15 h, aged 9 d 15 h, no lead time to rank by
        assert rows(
            con,
            "SELECT case_id, current_step, current_state, age_s, time_in_step_s, age_percentile "
            "FROM aging_wip",
        ) == [("s1", "Awaiting Customer", "waiting", (9 * 24 + 15) * HOUR, (7 * 24 + 15) * HOUR, None)]
        # the report's cumulative flow by status: s1's period entered before the window counts
        # from its first day
        cfd = query_frame(
            con, read_sql("report/rpt_cfd_statuses.sql"), {"stream": "st", "timezone": "UTC", "top": 8}
        ).filter(band="Awaiting Customer")
        assert cfd["cases"].to_list() == [1] * 6


def test_the_cli_window_overrides_the_setting_and_ingest_computes_the_setting(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.settings import write_settings

    monkeypatch.chdir(tmp_path)
    settings = settings_for(tmp_path, WINDOW)
    (tmp_path / "streams").mkdir()
    write_settings(settings, tmp_path / "streams" / "w.toml")
    runner = CliRunner()
    ingested = runner.invoke(app, ["ingest", "w", "--no-png"])
    assert ingested.exit_code == 0, ingested.output
    assert f"window {WINDOW}" in ingested.output and "only 3 cases completed in the window" in ingested.output
    computed = runner.invoke(app, ["compute", "w", "--no-png", "--window", "all"])
    assert computed.exit_code == 0, computed.output
    with open_store(tmp_path / "vsm.duckdb", read_only=True) as con:
        assert rows(con, 'SELECT "window", completed_cases FROM stream_summary') == [("all", 5)]
    bad = runner.invoke(app, ["compute", "w", "--no-png", "--window", "March"])
    assert bad.exit_code == 2 and "--window = 'March': expected a window such as" in bad.output
    missed = runner.invoke(app, ["discover", "log.csv", "--stream", "w", "--no-png", "--window", "2027"])
    assert missed.exit_code == 2 and "does not meet the events" in missed.output


def test_a_months_window_repeats_the_whole_historys_days_of_that_month(tmp_path):
    # A second method: WIP at each day's close, the day's average, arrivals and departures do
    # not depend on where the window starts, so the window 2026-04 has exactly the whole
    # history's April rows (and its Little's Law month row), step WIP included.
    from tests.conftest import PROJECT

    def figures(con):
        return (
            rows(con, "SELECT * EXCLUDE (stream) FROM wip_daily WHERE month(day) = 4 ORDER BY day"),
            rows(
                con, "SELECT * EXCLUDE (stream) FROM step_wip_daily WHERE month(day) = 4 ORDER BY step, day"
            ),
            rows(
                con,
                "SELECT * EXCLUDE (stream, window_kind, why) FROM littles_law "
                "WHERE window_kind = 'month' AND month(window_start) = 4",
            ),
        )

    got = {}
    for window in ("all", "2026-04"):
        with open_store(tmp_path / f"{window}.duckdb") as con:
            settings = StreamSettings(
                name="claims", source=Source(path=str(PROJECT / "sample_logs/claims.csv"))
            )
            settings.window = window
            ingest(con, settings)
            compute_flow(con, settings)
            got[window] = figures(con)
    days, step_days, month = got["2026-04"]
    assert len(days) == 30 and len(month) == 1 and step_days
    assert got["2026-04"] == got["all"]
