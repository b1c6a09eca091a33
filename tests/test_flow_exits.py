"""Cases that ended must not stay open (issue 14, item 9): the exit is the last end step even
when work follows, rare terminal outcomes are end steps, and long-quiet open cases are stale.
Tiny logs drawn here, figures worked out by hand.

Times are UTC in March 2026 (day 2 is a Monday); durations in seconds.
"""

from __future__ import annotations

import tomllib
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from pipeline.errors import SettingsError
from pipeline.settings import StreamSettings, render_settings, settings_from_dict
from pipeline.variant_steps import automatic_close_rule, start_end_rule
from pipeline.vsm_map import render_map_svg
from tests.logs import load_log, rows

SVG = "{http://www.w3.org/2000/svg}"


def at(hhmm: str, day: int = 2) -> datetime:
    hours, minutes = hhmm.split(":")
    return datetime(2026, 3, day, int(hours), int(minutes), tzinfo=UTC)


# ---------------------------------------------------------------- the last end step is the exit
#
#          09:00  09:30  09:40  10:00  11:00  11:30  12:00
# e1 Register [====]
#    Check           [.................................]     parallel, finishes after the exit
#    Decide                  [======]                        end step: exit 11:00
# e2 Register [====]
#    Decide                  [======]                        exit 11:00
#    Archive                               [.....            started after the exit, never completed
# e3 Register [====]
#    Check           [......                                 started before Decide, never completed:
#    Decide                  [======]                        work unfinished, the case stays open
EXITS = """case,activity,lifecycle,timestamp
e1,Register,start,2026-03-02T09:00:00Z
e1,Register,complete,2026-03-02T09:30:00Z
e1,Check,start,2026-03-02T09:40:00Z
e1,Decide,start,2026-03-02T10:00:00Z
e1,Decide,complete,2026-03-02T11:00:00Z
e1,Check,complete,2026-03-02T12:00:00Z
e2,Register,start,2026-03-02T09:00:00Z
e2,Register,complete,2026-03-02T09:30:00Z
e2,Decide,start,2026-03-02T10:00:00Z
e2,Decide,complete,2026-03-02T11:00:00Z
e2,Archive,start,2026-03-02T11:30:00Z
e3,Register,start,2026-03-02T09:00:00Z
e3,Register,complete,2026-03-02T09:30:00Z
e3,Check,start,2026-03-02T09:40:00Z
e3,Decide,start,2026-03-02T10:00:00Z
e3,Decide,complete,2026-03-02T11:00:00Z
"""


def test_the_exit_is_the_last_end_step_even_when_work_follows(store, tmp_path):
    load_log(store, tmp_path, EXITS, end_activities=["Decide"])
    # Before: e1's last visit to end was Check (12:00), not an end step, and e2 had a visit in
    # process: both open for ever.
    assert rows(
        store,
        "SELECT c.case_id, exit_ts, c.lead_time_s, is_open, visits, process_time_s, v.steps "
        "FROM cases AS c LEFT JOIN variants AS v USING (stream, variant_id) ORDER BY 1",
    ) == [
        # 09:00 -> 11:00; Check ended after the exit: not in the path, counts or process time
        # (Register 1800 + Decide 3600)
        ("e1", at("11:00"), 7200.0, False, 2, 5400.0, "Register > Decide"),
        # the Archive visit started after the exit does not keep it open
        ("e2", at("11:00"), 7200.0, False, 2, 5400.0, "Register > Decide"),
        # Check was started before the exit and is still in process: open, all its visits
        ("e3", None, None, True, 3, 5400.0, None),
    ]
    # the work after the exit is reported: e1's Check (12:00), e2's Archive (11:30, the example: earliest)
    assert rows(
        store, "SELECT severity, count, example FROM quality_findings WHERE rule = 'work_after_exit'"
    ) == [("warning", 2, "e2")]


