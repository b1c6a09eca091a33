"""Business-hours calendars (issue 20): the settings' [calendar] and [calendars.teams] in, the
working intervals the flow measures business time with out.

A calendar is an IANA time zone, weekly working hours (several intervals a day), holidays
(the `holidays` package by country and subdivision, plus explicit dates) and the local day
it is valid from: a calendar that changes is a list of such versions (`[[calendar]]`), each
in force from its `valid_from` until the next one's (the first also before its own).

`calendar_intervals` lays a calendar out as its working intervals in UTC, one row per
interval of each working local day, each with the working seconds of the calendar before
it (`cum_before_s`). The flow's SQL (sql/flow/calendar_hours.sql) cuts them into UTC
hours, each with the working seconds before it and its working parts, and measures the
business seconds between two instants set-wise: W(t) = the working seconds before t's hour
plus the working part of that hour up to t (an equality join on the hour, no sort of the
visits), and business(a, b) = W(b) - W(a). Local times are
turned into UTC instants day by day through the zone, so a working day that spans a DST
change is as long as the clock says (a 00:00-04:00 interval lasts 3 h or 5 h that day).
No calendar is 24x7: business time is elapsed time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from pipeline.errors import SettingsError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CALENDAR_KEYS = ("timezone", "hours", "holidays", "valid_from")
HOLIDAY_KEYS = ("country", "subdivision", "dates")
_SPAN = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)")

# flow_calendar_intervals' calendar numbers: the stream's is 1, teams' from 2 on
STREAM_CALENDAR = 1


@dataclass
class CalendarVersion:
    """One version of a calendar, as the settings write it (validated)."""

    timezone: str
    hours: dict[str, list[str]]  # weekday (mon..sun) -> ["08:00-12:00", ...]; left out: closed
    country: str = ""  # `holidays` country code; empty: no public holidays
    subdivision: str = ""  # the country's subdivision (state, province); empty: national only
    dates: list[str] = field(default_factory=list)  # extra closed days, ISO dates
    valid_from: str = ""  # ISO date (local): in force from that day on; empty: from the start


def _minutes(hh: str, mm: str) -> int:
    return int(hh) * 60 + int(mm)


def parse_spans(spans, key: str) -> list[tuple[int, int]]:
    """["08:00-12:00", ...] -> [(480, 720), ...] minutes of the local day, sorted; 24:00 ends
    the day. Overlapping or empty spans are refused."""
    if not isinstance(spans, list) or not all(isinstance(s, str) for s in spans):
        raise SettingsError(f'{key} = {spans!r}: expected a list of "HH:MM-HH:MM" working intervals')
    out = []
    for text in spans:
        m = _SPAN.fullmatch(text.strip())
        start, end = (_minutes(m[1], m[2]), _minutes(m[3], m[4])) if m else (None, None)
        if not m or int(m[2]) > 59 or int(m[4]) > 59 or start >= 24 * 60 or end > 24 * 60 or start >= end:
            raise SettingsError(
                f'{key}: {text!r}: expected "HH:MM-HH:MM" with the start before the end, within one day '
                '(00:00 to 24:00), e.g. "08:00-12:00"'
            )
        out.append((start, end))
    out.sort()
    for (_, end), (start, _) in zip(out, out[1:], strict=False):
        if start < end:
            raise SettingsError(f"{key} = {spans!r}: working intervals overlap")
    return out


def _iso_date(text, key: str) -> date:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{key} = {text!r}: expected an ISO date such as '2026-12-24'") from exc


def _country_holidays(country: str, subdivision: str, years, key: str):
    import holidays  # only streams with a country calendar pay for its import

    try:
        return holidays.country_holidays(country, subdiv=subdivision or None, years=years)
    except NotImplementedError as exc:
        raise SettingsError(
            f"{key}: country = {country!r}, subdivision = {subdivision!r}: not known to the holidays "
            f"package ({exc}); expected an ISO country code such as 'NL' or 'US' and, optionally, one "
            "of its subdivisions"
        ) from exc


def parse_version(table, where: str, inherit: CalendarVersion | None, default_tz: str) -> CalendarVersion:
    """One calendar table of the settings, validated. Keys left out come from `inherit` (a
    team's calendar inherits the stream's), else: the stream's time zone, no holidays; the
    hours are required then."""
    from pipeline.settings import parse_timezone

    if not isinstance(table, dict):
        raise SettingsError(f"{where}: expected a table with keys {', '.join(CALENDAR_KEYS)}")
    unknown = sorted(set(table) - set(CALENDAR_KEYS))
    if unknown:
        raise SettingsError(f"{where}: unknown key {unknown[0]!r}; allowed keys: {', '.join(CALENDAR_KEYS)}")
    base = inherit or CalendarVersion(timezone=default_tz, hours={})
    tz = table.get("timezone", base.timezone)
    if not isinstance(tz, str):
        raise SettingsError(f"{where} timezone = {tz!r}: expected an IANA time zone name")
    parse_timezone(tz, f"{where} timezone")
    if "hours" not in table and inherit is None:
        raise SettingsError(
            f'{where}: hours missing: expected e.g. hours = {{ mon = ["08:00-17:00"], ... }} (days left out '
            "are closed)"
        )
    hours = table.get("hours", base.hours)
    if not isinstance(hours, dict):
        raise SettingsError(f"{where} hours = {hours!r}: expected a table of weekday = [intervals]")
    wrong = sorted(set(hours) - set(WEEKDAYS))
    if wrong:
        raise SettingsError(f"{where} hours: {wrong[0]!r} is not a weekday; expected {', '.join(WEEKDAYS)}")
    for day, spans in hours.items():
        parse_spans(spans, f"{where} hours.{day}")
    if not any(hours.values()):
        raise SettingsError(
            f"{where} hours = {hours!r}: no working hours on any day: every business duration would be 0"
        )
    hol = table.get("holidays")
    country, subdivision, dates = base.country, base.subdivision, base.dates
    if hol is not None:
        if not isinstance(hol, dict):
            raise SettingsError(f"{where} holidays = {hol!r}: expected {{ country, subdivision, dates }}")
        unknown = sorted(set(hol) - set(HOLIDAY_KEYS))
        if unknown:
            raise SettingsError(
                f"{where} holidays: unknown key {unknown[0]!r}; allowed keys: {', '.join(HOLIDAY_KEYS)}"
            )
        country, subdivision = hol.get("country", ""), hol.get("subdivision", "")
        dates = hol.get("dates", [])
        if not isinstance(country, str) or not isinstance(subdivision, str):
            raise SettingsError(f"{where} holidays: country and subdivision are texts, e.g. 'NL', ''")
        if subdivision and not country:
            raise SettingsError(f"{where} holidays: subdivision = {subdivision!r} needs a country")
        if country:
            _country_holidays(country, subdivision, [], f"{where} holidays")
        if not isinstance(dates, list):
            raise SettingsError(f"{where} holidays.dates = {dates!r}: expected a list of ISO dates")
        for d in dates:
            _iso_date(d, f"{where} holidays.dates")
    valid_from = table.get("valid_from", "")
    if valid_from:
        _iso_date(valid_from, f"{where} valid_from")
    return CalendarVersion(
        timezone=tz,
        hours={d: list(hours[d]) for d in WEEKDAYS if d in hours},
        country=country,
        subdivision=subdivision,
        dates=list(dates),
        valid_from=valid_from,
    )


def parse_calendar(value, where: str, default_tz: str, inherit: list[CalendarVersion] | None = None):
    """A calendar: one table, or a list of versions (each but the first with valid_from,
    in increasing order). `inherit`: the stream's calendar, whose version in force at a
    team version's valid_from gives that version's keys left out."""
    tables = value if isinstance(value, list) else [value]
    if not tables:
        raise SettingsError(f"{where}: expected at least one calendar")
    versions: list[CalendarVersion] = []
    for i, table in enumerate(tables):
        at = f"{where}[{i}]" if isinstance(value, list) else where
        start = table.get("valid_from", "") if isinstance(table, dict) else ""
        base = (
            version_at(inherit, _iso_date(start, f"{at} valid_from") if start else None) if inherit else None
        )
        versions.append(parse_version(table, at, base, default_tz))
        if i > 0 and not versions[-1].valid_from:
            raise SettingsError(f"{at}: valid_from missing: every calendar version after the first needs one")
        if i > 0 and versions[i - 1].valid_from and versions[-1].valid_from <= versions[i - 1].valid_from:
            raise SettingsError(
                f"{at} valid_from = {versions[-1].valid_from!r}: expected a later date than the last"
            )
    return versions


def version_at(versions: list[CalendarVersion], day: date | None) -> CalendarVersion:
    """The version in force on a local day: the last whose valid_from is on or before it, the
    first before any."""
    chosen = versions[0]
    for v in versions[1:]:
        if day is not None and date.fromisoformat(v.valid_from) <= day:
            chosen = v
    return chosen


def _closed_days(versions: list[CalendarVersion], first: date, last: date) -> dict[int, set[date]]:
    years = range(first.year, last.year + 1)
    closed = {}
    for i, v in enumerate(versions):
        days = {date.fromisoformat(d) for d in v.dates}
        if v.country:
            days |= set(_country_holidays(v.country, v.subdivision, years, "[calendar] holidays"))
        closed[i] = days
    return closed


def calendar_intervals(
    calendars: dict[int, list[CalendarVersion]], start: datetime, end: datetime
) -> pl.DataFrame:
    """Every working interval of each calendar whose local day lies in [start - 2 d, end + 2 d]
    (UTC instants), with the working seconds of the calendar before it.

    Columns: calendar_no, start_ts, end_ts (UTC), length_s, cum_before_s. A loop over local
    days and their few intervals (3,650 days for ten years), never over cases or visits.
    An interval that a version change or zone change would make overlap the one before is
    cut to start where that one ends, so W(t) never runs backwards."""
    rows = []
    first, last = (start - timedelta(days=2)).date(), (end + timedelta(days=2)).date()
    for no, versions in calendars.items():
        closed = _closed_days(versions, first, last)
        cum, prev_end = 0.0, None
        day = first
        while day <= last:
            i = max((k for k, v in enumerate(versions) if k == 0 or date.fromisoformat(v.valid_from) <= day))
            v = versions[i]
            if day not in closed[i]:
                zone = ZoneInfo(v.timezone)
                for a, b in parse_spans(v.hours.get(WEEKDAYS[day.weekday()], []), "[calendar] hours"):
                    lo = _local(day, a, zone)
                    hi = _local(day, b, zone)
                    if prev_end is not None and lo < prev_end:
                        lo = prev_end
                    if hi <= lo:
                        continue
                    length = (hi - lo).total_seconds()
                    rows.append((no, lo, hi, length, cum))
                    cum += length
                    prev_end = hi
            day += timedelta(days=1)
    return pl.DataFrame(
        rows,
        schema={
            "calendar_no": pl.Int32,
            "start_ts": pl.Datetime("us", "UTC"),
            "end_ts": pl.Datetime("us", "UTC"),
            "length_s": pl.Float64,
            "cum_before_s": pl.Float64,
        },
        orient="row",
    )


def _local(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local day's minute (24:00: the next day's midnight)."""
    local = datetime.combine(day + timedelta(days=minutes // 1440), time(minutes % 1440 // 60, minutes % 60))
    return local.replace(tzinfo=zone).astimezone(UTC)


def render_calendar(name: str, versions: list[CalendarVersion], toml_str) -> list[str]:
    """TOML lines for a calendar under table `name` (one version: [name], else [[name]])."""
    lines = []
    for v in versions:
        lines.append(f"[{name}]" if len(versions) == 1 else f"[[{name}]]")
        lines.extend(_version_lines(v, toml_str))
        lines.append("")
    return lines


def _version_lines(v: CalendarVersion, toml_str) -> list[str]:
    hours = ", ".join(
        f"{d} = [{', '.join(toml_str(s) for s in v.hours[d])}]" for d in WEEKDAYS if d in v.hours
    )
    dates = ", ".join(toml_str(d) for d in v.dates)
    lines = [f"timezone = {toml_str(v.timezone)}", f"hours = {{ {hours} }}"]
    lines.append(
        f"holidays = {{ country = {toml_str(v.country)}, subdivision = {toml_str(v.subdivision)}, "
        f"dates = [{dates}] }}"
    )
    if v.valid_from:
        lines.append(f"valid_from = {toml_str(v.valid_from)}")
    return lines


def render_team_calendars(teams: dict[str, list[CalendarVersion]], toml_str) -> list[str]:
    lines = []
    for team, versions in teams.items():
        lines.extend(render_calendar(f"calendars.teams.{toml_str(team)}", versions, toml_str))
    return lines


def stage_calendars(
    engine, calendar: list[CalendarVersion], teams: dict[str, list[CalendarVersion]], first, last
):
    """Lay the stream's calendars out for the flow: flow_calendar_intervals (calendar_no,
    start_ts, end_ts, length_s, cum_before_s) over [first, last], flow_calendar_numbers
    (calendar_no: each calendar) and flow_team_calendars (team: the flow's owner number,
    calendar_no). Returns the stream calendar's number (None when it has none: 24x7) and the
    teams of [calendars.teams] that no event of the stream has (their calendar acts on none).
    `engine`: where the flow runs (pipeline/engine.py): the tables are registered from Arrow."""
    numbered = {STREAM_CALENDAR: calendar} if calendar else {}
    team_numbers = {}
    for i, (team, versions) in enumerate(teams.items()):
        numbered[STREAM_CALENDAR + 1 + i] = versions
        team_numbers[team] = STREAM_CALENDAR + 1 + i
    intervals = calendar_intervals(numbered, first, last) if numbered and first is not None else None
    if intervals is None:
        intervals = calendar_intervals({}, datetime.now(UTC), datetime.now(UTC))
    engine.register("flow_calendar_intervals", intervals.sort("calendar_no", "start_ts").to_arrow())
    engine.register(  # polars, not pa.array: see flow.names_column
        "flow_calendar_numbers",
        pl.DataFrame({"calendar_no": list(numbered)}, schema={"calendar_no": pl.Int32}).to_arrow(),
    )
    frame = pl.DataFrame(
        {"name": list(team_numbers), "calendar_no": list(team_numbers.values())},
        schema={"name": pl.String, "calendar_no": pl.Int32},
    )
    owners = pl.from_arrow(engine.read_arrow("SELECT owner_no, name FROM flow_owner_names"))
    engine.register(
        "flow_team_calendars",
        frame.join(owners, on="name").select(pl.col("owner_no").alias("team"), "calendar_no").to_arrow(),
    )
    unknown = sorted(frame.join(owners, on="name", how="anti")["name"].to_list())
    return (STREAM_CALENDAR if calendar else None), unknown


def holidays_version(calendar: list[CalendarVersion], teams: dict[str, list[CalendarVersion]]) -> str:
    """The `holidays` package's version when a calendar takes public holidays from it (a new
    version may move a holiday: the incremental compute then recomputes in full); else ''."""
    if not any(v.country for versions in (calendar, *teams.values()) for v in versions):
        return ""
    import holidays

    return holidays.__version__


def hour_range(first: datetime | None, last: datetime | None) -> tuple[int, int]:
    """The UTC hours (since the epoch) sql/flow/calendar_hours.sql lays out: three days
    either side of [first, last], so that every instant the flow measures has its hour."""
    if first is None or last is None:
        return 0, -1
    return int((first.timestamp() - 3 * 86400) // 3600), int((last.timestamp() + 3 * 86400) // 3600)
