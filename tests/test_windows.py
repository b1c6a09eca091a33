"""Window texts, resolved by hand (pipeline/windows.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.errors import SettingsError
from pipeline.windows import parse_window

AMS = "Europe/Amsterdam"


def test_a_span_of_days_includes_its_last_day_in_the_stream_zone():
    w = parse_window("2026-03-01..2026-03-14", AMS)
    assert w.label == "2026-03-01..2026-03-14"
    # Amsterdam is UTC+1 in early March: midnight there is 23:00 UTC the day before
    assert w.start.astimezone(UTC) == datetime(2026, 2, 28, 23, tzinfo=UTC)
    assert w.end.astimezone(UTC) == datetime(2026, 3, 14, 23, tzinfo=UTC)
    assert w.days == 14


def test_month_quarter_year_and_the_dst_change_inside_them():
    march = parse_window("2026-03", AMS)
    assert march.label == "2026-03-01..2026-03-31"
    # the clocks go forward on 29 March: the month is one hour short of 31 days
    assert march.days * 86400 == 31 * 86400 - 3600
    q1 = parse_window("2026-q1", "UTC")
    assert (q1.label, q1.days) == ("2026-01-01..2026-03-31", 90)
    q4 = parse_window("2025-Q4", "UTC")
    assert q4.label == "2025-10-01..2025-12-31"
    assert parse_window("2024", "UTC").days == 366


def test_last_n_ends_at_as_of_and_date_times_exclude_their_end():
    as_of = datetime(2026, 5, 10, 12, 30, tzinfo=UTC)
    w = parse_window("last 14d", "UTC", as_of)
    assert (w.start, w.end) == (datetime(2026, 4, 26, 12, 30, tzinfo=UTC), as_of)
    assert w.label == "2026-04-26T12:30:00..2026-05-10T12:30:00"
    assert parse_window("LAST 2w", "UTC", as_of).days == 14
    h = parse_window("2026-03-01T08:00..2026-03-01T17:00", "UTC")
    assert (h.days * 24, h.label) == (9, "2026-03-01T08:00:00..2026-03-01T17:00:00")


@pytest.mark.parametrize("text", ["", "all", " ALL "])
def test_all_is_no_window(text):
    w = parse_window(text, "UTC")
    assert w.is_all and w.label == "all" and w.days is None


@pytest.mark.parametrize(
    "text, why",
    [
        ("2026-03-14..2026-03-01", "ends before it starts"),
        ("2026-13", "expected a window such as"),
        ("last week", "expected a window such as"),
        ("last 0d", "expected a window such as"),
        ("2026-02-30..2026-03-01", "expected a window such as"),
    ],
)
def test_a_bad_window_names_the_key_the_value_and_the_forms(text, why):
    with pytest.raises(SettingsError) as caught:
        parse_window(text, "UTC", datetime(2026, 1, 1, tzinfo=UTC), key="[flow] window")
    assert why in str(caught.value) and f"[flow] window = {text!r}" in str(caught.value)


def test_last_n_without_as_of_is_refused():
    with pytest.raises(SettingsError, match="needs the compute's as_of"):
        parse_window("last 7d", "UTC")