def test_work_after_a_terminal_end_trails_but_after_a_passing_end_it_continues(store, tmp_path):
    # Inferred ends on a point log of 35 cases (Receive 09:00, Check 10:00, then):
    #   a00-a23  Approve 11:00                  (24)
    #   b0-b8    nothing: they stop at Check     (9)
    #   c        Approve 11:00, Notify 12:00     (1)
    #   d        Fix 11:00                       (1)
    # Check ends 9 of the 35 cases visiting it (>= 5% of cases, >= a quarter): an end step, but
    # most cases that reach it go on (9 < 35 / 2), so work begun after it continues the case.
    # Approve ends 24 of the 25 visiting it: an end where most stop, so what follows it trails.
    # Notify and Fix end one case each (< 5% of 35, < 5 cases): not end steps.
    lines = ["case,activity,timestamp"]
    tails = [(f"a{n:02}", ["Approve"]) for n in range(24)] + [(f"b{n}", []) for n in range(9)]
    for case, tail in [*tails, ("c", ["Approve", "Notify"]), ("d", ["Fix"])]:
        lines += [f"{case},Receive,2026-03-02T09:00:00Z", f"{case},Check,2026-03-02T10:00:00Z"]
        lines += [f"{case},{step},2026-03-02T{11 + i}:00:00Z" for i, step in enumerate(tail)]
    result = load_log(store, tmp_path, "\n".join(lines) + "\n")[1]
    assert (result.end_steps, result.ends_inferred) == (["Approve", "Check"], True)
    assert rows(
        store,
        "SELECT case_id, exit_ts, is_open FROM cases WHERE case_id IN ('a00', 'b0', 'c', 'd') ORDER BY 1",
    ) == [
        ("a00", at("11:00"), False),
        ("b0", at("10:00"), False),
        # Notify after Approve trails: c exits at Approve (before: open, its final step was Notify)
        ("c", at("11:00"), False),
        # Fix began after Check, where most cases go on: d went on, it is open (exiting at Check
        # would close every case in progress that passed Check)
        ("d", None, True),
    ]
    assert rows(store, "SELECT count, example FROM quality_findings WHERE rule = 'work_after_exit'") == [
        (1, "c")
    ]


# ---------------------------------------------------------------- rare terminal outcomes


def test_a_rare_outcome_where_most_cases_stop_is_an_end_step():
    # 1000 cases in all (the sum of starts).
    counts = pl.DataFrame(
        {
            "step": ["Approve", "Pause", "Receive", "Reject", "Tiny"],
            "cases": [900, 40, 1000, 40, 4],
            "starts": [0, 0, 1000, 0, 0],
            "ends": [900, 15, 56, 30, 4],
        }
    )
    got = dict(start_end_rule(counts).select("step", "is_end").iter_rows())
    assert got == {
        "Approve": True,  # 90% of all cases end there: a common end
        "Pause": False,  # 15 of 40 visiting end there: not most
        "Receive": False,  # 56 >= 5% of cases, but 56 of 1000 visiting is under a quarter
        "Reject": True,  # 30 < 5% of cases, but 30 of 40 visiting (75%) stop there, and 30 >= 5
        "Tiny": False,  # all 4 stop there, but fewer than 5 cases
    }
    # terminal (work after it trails): an end where most cases that reach it stop
    terminal = dict(start_end_rule(counts).select("step", "is_terminal").iter_rows())
    assert terminal == {"Approve": True, "Pause": False, "Receive": False, "Reject": True, "Tiny": False}
    # and at least 0.1% of all cases: 9 of 10,000 is not enough, 10 is
    many = pl.DataFrame(
        {"step": ["S", "X", "Y"], "cases": [10_000, 9, 10], "starts": [10_000, 0, 0], "ends": [0, 9, 10]}
    )
    assert dict(start_end_rule(many).select("step", "is_end").iter_rows()) == {
        "S": False,
        "X": False,
        "Y": True,
    }


