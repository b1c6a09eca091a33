"""Measurement windows: the text a user gives (`--window`, `[flow] window`, `vsm compare
--before/--after`) turned into a half-open span of time [start, end) in the stream's zone.

Forms (dates are calendar days in the stream's timezone; a span of days includes its last day):

- ``2026-03-01..2026-03-14``: from 2026-03-01 00:00 to 2026-03-15 00:00.
- ``2026-03-01T08:00..2026-03-01T17:00``: date-times, the end excluded.
- ``2026-03``: a month; ``2026-Q1``: a quarter; ``2026``: a year.
- ``last 14d`` (also ``h``, ``w``; ``last 2w``): the span of that length ending at `as_of`
  (the compute's "now"), so its label depends on when it is resolved.
- ``all`` (or empty): no window, the stream's whole history.

A window is resolved once (`parse_window`) into a `Window`, whose `label` is the canonical
text stored with results (``2026-03-01..2026-03-14``, or ``all``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pipeline.errors import SettingsError

ALL = "all"

_DAY = r"\d{4}-\d{2}-\d{2}"
_STAMP = rf"{_DAY}(?:[T ]\d{{2}}:\d{{2}}(?::\d{{2}})?)?"
_RANGE = re.compile(rf"\s*({_STAMP})\s*\.\.\s*({_STAMP})\s*")
_MONTH = re.compile(r"\s*(\d{4})-(\d{2})\s*")
_QUARTER = re.compile(r"\s*(\d{4})-[Qq]([1-4])\s*")
_YEAR = re.compile(r"\s*(\d{4})\s*")
_LAST = re.compile(r"\s*last\s+(\d+)\s*([hdw])\s*", re.IGNORECASE)
_LAST_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}

FORMS = "'2026-03-01..2026-03-14', '2026-03', '2026-Q1', '2026', 'last 14d' or 'all'"


@dataclass(frozen=True)
class Window:
    """[start, end) in the stream's zone (aware datetimes); both None for `all`."""

    label: str
    start: datetime | None = None
    end: datetime | None = None

    @property
    def is_all(self) -> bool:
        return self.start is None

    @property
    def days(self) -> float | None:
        """The window's length in days (throughput per day divides by it); None for `all`."""
        if self.start is None or self.end is None:
            return None
        # in UTC: Python subtracts two times of one zone on the wall clock, blind to DST
        return (self.end.astimezone(UTC) - self.start.astimezone(UTC)).total_seconds() / 86400


def parse_window(
    text: str | None, timezone: str = "UTC", as_of: datetime | None = None, key: str = "--window"
) -> Window:
    """The window `text` names (see the module's forms), in `timezone`; `as_of` resolves
    ``last N``. A SettingsError names `key`, the value and the forms allowed."""
    raw = "" if text is None else str(text)
    if raw.strip().lower() in ("", ALL):
        return Window(ALL)
    zone = ZoneInfo(timezone)
    try:
        if m := _RANGE.fullmatch(raw):
            start, end = _stamp(m.group(1), zone, False), _stamp(m.group(2), zone, True)
        elif m := _QUARTER.fullmatch(raw):
            year, quarter = int(m.group(1)), int(m.group(2))
            start = _midnight(date(year, 3 * quarter - 2, 1), zone)
            end = _midnight(_next_month(date(year, 3 * quarter, 1)), zone)
        elif m := _MONTH.fullmatch(raw):
            first = date(int(m.group(1)), int(m.group(2)), 1)
            start, end = _midnight(first, zone), _midnight(_next_month(first), zone)
        elif m := _YEAR.fullmatch(raw):
            year = int(m.group(1))
            start, end = _midnight(date(year, 1, 1), zone), _midnight(date(year + 1, 1, 1), zone)
        elif m := _LAST.fullmatch(raw):
            if as_of is None:
                raise SettingsError(f"{key} = {raw!r}: 'last N' needs the compute's as_of time")
            length = int(m.group(1)) * _LAST_UNITS[m.group(2).lower()]
            if length <= timedelta(0):
                raise ValueError("an empty span")
            end = as_of.astimezone(zone)
            start = end - length
        else:
            raise ValueError("not one of the forms")
    except ValueError as exc:
        raise SettingsError(f"{key} = {raw!r}: expected a window such as {FORMS} ({exc})") from None
    if end <= start:
        raise SettingsError(f"{key} = {raw!r}: the window ends before it starts")
    return Window(_label(start, end, zone), start, end)


def _stamp(text: str, zone: ZoneInfo, is_end: bool) -> datetime:
    text = text.replace(" ", "T")
    if "T" not in text:  # a day: the end of a span of days includes that day
        day = date.fromisoformat(text)
        return _midnight(day + timedelta(days=1) if is_end else day, zone)
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _label(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """``2026-03-01..2026-03-14`` for whole days (the last day included), else the two
    date-times to the second, the end excluded (``2026-03-01T08:00:00..2026-03-01T17:00:00``)."""
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    if local_start.time() == time(0) and local_end.time() == time(0):
        return f"{local_start.date().isoformat()}..{(local_end.date() - timedelta(days=1)).isoformat()}"
    fmt = "%Y-%m-%dT%H:%M:%S"
    return f"{local_start.strftime(fmt)}..{local_end.strftime(fmt)}"
