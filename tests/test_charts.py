"""The report's charts: pure functions from small frames to SVG text."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from pipeline import charts
from pipeline.svg import date_ticks, nice_ticks, wrap

EVIL = "<script>alert(1)</script>"


def test_empty_inputs_draw_a_message_not_an_error():
    empty_days = pl.DataFrame(schema={"day": pl.Date, "wip_end": pl.Int64, "wip_avg": pl.Float64})
    assert "no WIP" in charts.wip_chart(empty_days)
    flow = pl.DataFrame(schema={"day": pl.Date, "done": pl.Int64, "wip_end": pl.Int64})
    bands = pl.DataFrame(
        schema={"day": pl.Date, "band": pl.String, "position": pl.Float64, "cases": pl.Int64}
    )
    assert "no cumulative flow" in charts.cumulative_flow_chart(bands, flow, "(other)", "(between)")
    points = pl.DataFrame(schema={"exit_at": pl.Datetime, "lead_days": pl.Float64})
    assert "no completed cases" in charts.lead_time_scatter(points, {}, 1.0, None, None)
    aging = pl.DataFrame(
        schema={"column": pl.String, "case_id": pl.String, "current_state": pl.String, "age_days": pl.Float64}
    )
    assert "no open cases" in charts.aging_wip_chart(aging, [], {}, 1.0)
    assert "no handoffs" in charts.handoff_matrix(pl.DataFrame(), [])


def test_nice_ticks_start_at_zero_and_cover_the_maximum():
    assert nice_ticks(81) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(5) == [0, 1, 2, 3, 4, 5]
    assert nice_ticks(27.9) == [0, 10, 20, 30]


def test_date_ticks_are_calendar_aligned():
    # 8 days: one tick a day; four months: month starts; five years: years
    assert [t for _, t in date_ticks(date(2026, 3, 1), date(2026, 3, 8))][:2] == ["2026-03-01", "2026-03-02"]
    assert [t for _, t in date_ticks(date(2026, 3, 2), date(2026, 6, 30), 5)] == [
        "2026-04",
        "2026-05",
        "2026-06",
    ]
    assert [t for _, t in date_ticks(date(2010, 3, 31), date(2015, 5, 22), 6)] == [
        "2011",
        "2012",
        "2013",
        "2014",
        "2015",
    ]


def test_long_step_names_wrap_at_word_and_underscore_breaks():
    assert wrap("W_Nabellen incomplete dossiers", 14) == ["W_Nabellen", "incomplete", "dossiers"]
    assert wrap("Accepted / Wait - Implementation", 20) == ["Accepted / Wait -", "Implementation"]
    assert wrap("x" * 40, 10, lines=1) == ["xxxxxxxxx…"]


def test_names_from_data_are_escaped_in_every_chart():
    days = [date(2026, 3, 1), date(2026, 3, 2)]
    bands = pl.DataFrame({"day": days, "band": [EVIL, EVIL], "position": [1.0, 1.0], "cases": [2, 3]})
    flow = pl.DataFrame({"day": days, "done": [0, 1], "wip_end": [2, 3]})
    aging = pl.DataFrame(
        {"column": [EVIL], "case_id": ["C1"], "current_state": ["queued"], "age_days": [2.0]}
    )
    handoffs = pl.DataFrame({"from_team": [EVIL], "to_team": ["B"], "count": [4]})
    drawn = [
        charts.cumulative_flow_chart(bands, flow, "(other)", "(between)"),
        charts.aging_wip_chart(aging, [(EVIL, 1)], {"p50": 1.0}, 3.0),
        charts.handoff_matrix(handoffs, [EVIL, "B"]),
    ]
    for svg in drawn:
        assert EVIL not in svg
        assert "&lt;script&gt;" in svg


def test_the_same_frames_draw_the_same_svg():
    points = pl.DataFrame(
        {
            "exit_at": [datetime(2026, 3, 2, 9), datetime(2026, 3, 3, 17), datetime(2026, 3, 5, 12)],
            "lead_days": [1.5, 3.0, 40.0],
        }
    )
    percentiles = {"p50": 3.0, "p85": 10.0, "p95": 30.0}
    first = charts.lead_time_scatter(points, percentiles, 30.0, date(2026, 3, 2), date(2026, 3, 5))
    again = charts.lead_time_scatter(points, percentiles, 30.0, date(2026, 3, 2), date(2026, 3, 5))
    assert first == again
    assert "1 cases over 30 days" in first  # the outlier sits on the top edge, said in the legend


def test_throughput_goes_weekly_over_120_days_and_marks_partial_weeks():
    days = pl.date_range(date(2026, 1, 1), date(2026, 6, 30), eager=True)  # a Thursday to a Tuesday
    wip = pl.DataFrame({"day": days, "departures": [1] * days.len()})
    periods, period = charts.throughput_periods(wip)
    assert period == "week"
    assert periods["full"].to_list()[0] is False and periods["full"].to_list()[-1] is False
    assert periods["departures"].sum() == days.len()