def test_cases_ending_at_a_rare_rejection_are_completed(store, tmp_path):
    # 130 cases: 120 Receive > Check > Approve, 6 Receive > Check > Reject, 4 Receive > Check.
    # Reject ends 6 cases, under 5% of 130 (6.5), but all 6 that reach it stop there: an end
    # step. Check ends 4 of 130 visiting it: not one, so those 4 stay open.
    lines = ["case,activity,timestamp"]
    for n in range(130):
        last = "Approve" if n < 120 else "Reject" if n < 126 else None
        lines += [f"r{n:03},Receive,2026-03-02T09:00:00Z", f"r{n:03},Check,2026-03-02T10:00:00Z"]
        if last:
            lines.append(f"r{n:03},{last},2026-03-02T11:00:00Z")
    result = load_log(store, tmp_path, "\n".join(lines) + "\n")[1]
    assert (result.end_steps, result.ends_inferred) == (["Approve", "Reject"], True)
    assert (result.cases, result.open_cases) == (130, 4)
    assert rows(store, "SELECT count(*) FROM cases WHERE is_open AND last_step = 'Reject'") == [(0,)]


# ---------------------------------------------------------------- stale cases
#
# day 2  k1 Start 09:00, Done 10:00 (lead 1 h)
#        k2 Start 09:00, Done 11:00 (lead 2 h)
#        k3 Start 09:00, Mid 09:30, then nothing: quiet 4 days at as_of
# day 6  k4 Start 09:00, Mid 10:00 (as_of: the last event)
# p99 of the completed lead times [3600, 7200] = 3600 + 0.99 x 3600 = 7164 s: k3 (quiet since
# day 2 09:30) is stale; k4 (its last event is as_of) is not.
STALE = """case,activity,timestamp
k1,Start,2026-03-02T09:00:00Z
k1,Done,2026-03-02T10:00:00Z
k2,Start,2026-03-02T09:00:00Z
k2,Done,2026-03-02T11:00:00Z
k3,Start,2026-03-02T09:00:00Z
k3,Mid,2026-03-02T09:30:00Z
k4,Start,2026-03-06T09:00:00Z
k4,Mid,2026-03-06T10:00:00Z
"""


def test_a_long_quiet_open_case_is_stale_and_out_of_wip(store, tmp_path):
    load_log(store, tmp_path, STALE, end_activities=["Done"])
    assert rows(store, "SELECT case_id, is_open, is_stale FROM cases ORDER BY 1") == [
        ("k1", False, False),
        ("k2", False, False),
        ("k3", True, True),
        ("k4", True, False),
    ]
    assert rows(store, "SELECT open_cases, stale_cases, stale_after_s FROM stream_summary") == [
        (2, 1, pytest.approx(7164.0))
    ]
    # listed in aging WIP with its state
    assert rows(store, "SELECT case_id, current_state, current_step FROM aging_wip ORDER BY 1") == [
        ("k3", "stale", "Mid"),
        ("k4", "queued", "Mid"),
    ]
    # WIP and arrivals leave k3 out (before: arrivals 3 on day 2 and wip_end 1 every day after)
    days = rows(store, "SELECT day, wip_end, arrivals, departures FROM wip_daily ORDER BY day")
    assert days == [
        (date(2026, 3, 2), 0, 2, 2),
        (date(2026, 3, 3), 0, 0, 0),
        (date(2026, 3, 4), 0, 0, 0),
        (date(2026, 3, 5), 0, 0, 0),
        (date(2026, 3, 6), 1, 1, 0),
    ]
    assert rows(store, "SELECT count FROM quality_findings WHERE rule = 'stale_cases'") == [(1,)]


def test_stale_after_from_the_settings(store, tmp_path):
    # 10 days: k3's 4 quiet days are not enough
    load_log(store, tmp_path, STALE, end_activities=["Done"], stale_after="10d")
    assert rows(store, "SELECT count(*) FILTER (WHERE is_stale) FROM cases") == [(0,)]
    assert rows(store, "SELECT stale_cases, stale_after_s FROM stream_summary") == [(0, 864000.0)]
    assert rows(store, "SELECT sum(arrivals) FROM wip_daily") == [(4,)]


