"""Business-hours calendars and service levels (issue 20). Every figure is worked out by hand
beside its log: times in the logs are UTC, the calendars' hours local (Europe/Amsterdam is
UTC+1 in winter, UTC+2 in summer; America/New_York UTC-5 in winter).

2026-12-04 is a Friday, 2026-12-07 a Monday; Christmas 2026: Thursday 24 (an explicit date
below), Friday 25 and Saturday 26 (Dutch public holidays from the `holidays` package).
Europe/Amsterdam springs forward on Sunday 2026-03-29 and falls back on Sunday 2026-10-25."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import tomli
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from pipeline.calendars import CalendarVersion, calendar_intervals
from pipeline.errors import SettingsError
from pipeline.settings import Columns, render_settings, settings_from_dict
from pipeline.slas import Sla
from pipeline.store import open_store
from tests.logs import load_log, rows

H = 3600.0
OFFICE = {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


def office(**kw) -> list[CalendarVersion]:
    return [
        CalendarVersion(timezone=kw.pop("timezone", "Europe/Amsterdam"), hours=kw.pop("hours", OFFICE), **kw)
    ]


def z(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def run(store, tmp_path, log: str, **kw):
    kw.setdefault("log_shape", "status")
    kw.setdefault("timezone", "Europe/Amsterdam")
    return load_log(store, tmp_path, log, **kw)[1]


# ---------------------------------------------------------------- the calendar itself


def test_no_calendar_lays_out_no_interval():
    assert calendar_intervals({}, z("2026-01-01T00:00:00"), z("2026-02-01T00:00:00")).is_empty()


def test_working_intervals_skip_weekends_and_holidays_and_count_what_came_before():
    cal = office(country="NL", dates=["2026-12-24"])
    got = calendar_intervals({1: cal}, z("2026-12-23T12:00:00"), z("2026-12-28T12:00:00"))
    # local days 12-21 (Mon) .. 12-30 (Wed); closed: 24 (date), 25 (Christmas), 26, 27 (weekend)
    days = [t.astimezone(ZoneInfo("Europe/Amsterdam")).date() for t in got["start_ts"]]
    assert days == [date(2026, 12, d) for d in (21, 22, 23, 28, 29, 30)]
    assert got["start_ts"][0] == z("2026-12-21T08:00:00")  # 09:00 local
    assert got["length_s"].to_list() == [8 * H] * 6
    assert got["cum_before_s"].to_list() == [k * 8 * H for k in range(6)]


# ---------------------------------------------------------------- twins of visits and cases


def test_without_a_calendar_every_twin_is_the_elapsed_value(store, tmp_path):
    log = (
        "case,activity,lifecycle,time\n"
        "c1,A,start,2026-12-04T16:00:00Z\n"
        "c1,A,complete,2026-12-05T10:00:00Z\n"
        "c1,A,start,2026-12-06T10:00:00Z\n"  # a second session of A: 24 h paused
        "c1,A,complete,2026-12-07T10:00:00Z\n"
        "c1,B,complete,2026-12-08T10:00:00Z\n"
    )
    run(store, tmp_path, log, log_shape="auto", end_activities=["B"])
    got = rows(
        store,
        "SELECT queue_time_s IS NOT DISTINCT FROM queue_time_bh_s, "
        "process_time_s IS NOT DISTINCT FROM process_time_bh_s, "
        "elapsed_s IS NOT DISTINCT FROM elapsed_bh_s, paused_s IS NOT DISTINCT FROM paused_bh_s, "
        "queue_internal_s IS NOT DISTINCT FROM queue_internal_bh_s, "
        "queue_external_s IS NOT DISTINCT FROM queue_external_bh_s FROM visits",
    )
    assert got == [(True,) * 6] * 2
    assert rows(store, "SELECT lead_time_s, lead_time_bh_s, process_time_bh_s FROM cases") == [
        (90 * H, 90 * H, (18 + 24) * H)  # A: two sessions of 18 h and 24 h; B a point
    ]


def test_a_ticket_over_a_weekend_waited_one_working_hour(store, tmp_path):
    # New Fri 17:00 local, In Progress Mon 09:30, Resolved Mon 10:00: 65 h elapsed, 1 working
    # hour (Mon 09:00-10:00); the visit queued 30 working minutes (Mon 09:00-09:30) of 64.5 h
    log = (
        "number,state,ts\n"
        "c1,New,2026-12-04T16:00:00Z\n"
        "c1,In Progress,2026-12-07T08:30:00Z\n"
        "c1,Resolved,2026-12-07T09:00:00Z\n"
    )
    run(store, tmp_path, log, calendar=office())
    assert rows(
        store, "SELECT lead_time_s, lead_time_bh_s, queue_time_bh_s, process_time_bh_s FROM cases"
    ) == [(65 * H, 1 * H, 0.5 * H, 0.5 * H)]
    assert rows(
        store,
        "SELECT queue_time_s, queue_time_bh_s, process_time_bh_s, elapsed_bh_s, queue_internal_bh_s, "
        "queue_external_bh_s, paused_bh_s FROM visits",
    ) == [(64.5 * H, 0.5 * H, 0.5 * H, 1 * H, 0.5 * H, 0.0, 0.0)]


def test_holidays_from_the_country_and_explicit_dates_are_closed(store, tmp_path):
    # Wed 23 Dec 16:00 local -> Mon 28 Dec 10:00: Wed 16-17 (1 h), Thu 24 closed (a date of
    # the settings), Fri 25 closed (Christmas, NL), weekend, Mon 09-10 (1 h): 2 h.
    # Without the explicit date: Thu counts 8 h more.
    log = "number,state,ts\nc1,New,2026-12-23T15:00:00Z\nc1,Resolved,2026-12-28T09:00:00Z\n"
    run(store, tmp_path, log, calendar=office(country="NL", dates=["2026-12-24"]))
    assert rows(store, "SELECT lead_time_bh_s FROM cases") == [(2 * H,)]
    run(store, tmp_path, log, name="u", calendar=office(country="NL"))
    assert rows(store, "SELECT lead_time_bh_s FROM cases WHERE stream = 'u'") == [(10 * H,)]


def test_a_working_interval_across_a_dst_change_is_as_long_as_the_clock_says(store, tmp_path):
    # Sundays 00:00-04:00 local only. Spring (29 March): 00:00 CET = 23:00Z, 04:00 CEST =
    # 02:00Z: 3 h. Autumn (25 October): 00:00 CEST = 22:00Z, 04:00 CET = 03:00Z: 5 h.
    log = (
        "number,state,ts\n"
        "spring,New,2026-03-28T12:00:00Z\nspring,Resolved,2026-03-30T12:00:00Z\n"
        "autumn,New,2026-10-24T12:00:00Z\nautumn,Resolved,2026-10-26T12:00:00Z\n"
    )
    run(store, tmp_path, log, calendar=office(hours={"sun": ["00:00-04:00"]}))
    assert rows(store, "SELECT case_id, lead_time_s, lead_time_bh_s FROM cases ORDER BY case_id") == [
        ("autumn", 48 * H, 5 * H),
        ("spring", 48 * H, 3 * H),
    ]


def test_a_team_in_another_time_zone_uses_its_own_calendar(store, tmp_path):
    # Both in progress Mon 08:00Z-15:00Z (Amsterdam 09:00-16:00, New York 03:00-10:00). The US
    # team's calendar inherits the office hours in New York: 09:00-10:00 there, 1 h; the EU
    # team (no calendar of its own) uses the stream's: 7 h. The cases' lead time (arrival
    # 07:00Z = 08:00 local) is in the stream's calendar: 09:00-16:00, 7 h, for both.
    log = (
        "number,state,ts,group\n"
        "us,New,2026-12-07T07:00:00Z,US\nus,In Progress,2026-12-07T08:00:00Z,US\n"
        "us,Resolved,2026-12-07T15:00:00Z,US\n"
        "eu,New,2026-12-07T07:00:00Z,EU\neu,In Progress,2026-12-07T08:00:00Z,EU\n"
        "eu,Resolved,2026-12-07T15:00:00Z,EU\n"
    )
    data = tomli.loads(
        '[stream]\nname = "t"\ntimezone = "Europe/Amsterdam"\n[source]\npath = "x.csv"\n'
        '[calendar]\nhours = { mon = ["09:00-17:00"], tue = ["09:00-17:00"] }\n'
        '[calendars.teams.US]\ntimezone = "America/New_York"\n'
        '[calendars.teams.Nobody]\ntimezone = "Asia/Tokyo"\n'
    )
    parsed = settings_from_dict(data)
    assert parsed.calendars["US"][0].hours == {"mon": ["09:00-17:00"], "tue": ["09:00-17:00"]}
    run(
        store,
        tmp_path,
        log,
        step_by="activity",
        calendar=parsed.calendar,
        calendars=parsed.calendars,
        columns=Columns(case_id="number", activity=["state"], timestamp="ts", team="group"),
    )
    assert rows(store, "SELECT case_id, process_time_s, process_time_bh_s FROM visits ORDER BY case_id") == [
        ("eu", 7 * H, 7 * H),
        ("us", 7 * H, 1 * H),
    ]
    assert rows(store, "SELECT case_id, lead_time_bh_s FROM cases ORDER BY case_id") == [
        ("eu", 7 * H),
        ("us", 7 * H),
    ]
    # a team calendar for a team no event has acts on nothing: the run says so
    message = rows(store, "SELECT message FROM runs WHERE kind = 'compute' ORDER BY run_id DESC LIMIT 1")[0][
        0
    ]
    assert message.endswith("names teams no event has (their calendars measure nothing yet): Nobody")


def test_a_calendar_change_takes_effect_from_its_valid_from_day(store, tmp_path):
    # 09:00-17:00 until Tue 8 Dec, 09:00-13:00 from Wed 9 Dec: Mon 8 h + Tue 8 h + Wed 4 h
    log = "number,state,ts\nc1,New,2026-12-07T08:00:00Z\nc1,Resolved,2026-12-09T16:00:00Z\n"
    later = CalendarVersion(
        timezone="Europe/Amsterdam", hours={"wed": ["09:00-13:00"]}, valid_from="2026-12-09"
    )
    run(store, tmp_path, log, calendar=[*office(), later])
    assert rows(store, "SELECT lead_time_bh_s FROM cases") == [(20 * H,)]


def test_pauses_between_work_sessions_are_measured_in_business_time(store, tmp_path):
    # A: session Mon 08:00Z-10:00Z, again Tue 09:00Z-10:00Z: paused Mon 10:00Z (11:00 local)
    # to Tue 09:00Z (10:00 local) = 6 + 1 = 7 working hours (23 h elapsed); A's span Mon 09:00
    # local .. Tue 11:00 local = 8 + 2 = 10 working hours, process = 10 - 7 = 3 h (= 2 h + 1 h)
    log = (
        "case,activity,lifecycle,time\n"
        "c1,A,start,2026-12-07T08:00:00Z\nc1,A,complete,2026-12-07T10:00:00Z\n"
        "c1,A,start,2026-12-08T09:00:00Z\nc1,A,complete,2026-12-08T10:00:00Z\n"
    )
    run(store, tmp_path, log, log_shape="interval", end_activities=["A"], calendar=office())
    assert rows(
        store, "SELECT sessions, paused_s, paused_bh_s, process_time_s, process_time_bh_s FROM visits"
    ) == [(2, 23 * H, 7 * H, 3 * H, 3 * H)]


# ---------------------------------------------------------------- service levels

TICKETS = (
    "number,state,ts,priority\n"
    # waits for the customer over the weekend: Fri 15:00 local New, 15:30 In Progress,
    # 16:00 Awaiting Customer, Mon 11:00 In Progress, 12:00 Resolved
    "wait,New,2026-12-04T14:00:00Z,P1\nwait,In Progress,2026-12-04T14:30:00Z,P1\n"
    "wait,Awaiting Customer,2026-12-04T15:00:00Z,P1\nwait,In Progress,2026-12-07T10:00:00Z,P1\n"
    "wait,Resolved,2026-12-07T11:00:00Z,P1\n"
    # open at as_of (Tue 8 Dec 10:00 local): arrived Mon 09:00, 11:00, 12:00 local
    "late,New,2026-12-07T08:00:00Z,P1\nlate,In Progress,2026-12-07T08:30:00Z,P1\n"
    "risk,New,2026-12-07T10:00:00Z,P1\nrisk,In Progress,2026-12-07T10:30:00Z,P1\n"
    "fine,New,2026-12-07T11:00:00Z,P1\nfine,In Progress,2026-12-07T11:30:00Z,P1\n"
    # resolved Mon 15:00 local after 6 working hours
    "done,New,2026-12-07T08:00:00Z,P1\ndone,Resolved,2026-12-07T14:00:00Z,P1\n"
    # not P1: the second SLA
    "low,New,2026-12-07T08:00:00Z,P3\nlow,Resolved,2026-12-07T14:00:00Z,P3\n"
)
AS_OF = z("2026-12-08T09:00:00")


def test_service_levels_with_a_customer_wait_over_a_weekend_and_open_cases(store, tmp_path):
    slas = [
        Sla(name="resolve P1", target="8h", where="priority = 'P1'"),
        Sla(name="resolve", target="4h"),
    ]
    run(store, tmp_path, TICKETS, calendar=office(), sla=slas, as_of=AS_OF)
    got = {
        r[0]: r[1:]
        for r in rows(
            store,
            "SELECT case_id, sla, stop_ts, elapsed_s, business_s, paused_s, "
            "target_s, state, breached_at FROM sla",
        )
    }
    # wait: Fri 15-17 + Mon 09-12 = 5 working hours, of which Awaiting Customer (an external
    # wait: the default pause) Fri 16-17 + Mon 09-11 = 3: clock 2 h; paused 67 h of 69 elapsed
    assert got["wait"] == ("resolve P1", z("2026-12-07T11:00:00"), 69 * H, 2 * H, 67 * H, 8 * H, "met", None)
    # late: Mon 09-17 + Tue 09-10 = 9 h > 8 h: breached when the 8th hour ended, Mon 17:00 local
    assert got["late"] == (
        "resolve P1",
        None,
        25 * H,
        9 * H,
        0.0,
        8 * H,
        "breached",
        z("2026-12-07T16:00:00"),
    )
    # risk: Mon 11-17 + Tue 09-10 = 7 h >= 0.8 * 8 h: at risk; fine: 5 + 1 = 6 h < 6.4 h: running
    assert got["risk"] == ("resolve P1", None, 23 * H, 7 * H, 0.0, 8 * H, "at_risk", None)
    assert got["fine"] == ("resolve P1", None, 22 * H, 6 * H, 0.0, 8 * H, "running", None)
    assert got["done"] == ("resolve P1", z("2026-12-07T14:00:00"), 6 * H, 6 * H, 0.0, 8 * H, "met", None)
    # low (P3): the first SLA's condition fails, the second (every case) picks it: 6 h > 4 h,
    # breached at Mon 13:00 local
    assert got["low"] == (
        "resolve",
        z("2026-12-07T14:00:00"),
        6 * H,
        6 * H,
        0.0,
        4 * H,
        "breached",
        z("2026-12-07T12:00:00"),
    )


def test_a_service_level_from_a_status_to_a_status_without_a_calendar(store, tmp_path):
    # 24x7: from the first In Progress to the first Resolved after it, pause [] (never):
    # wait: Fri 14:30Z .. Mon 11:00Z = 68.5 h; target 2d: met
    slas = [Sla(name="work", target="2d", start="In Progress", stop="Resolved", pause=[])]
    run(store, tmp_path, TICKETS, sla=slas, as_of=AS_OF)
    assert rows(
        store,
        "SELECT start_ts, elapsed_s, business_s, paused_s, state, breached_at FROM sla "
        "WHERE case_id = 'wait'",
    ) == [(z("2026-12-04T14:30:00"), 68.5 * H, 68.5 * H, 0.0, "breached", z("2026-12-06T14:30:00"))]
    # done never entered In Progress: its clock never started, no row
    assert rows(store, "SELECT count(*) FROM sla WHERE case_id = 'done'") == [(0,)]


@pytest.mark.parametrize(
    "sla, message",
    [
        (Sla(name="p", target="8h", where="urgency = '1'"), "no case attribute 'urgency'"),
        (Sla(name="p", target="8h", start="Triage"), "start = 'Triage': not a status"),
        (Sla(name="p", target="8h", pause=["Nope"]), "'Nope' is not a status"),
    ],
)
def test_a_service_level_naming_what_the_stream_has_not_is_refused(store, tmp_path, sla, message):
    with pytest.raises(SettingsError, match=message):
        run(store, tmp_path, TICKETS, sla=[sla], as_of=AS_OF)


BASE = '[stream]\nname = "t"\n[source]\npath = "x.csv"\n'


@pytest.mark.parametrize(
    "extra, message",
    [
        ('[calendar]\nhours = { mon = ["17:00-09:00"] }', "start before the end"),
        ('[calendar]\nhours = { mon = ["08:00-12:00", "11:00-13:00"] }', "overlap"),
        ('[calendar]\nhours = { monday = ["08:00-12:00"] }', "not a weekday"),
        ('[calendar]\ntimezone = "Mars/Base"\nhours = { mon = ["08:00-12:00"] }', "IANA"),
        ('[calendar]\nhours = { mon = ["08:00-12:00"] }\nholidays = { country = "XX" }', "not known"),
        ("[calendar]\nhours = {}", "no working hours"),
        ('[calendar]\ntimezone = "UTC"', "hours missing"),
        ('[[sla]]\nname = "a"\ntarget = "8h"\nwhere = "priority IN (SELECT 1)"', "no subquery"),
        ('[[sla]]\nname = "a"\ntarget = "8h"\nwhere = "priority = "', "not an SQL condition"),
        ('[[sla]]\nname = "a"\ntarget = "8h"\nwhere = "1 = 1; DROP TABLE events"', "not an SQL condition"),
        ('[[sla]]\nname = "a"\ntarget = "soon"', "expected a duration"),
        ('[[sla]]\nname = "a"\ntarget = "8h"\nwarn_at = 1.5', "warn_at"),
        ('[[sla]]\nname = "a"\ntarget = "8h"\n[[sla]]\nname = "a"\ntarget = "4h"', "used twice"),
    ],
)
def test_bad_calendar_and_sla_settings_are_refused_naming_the_key(extra, message):
    with pytest.raises(SettingsError, match=message):
        settings_from_dict(tomli.loads(BASE + extra))


def test_the_issue_s_settings_read_and_write_back():
    text = BASE + (
        '[calendar]\ntimezone = "Europe/Amsterdam"\n'
        'hours = { mon = ["08:00-12:00", "13:00-17:00"], tue = ["08:00-17:00"], wed = ["08:00-17:00"], '
        'thu = ["08:00-17:00"], fri = ["08:00-16:00"] }\n'
        'holidays = { country = "NL", subdivision = "", dates = ["2026-12-24"] }\n'
        '[[sla]]\nname = "resolve P1"\nwhere = "priority = \'P1\'"\nstart = "arrival"\nstop = "exit"\n'
        'pause = ["Awaiting Customer"]\ntarget = "8h"\nwarn_at = 0.8\n'
    )
    s = settings_from_dict(tomli.loads(text))
    assert s.calendar[0].hours["mon"] == ["08:00-12:00", "13:00-17:00"] and s.sla[0].pause == [
        "Awaiting Customer"
    ]
    again = settings_from_dict(tomli.loads(render_settings(s)))
    assert render_settings(again) == render_settings(s)


# ---------------------------------------------------------------- laws and a second method


def business_by_days(cal: CalendarVersion, a: datetime, b: datetime, closed: set[date]) -> float:
    """A second implementation: walk the local days from a's to b's, intersect [a, b] with each
    working interval of each open day (local times through the zone, one day at a time)."""
    zone = ZoneInfo(cal.timezone)
    total = 0.0
    day = a.astimezone(zone).date() - timedelta(days=1)
    while day <= b.astimezone(zone).date() + timedelta(days=1):
        if day not in closed:
            for span in cal.hours.get(("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()], []):
                lo_text, hi_text = span.split("-")
                lo = datetime.combine(day, datetime.strptime(lo_text, "%H:%M").time(), zone)
                hi = (
                    datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
                    if hi_text == "24:00"
                    else datetime.combine(day, datetime.strptime(hi_text, "%H:%M").time(), zone)
                )
                overlap = (min(b, hi.astimezone(UTC)) - max(a, lo.astimezone(UTC))).total_seconds()
                total += max(overlap, 0.0)
        day += timedelta(days=1)
    return total


CROSS = CalendarVersion(
    timezone="Europe/Amsterdam",
    hours={
        "mon": ["08:00-12:00", "13:00-17:00"],
        "tue": ["00:00-03:30"],
        "wed": ["08:00-17:00"],
        "fri": ["22:00-24:00"],
        "sun": ["01:00-04:00"],
    },
    dates=["2026-03-04", "2026-10-28"],
)


def test_the_sql_agrees_with_a_second_implementation_on_10000_random_intervals(tmp_path):
    # 10,000 one-visit cases (interval log) from 2026-02 to 2026-12, both DST changes among
    # them; process_time_bh_s from the SQL against business_by_days
    import random

    rng = random.Random(20)
    base = z("2026-02-01T00:00:00")
    lines, spans = ["case,activity,lifecycle,time"], {}
    for i in range(10_000):
        a = base + timedelta(seconds=rng.randrange(0, 300 * 86400))
        b = a + timedelta(seconds=rng.choice([rng.randrange(0, 4 * 3600), rng.randrange(0, 9 * 86400)]))
        spans[f"c{i:05d}"] = (a, b)
        lines += [f"c{i:05d},A,start,{a.isoformat()}", f"c{i:05d},A,complete,{b.isoformat()}"]
    con = open_store(tmp_path / "x.duckdb")
    run(con, tmp_path, "\n".join(lines) + "\n", log_shape="interval", end_activities=["A"], calendar=[CROSS])
    got = dict(rows(con, "SELECT case_id, process_time_bh_s FROM visits"))
    closed = {date.fromisoformat(d) for d in CROSS.dates}
    wrong = [
        (c, got[c], business_by_days(CROSS, a, b, closed))
        for c, (a, b) in spans.items()
        if abs(got[c] - business_by_days(CROSS, a, b, closed)) > 1e-3
    ]
    assert len(got) == 10_000 and not wrong, wrong[:5]


instants = st.integers(min_value=0, max_value=40 * 86400).map(
    lambda s: z("2026-03-10T00:00:00") + timedelta(seconds=s)
)


@hyp_settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(instants, min_size=4, max_size=4, unique=True).map(sorted), min_size=1, max_size=12))
def test_business_never_exceeds_elapsed_and_adds_up_over_adjacent_intervals(tmp_path_factory, cases):
    # each case: A from t0 to t1, B from t2 to t3 (t0 < t1 < t2 < t3); B's queue [t1, t2] and
    # process [t2, t3] are adjacent, as are A's process and B's elapsed: the lead time's twin
    # is their sum, and no twin exceeds its elapsed value
    lines = ["case,activity,lifecycle,time"]
    for i, (t0, t1, t2, t3) in enumerate(cases):
        lines += [
            f"c{i},A,start,{t0.isoformat()}",
            f"c{i},A,complete,{t1.isoformat()}",
            f"c{i},B,start,{t2.isoformat()}",
            f"c{i},B,complete,{t3.isoformat()}",
        ]
    folder = tmp_path_factory.mktemp("p")
    con = open_store(folder / "p.duckdb")
    run(con, folder, "\n".join(lines) + "\n", log_shape="interval", end_activities=["B"], calendar=[CROSS])
    for q, qbh, p, pbh, e, ebh in rows(
        con,
        "SELECT queue_time_s, queue_time_bh_s, process_time_s, "
        "process_time_bh_s, elapsed_s, elapsed_bh_s FROM visits",
    ):
        assert (
            0 <= pbh <= p + 1e-6
            and (q is None or 0 <= qbh <= q + 1e-6)
            and (e is None or 0 <= ebh <= e + 1e-6)
        )
    for _, lead, lead_bh, parts in rows(
        con,
        "SELECT c.case_id, c.lead_time_s, c.lead_time_bh_s, "
        "sum(v.process_time_bh_s) + sum(v.queue_time_bh_s) FILTER (WHERE v.step = 'B') "
        "FROM cases AS c JOIN visits AS v USING (case_id) GROUP BY ALL",
    ):
        assert lead_bh <= lead + 1e-6 and lead_bh == pytest.approx(parts, abs=1e-6)
    con.close()


# ---------------------------------------------------------------- incremental = full


def test_an_incremental_compute_with_a_calendar_equals_a_full_one(tmp_path):
    from pipeline.streams import init_stream
    from tests.test_incremental import INCIDENTS, INCIDENTS_TS, full_of, incidents_log, nightly, split_by_time

    init_stream("inc", INCIDENTS, streams_dir=tmp_path / "streams")
    data = tomli.loads((tmp_path / "streams" / "inc.toml").read_text())
    data["source"]["path"] = str(tmp_path / "inc" / "part-*.csv")
    data["calendar"] = {"timezone": "Europe/Amsterdam", "hours": OFFICE, "holidays": {"country": "NL"}}
    data["calendars"] = {"teams": {"Network": {"timezone": "America/New_York"}}}
    data["sla"] = [
        {"name": "critical", "where": "priority = '1 - Critical'", "target": "4h"},
        {"name": "other", "target": "3d", "warn_at": 0.5},
    ]
    (tmp_path / "inc").mkdir()
    settings = settings_from_dict(data)
    con, messages = nightly(tmp_path, settings, split_by_time(incidents_log(), INCIDENTS_TS, 3))
    assert all(m.startswith("incremental: ") for m in messages[1:]), messages
    from tests.test_incremental import assert_same, published

    got = published(con, "inc")
    assert_same(got, full_of(tmp_path, settings))
    states = dict(rows(con, "SELECT state, count(*) FROM sla GROUP BY state"))
    assert sum(states.values()) > 100 and states.keys() >= {"met", "breached"}, states
    # the calendar did something: business lead times are shorter than elapsed ones
    assert rows(con, "SELECT count(*) > 100 FROM cases WHERE lead_time_bh_s < lead_time_s") == [(True,)]
    # a changed calendar makes the next compute full
    data["calendar"]["hours"] = {"mon": ["09:00-12:00"]}
    from pipeline.flow import compute_flow
    from tests.test_incremental import last_message

    compute_flow(con, settings_from_dict(data))
    assert last_message(con, "inc").startswith("full recompute (the stream's settings changed")


def test_first_response_stops_the_clock_at_the_first_work_status(store, tmp_path):
    # respond within 1 working hour: wait: New Fri 15:00 local, In Progress 15:30: 30 min, met;
    # late: New Mon 09:00, In Progress 09:30: met; done never entered a work status: its clock
    # stopped at its exit, Mon 15:00 local, after 6 working hours: breached at Mon 10:00 local
    slas = [Sla(name="respond", target="1h", stop="first_response", pause=[])]
    run(store, tmp_path, TICKETS, calendar=office(), sla=slas, as_of=AS_OF)
    got = {
        r[0]: r[1:] for r in rows(store, "SELECT case_id, stop_ts, business_s, state, breached_at FROM sla")
    }
    assert got["wait"] == (z("2026-12-04T14:30:00"), 0.5 * H, "met", None)
    assert got["late"] == (z("2026-12-07T08:30:00"), 0.5 * H, "met", None)
    assert got["done"] == (z("2026-12-07T14:00:00"), 6 * H, "breached", z("2026-12-07T09:00:00"))


def test_the_readme_example_reads():
    from tests.conftest import PROJECT

    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    block = (
        readme.split("### Business hours and service levels", 1)[1]
        .split("```toml\n", 1)[1]
        .split("```", 1)[0]
    )
    s = settings_from_dict(tomli.loads(BASE + block))
    assert [v.timezone for v in s.calendars["Service Desk US"]] == ["America/New_York"]
    assert s.calendars["Service Desk US"][0].hours == s.calendar[0].hours and s.sla[0].target == "8h"


# Issue 20's interface as users will paste it: `hours` an inline table over two lines (TOML 1.1).
ISSUE_EXAMPLE = """
[calendar]
timezone = "Europe/Amsterdam"
hours = { mon = ["08:00-12:00", "13:00-17:00"], tue = ["08:00-17:00"], wed = ["08:00-17:00"],
          thu = ["08:00-17:00"], fri = ["08:00-16:00"] }          # days left out: closed