def test_stale_after_setting_is_validated_and_written():
    base = {"stream": {"name": "s"}, "source": {"path": "log.csv"}}
    assert settings_from_dict(base | {"flow": {"stale_after": "90d"}}).stale_after_s == 90 * 86400
    assert settings_from_dict(base).stale_after_s is None
    with pytest.raises(SettingsError, match=r"\[flow\] stale_after = 'soon': expected a duration"):
        settings_from_dict(base | {"flow": {"stale_after": "soon"}})
    with pytest.raises(SettingsError, match="above zero"):
        settings_from_dict(base | {"flow": {"stale_after": "0d"}})
    s = StreamSettings(name="s", stale_after="12w")
    s.source.path = "log.csv"
    text = render_settings(s)
    assert 'stale_after = "12w"' in text
    assert settings_from_dict(tomllib.loads(text)).stale_after == "12w"


# ---------------------------------------------------------------- automatic closes
#
# 30 cases: Open (day i, 08:00 + 7i minutes), Resolve (i % 5 + 1 hours later), Close:
#   i < 24  5 d and 5 + i seconds after Resolve (a close job: one delay, to the minute, at 24
#           different times of day)
#   i >= 24 2 to 7 d and 3 h 17 min after Resolve (closed by hand)
# A point log (set: its names read as statuses). Close ends every case: the inferred end step,
# terminal. 24 of its 30 visits (80%) come 5 d after the case became ready: an automatic close.
# Each case ends at Resolve: lead time (i % 5 + 1) h. With `awaiting`, two more cases: w1
# resolved and not closed yet (it ends at Resolve, the step the close follows), w2 opened again
# after Resolve (open). In DATES_ONLY every instant is midnight (Resolve a day after Open, the close
# job 5 d after): 24 visits at one delay but at one time of day, so no automatic close.
def _close_log(dates_only: bool = False, awaiting: bool = False) -> str:
    lines = ["case,activity,timestamp"]
    for i in range(30):
        opened = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(
            days=i, hours=0 if dates_only else 8, minutes=0 if dates_only else 7 * i
        )
        resolved = opened + (timedelta(days=1) if dates_only else timedelta(hours=i % 5 + 1))
        if i < 24:
            closed = resolved + timedelta(days=5, seconds=0 if dates_only else 5 + i)
        else:
            closed = resolved + timedelta(
                days=i - 22, hours=0 if dates_only else 3, minutes=0 if dates_only else 17
            )
        for activity, instant in (("Open", opened), ("Resolve", resolved), ("Close", closed)):
            lines.append(f"c{i:02},{activity},{instant:%Y-%m-%dT%H:%M:%SZ}")
    if awaiting:  # resolved on April 9, not closed yet; resolved, then opened again
        lines += ["w1,Open,2026-04-09T08:00:00Z", "w1,Resolve,2026-04-09T10:00:00Z"]
        lines += [
            "w2,Open,2026-04-09T08:00:00Z",
            "w2,Resolve,2026-04-09T10:00:00Z",
            "w2,Open,2026-04-09T12:00:00Z",
        ]
    return "\n".join(lines) + "\n"