holidays = { country = "NL", subdivision = "", dates = ["2026-12-24"] }

[[sla]]
name = "resolve P1"
where = "priority = 'P1'"        # SQL condition on the case's attributes; first match wins
start = "arrival"                # or a status / activity name
stop = "exit"                    # or a status / activity name (first entry)
pause = ["Awaiting Customer"]    # statuses that stop the clock
target = "8h"                    # business time when a calendar is set, else elapsed
warn_at = 0.8
"""


def test_the_issue_example_reads_from_a_settings_file_as_written(tmp_path):
    from pipeline.settings import load_settings

    (tmp_path / "streams").mkdir()
    (tmp_path / "streams" / "desk.toml").write_text(
        '[stream]\nname = "desk"\n[source]\npath = "desk.csv"\n' + ISSUE_EXAMPLE, encoding="utf-8"
    )
    s = load_settings("desk", tmp_path / "streams")
    (version,) = s.calendar
    assert version.timezone == "Europe/Amsterdam"
    assert sorted(version.hours) == ["fri", "mon", "thu", "tue", "wed"]
    assert (
        s.sla[0].name == "resolve P1" and s.sla[0].pause == ["Awaiting Customer"] and s.sla[0].warn_at == 0.8
    )


# ---------------------------------------------------------------- on the map and the report


def test_the_map_shows_business_figures_only_with_a_calendar(store, tmp_path):
    from pipeline.report import map_svg
    from pipeline.vsm_map import fmt_duration

    run(store, tmp_path, TICKETS, as_of=AS_OF)
    assert 'data-key="process_bh_p50"' not in map_svg(store, "t")
    run(store, tmp_path, TICKETS, name="cal", calendar=office(), as_of=AS_OF)
    drawn = map_svg(store, "cal")
    # In Progress, completed visits: wait's Fri 15:30-16:00 (30 min) and Mon 11:00-12:00 (1 h)
    # local: p50 45 min of business time (the open visits have no process time)
    assert f'data-key="process_bh_p50">{fmt_duration(2700.0)}</text>' in drawn
    assert 'data-key="queue_time_bh_p50"' in drawn


def test_the_report_shows_service_levels_and_rings_cases_at_risk(store, tmp_path):
    from pipeline.report import write_report

    slas = [Sla(name="resolve P1", target="8h", where="priority = 'P1'"), Sla(name="resolve", target="4h")]
    settings, _ = load_log(
        store,
        tmp_path,
        TICKETS,
        log_shape="status",
        timezone="Europe/Amsterdam",
        calendar=office(),
        sla=slas,
        as_of=AS_OF,
    )
    page = write_report(store, "t", tmp_path / "out", settings, AS_OF, png=False).read_text()
    summary = page.split('id="summary"', 1)[1].split("</section>", 1)[0]
    # resolve P1: wait and done met, late breached (open), risk at risk, fine running: 2 of 2
    # stopped met; resolve (P3): low breached
    assert "<h3>Service levels</h3>" in summary and "Service-level attainment per week" in summary
    assert "<td>resolve P1</td><td>P1</td>" in summary and "<td>resolve</td><td>P3</td>" in summary
    assert "100.0%" in summary and "0.0%" in summary
    aging = page.split('id="aging"', 1)[1].split("</section>", 1)[0]
    assert (
        "<title>service level at risk</title>" in aging and "<title>service level breached</title>" in aging
    )


def test_team_visits_measure_their_waits_row_by_row(store, tmp_path):
    # steps by team: one visit of team A, Mon 09:00-19:00 local: In Progress 09-10, On Hold
    # 10-18, In Progress 18-19. Its start is a bookkeeping instant (09:00 + 8 h of waits =
    # 17:00), so its business queue is the waits' own: On Hold 10:00-17:00 = 7 h (not W(17:00)
    # - W(09:00) = 8 h); process = 09:00-17:00 (8 h) - 7 h = 1 h, the work 09-10 (18-19 is
    # after hours); elapsed from arrival: 09:00-17:00, 8 h
    log = (
        "number,state,ts,group\n"
        "c1,In Progress,2026-12-07T08:00:00Z,A\nc1,On Hold,2026-12-07T09:00:00Z,A\n"
        "c1,In Progress,2026-12-07T17:00:00Z,A\nc1,Resolved,2026-12-07T18:00:00Z,A\n"
    )
    columns = Columns(case_id="number", activity=["state"], timestamp="ts", team="group")
    run(
        store,
        tmp_path,
        log,
        step_by="team",
        columns=columns,
        calendar=office(),
        status_classes={"On Hold": "wait"},
    )
    assert rows(
        store,
        "SELECT step, queue_time_s, queue_time_bh_s, process_time_s, process_time_bh_s, elapsed_bh_s, "
        "queue_internal_bh_s + queue_external_bh_s FROM visits",
    ) == [("A", 8 * H, 7 * H, 2 * H, 1 * H, 8 * H, 7 * H)]