def test_an_automatic_close_ends_the_case_when_it_became_ready_for_it(store, tmp_path):
    result = load_log(store, tmp_path, _close_log(awaiting=True), log_shape="point")[1]
    # Resolve, the step the close follows, ends a case too (one that goes no further awaits the close)
    assert (result.end_steps, result.ends_inferred, result.automatic_closes) == (
        ["Close", "Resolve"],
        True,
        ["Close"],
    )
    assert rows(store, "SELECT case_id, lead_time_s FROM cases ORDER BY 1") == [
        *((f"c{i:02}", (i % 5 + 1) * 3600.0) for i in range(30)),
        ("w1", 7200.0),  # ends at Resolve: it awaits only the close
        ("w2", None),  # went on after Resolve: open
    ]
    # the close is in no case's path, and the findings say why
    assert rows(store, "SELECT steps, cases FROM variants") == [("Open > Resolve", 31)]
    found = {
        r[0]: r[1:]
        for r in rows(store, "SELECT rule, severity, count, example, detail FROM quality_findings")
    }
    assert not {"work_after_exit", "events_after_exit", "late_close"} & set(found)
    assert found["automatic_close"] == (
        "info",
        30,
        "c00",
        "'Close' comes 5.00 d (within the minute) after the case became ready for it in 24 of its 30 "
        "visits (80%), ready at 24 different times of day: a close the system makes by itself. 30 "
        "completed cases end when they became ready for it (the end of the step before), so the wait "
        "for it (a median 5.0 d) is not in their lead time. To count the close, set [flow] "
        'end_activities (e.g. ["Close"])',
    )
    # the map ends where the lead time does, and says the close comes after, with the finding
    said = _automatic_close_on_map(store)
    assert said == (found["automatic_close"][3], "then a close by the system, not in the lead time")


@pytest.mark.parametrize(
    ("dates_only", "settings"),
    [(True, {}), (False, {"end_activities": ["Close"]})],  # one time of day; ends from the settings
)
def test_a_close_at_one_time_of_day_or_a_configured_end_is_no_automatic_close(
    store, tmp_path, dates_only, settings
):
    result = load_log(store, tmp_path, _close_log(dates_only), log_shape="point", **settings)[1]
    assert result.automatic_closes == []
    close_after = [5.0 if i < 24 else i - 22 + (0 if dates_only else (3 + 17 / 60) / 24) for i in range(30)]
    resolve_after = [1.0 if dates_only else (i % 5 + 1) / 24 for i in range(30)]
    got = rows(store, "SELECT case_id, lead_time_s FROM cases ORDER BY 1")
    assert [c for c, _ in got] == [f"c{i:02}" for i in range(30)]
    # the lead time runs to the close (to the second: the job's seconds included)
    expected = [
        round((resolve_after[i] + close_after[i]) * 86400) + (0 if dates_only or i >= 24 else 5 + i)
        for i in range(30)
    ]
    assert [round(s) for _, s in got] == expected
    assert "automatic_close" not in {r[0] for r in rows(store, "SELECT rule FROM quality_findings")}
    assert _automatic_close_on_map(store) is None


def _automatic_close_on_map(store) -> tuple[str, str] | None:
    """The map's note by 'Done' that an automatic close follows: (its tooltip, its text)."""
    root = ET.fromstring(render_map_svg(store, "t"))
    found = [g for g in root.iter(f"{SVG}g") if g.get("class") == "automatic-close"]
    if not found:
        return None
    (note,) = found
    return note.find(f"{SVG}title").text, " ".join(t.text for t in note.iter(f"{SVG}text"))


def test_the_automatic_close_rule_at_its_thresholds():
    # step, visits, delay_s, at_delay, clock_times: each row one threshold just met ("ok") or
    # just missed; the rule keeps the ok ones
    delays = pl.DataFrame(
        [
            ("ok", 100, 3600.0, 20, 10),
            ("share", 101, 3600.0, 20, 10),  # 20 of 101 < 20%
            ("visits", 95, 3600.0, 19, 19),  # 19 < 20 visits at the delay
            ("delay", 100, 3540.0, 50, 50),  # 59 min < 1 h
            ("clock", 100, 86400.0, 50, 9),  # 9 times of day < 10
            ("none", 3, None, 0, 0),  # no visit after its ready instant
        ],
        schema=["step", "visits", "delay_s", "at_delay", "clock_times"],
        orient="row",
    )
    assert automatic_close_rule(delays) == ["ok"]
    assert automatic_close_rule(delays.clear()) == []
