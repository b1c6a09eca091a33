"""Data-quality findings, aging WIP and batching, on tiny logs drawn here.

Each log is loaded with the real ingest and measured with the real flow engine; every
expected value is worked out by hand in the comments beside the log.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.flow import EmptyStreamError, compute_flow
from pipeline.settings import Columns, Steps, StreamSettings
from tests.logs import load_log

AS_OF_MAR_2_13H = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)


def load_and_flow(con, tmp_path, text: str, *, as_of: datetime | None = None, **kw) -> StreamSettings:
    return load_log(con, tmp_path, text, name="q", as_of=as_of, **kw)[0]


def findings(con) -> dict[str, tuple]:
    """rule -> (severity, count, example, detail)."""
    rows = con.execute(
        "SELECT rule, severity, count, example, detail FROM quality_findings WHERE stream = 'q'"
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def aging(con) -> list[tuple]:
    return con.execute(
        "SELECT case_id, current_state, current_step, age_s, time_in_step_s, age_percentile "
        "FROM aging_wip WHERE stream = 'q' ORDER BY case_id"
    ).fetchall()


def batching(con) -> list[tuple]:
    return con.execute(
        "SELECT step, batch_share, batch_size_mean FROM step_metrics WHERE stream = 'q' ORDER BY step"
    ).fetchall()


# ---------------------------------------------------------------- empty and clean


def test_empty_stream_has_nothing_to_measure(store):
    with pytest.raises(EmptyStreamError):
        compute_flow(store, StreamSettings(name="q"))
    assert store.execute("SELECT count(*) FROM quality_findings").fetchall() == [(0,)]
    assert store.execute("SELECT count(*) FROM aging_wip").fetchall() == [(0,)]


# Two cases, A then B, every start completed, offsets given, no ties, no duplicates:
#   c1  A 09:00-10:00 ann   B 11:00-12:00 bob   (exits at 12:00)
#   c2  A 09:00-10:00 ann   B 11:00-12:00 bob   on the next day (exits 03-03 12:00)
CLEAN = """case_id,activity,lifecycle,timestamp,resource,team
c1,A,start,2026-03-02T09:00:00Z,ann,T1
c1,A,complete,2026-03-02T10:00:00Z,ann,T1
c1,B,start,2026-03-02T11:00:00Z,bob,T2
c1,B,complete,2026-03-02T12:00:00Z,bob,T2
c2,A,start,2026-03-03T09:00:00Z,ann,T1
c2,A,complete,2026-03-03T10:00:00Z,ann,T1
c2,B,start,2026-03-03T11:00:00Z,bob,T2
c2,B,complete,2026-03-03T12:00:00Z,bob,T2
"""


def test_clean_log_fires_no_rule_and_has_no_aging_wip(store, tmp_path):
    load_and_flow(store, tmp_path, CLEAN, end_activities=["B"], log_shape="interval")
    assert findings(store) == {}
    assert aging(store) == []  # both cases exited
    # each resource's ends of a step are a day apart: nothing batched
    assert batching(store) == [("A", 0.0, None), ("B", 0.0, None)]


# Three cases start A at the same instant and never complete it. The flow numbers cases
# (events.sql); ties between them must still go to the first case id as text:
# "c10" < "c100" < "c9", neither the file's order (c9 first) nor the numbers' (9 < 10 < 100).
TIED_CASES = """case_id,activity,lifecycle,timestamp,resource,team
c9,A,start,2026-03-02T09:00:00Z,ann,T1
c10,A,start,2026-03-02T09:00:00Z,bob,T1
c100,A,start,2026-03-02T09:00:00Z,cyd,T1
"""


def test_ties_between_cases_go_to_the_first_case_id_as_text(store, tmp_path):
    load_and_flow(
        store, tmp_path, TIED_CASES, end_activities=["B"], log_shape="interval", as_of=AS_OF_MAR_2_13H
    )
    found = findings(store)
    assert found["open_cases"][:3] == ("info", 3, "c10")
    assert found["unmatched_starts"][:3] == ("info", 3, "c10")
    assert [(r[0], r[2]) for r in aging(store)] == [("c10", "A"), ("c100", "A"), ("c9", "A")]
    visits = store.execute(
        "SELECT case_id, resource FROM visits WHERE stream = 'q' ORDER BY case_id"
    ).fetchall()
    assert visits == [("c10", "bob"), ("c100", "cyd"), ("c9", "ann")]


# ---------------------------------------------------------------- every rule on a messy interval log

# line  case activity lifecycle timestamp                                 why
#  2    c1   A        start     2026-03-02T09:00:00Z
#  3    c1   A        complete  2026-03-02T10:00:00Z   closes the start of line 2
#  4    c1   A        complete  2026-03-02T10:00:00Z   copy of line 3 (1 surplus; a pure copy is no tie);
#                                                      no open start left: lone
#  5    c1   B        start     2026-03-02T11:00:00Z
#  6    c1   B        complete  2026-03-02T12:00:00Z   B is the end step: c1 exits at 12:00
#  7    c1   Note     complete  2026-03-02T13:00:00Z   dropped activity, after c1's exit
#  8    c2   A        start     2026-03-03T09:00:00Z
#  9    c2   A        complete  2026-03-03T09:30:00Z   tie with line 10 (both not-starts at 09:30)
# 10    c2   Note     complete  2026-03-03T09:30:00Z   dropped activity, in the tie
# 11    c2   B        schedule  2026-03-03T09:45:00Z   lifecycle neither start nor complete
# 12    c2   B        start     2026-03-03 10:00       naive: read as UTC, said so; never completed
# 13    c3   A        start     not a time             rejected (unparseable timestamp)
# 14    c3   A        start     2099-01-01T00:00:00Z   later than the wall clock; never completed
# Cases: c1 exited; c2 (arrived 03-03 09:00) and c3 (2099) open: 2 of 3 = 66.7 %.
MESSY = """case_id,activity,lifecycle,timestamp,resource,team
c1,A,start,2026-03-02T09:00:00Z,ann,T1
c1,A,complete,2026-03-02T10:00:00Z,ann,T1
c1,A,complete,2026-03-02T10:00:00Z,ann,T1
c1,B,start,2026-03-02T11:00:00Z,bob,T2
c1,B,complete,2026-03-02T12:00:00Z,bob,T2
c1,Note,complete,2026-03-02T13:00:00Z,bob,T2
c2,A,start,2026-03-03T09:00:00Z,ann,T1
c2,A,complete,2026-03-03T09:30:00Z,ann,T1
c2,Note,complete,2026-03-03T09:30:00Z,ann,T1
c2,B,schedule,2026-03-03T09:45:00Z,bob,T2
c2,B,start,2026-03-03 10:00,bob,T2
c3,A,start,not a time,ann,T1
c3,A,start,2099-01-01T00:00:00Z,ann,T1
"""


@pytest.fixture
def messy(store, tmp_path):
    load_and_flow(
        store,
        tmp_path,
        MESSY,
        end_activities=["B"],
        log_shape="interval",
        steps=Steps(drop=["Note"]),
        as_of=datetime(2026, 3, 3, 12, 0, tzinfo=UTC),
    )
    return findings(store)


def test_messy_log_fires_exactly_these_rules(messy):
    assert {rule: (sev, count, example) for rule, (sev, count, example, _) in messy.items()} == {
        "rejected_rows": ("error", 1, "line 13"),
        "future_timestamps": ("warning", 1, "c3"),
        "duplicate_events": ("warning", 1, "c1"),
        "unmatched_completes": ("warning", 1, "c1"),
        "events_after_exit": ("info", 1, "c1"),  # info: the only such event is a dropped one
        "same_time_ties": ("info", 2, "c2"),  # info in interval logs
        "unmatched_starts": ("info", 2, "c2"),  # c2's B (03-03 10:00) before c3's A (2099)
        "ignored_lifecycle": ("info", 1, "c2"),
        # the naive value and the unparseable one have no offset: the reader counts both
        "timezone_assumption": ("info", 1, None),
        "open_cases": ("info", 2, "c2"),  # the oldest open case
        "dropped_steps": ("info", 2, "c1"),  # Note on 03-02 (c1) before 03-03 (c2)
    }


def test_messy_log_details_say_what_was_found(messy):
    assert messy["rejected_rows"][3] == "rows not loaded (see the rejects table): unparseable timestamp (1)"
    assert messy["duplicate_events"][3].startswith("1 sets of identical events")
    assert messy["events_after_exit"][3].startswith("1 events in 1 cases come after the case's exit")
    assert messy["same_time_ties"][3].startswith("1 times at which a case has several events")
    assert messy["ignored_lifecycle"][3].endswith(": schedule")
    assert messy["timezone_assumption"][3].startswith(
        "1 timestamp values have no UTC offset and were read as UTC local time (load run "
    )
    assert messy["open_cases"][3].startswith(
        "2 of 3 cases (66.7%) are open at 2026-03-03 12:00 UTC: not yet at an end"
    )
    assert messy["dropped_steps"][3] == "events of activities dropped from the map by [steps]: Note (2)"
    assert "2099-01-01 00:00:00+00" in messy["future_timestamps"][3]


# A start-time column: each row is a whole visit.
#   k1  A  09:00-10:00                 queue -, process 1 h
#   k1  B  starts 12:00, ends 11:00    ready 10:00 (A's end): queue 2 h, process -1 h, elapsed 1 h
START_COLUMN = """case,activity,start,end,resource
k1,A,2026-03-02T09:00:00Z,2026-03-02T10:00:00Z,ann
k1,B,2026-03-02T12:00:00Z,2026-03-02T11:00:00Z,bob
"""


def test_end_before_start_is_an_error_and_a_negative_duration(store, tmp_path):
    columns = Columns(
        case_id="case", activity=["activity"], timestamp="end", start_timestamp="start", resource="resource"
    )
    load_and_flow(store, tmp_path, START_COLUMN, columns=columns, end_activities=["B"], log_shape="interval")
    found = findings(store)
    assert {rule: (sev, count, example) for rule, (sev, count, example, _) in found.items()} == {
        "complete_before_start": ("error", 1, "k1"),
        "negative_durations": ("error", 1, "k1"),
    }
    assert found["complete_before_start"][3].startswith("visits that end before they start")
    assert found["negative_durations"][3] == "visits with a negative duration: 0 queue, 1 process, 0 elapsed"


# Point log: c1's A and B share 09:00; their order (A then B) is the file's, and B's elapsed
# time is 0. Two events in one tie, a warning since the order makes the durations.
def test_ties_are_a_warning_in_point_logs(store, tmp_path):
    text = (
        "case,activity,time\n"
        "c1,A,2026-03-02T09:00:00Z\nc1,B,2026-03-02T09:00:00Z\nc1,C,2026-03-02T10:00:00Z\n"
    )
    load_and_flow(store, tmp_path, text, end_activities=["C"], log_shape="point")
    found = findings(store)
    assert list(found) == ["same_time_ties"]
    assert found["same_time_ties"][:3] == ("warning", 2, "c1")


# ---------------------------------------------------------------- status log: guessed classes, waiting


# [status_classes] sets New = wait; the rest are guessed. as_of 14:00.
#   t1  New 08:00, In Progress 09:00, Closed 11:00        exits 11:00: lead time 3 h (10800 s)
#   t2  New 09:00, In Progress 10:00, Awaiting Customer 11:00
#       open, waiting in Awaiting Customer since 11:00: age 5 h (18000), in it 3 h (10800);
#       3 h < 5 h: percentile 1/1 = 1.0
#   t3  New 12:00, Zapped 12:30 (no rule matches: work by fallback, so a step)
#       open, in process at Zapped since 12:30: age 2 h (7200), in it 1.5 h (5400);
#       3 h is not below 2 h: percentile 0.0
# Guessed: In Progress (2 events) work, then by name Awaiting Customer wait (external),
# Closed done, Zapped work (fallback): 4 statuses, example the most frequent.
STATUS = """ticket,status,updated,assignee
t1,New,2026-03-02T08:00:00Z,
t1,In Progress,2026-03-02T09:00:00Z,ann
t1,Closed,2026-03-02T11:00:00Z,ann
t2,New,2026-03-02T09:00:00Z,
t2,In Progress,2026-03-02T10:00:00Z,ann
t2,Awaiting Customer,2026-03-02T11:00:00Z,ann
t3,New,2026-03-02T12:00:00Z,
t3,Zapped,2026-03-02T12:30:00Z,bob
"""


@pytest.fixture
def status_log(store, tmp_path):
    columns = Columns(case_id="ticket", activity=["status"], timestamp="updated", resource="assignee")
    load_and_flow(
        store,
        tmp_path,
        STATUS,
        columns=columns,
        log_shape="status",
        status_classes={"New": "wait"},
        as_of=datetime(2026, 3, 2, 14, 0, tzinfo=UTC),
    )
    return store


def test_guessed_status_classes_are_listed_to_confirm(status_log):
    found = findings(status_log)
    assert set(found) == {"unmapped_statuses", "open_cases"}
    severity, count, example, detail = found["unmapped_statuses"]
    assert (severity, count, example) == ("warning", 4, "In Progress")
    assert detail.endswith(
        ": In Progress → work, Awaiting Customer → wait (external), Closed → done, "
        "Zapped → work (no rule matched)"
    )
    assert found["open_cases"][:3] == ("info", 2, "t2")


def test_aging_wip_of_a_status_log(status_log):
    assert aging(status_log) == [
        ("t2", "waiting", "Awaiting Customer", 18000.0, 10800.0, 1.0),
        ("t3", "in process", "Zapped", 7200.0, 5400.0, 0.0),
    ]


# ---------------------------------------------------------------- aging WIP of an interval log

# End step B; as_of 13:00. Completed lead times 1 h, 2 h, 4 h:
#   d1  A 08:00-08:10  B 08:20-09:00   lead 3600
#   d2  A 08:00-08:10  B 08:20-10:00   lead 7200
#   d3  A 08:00-08:10  B 08:20-12:00   lead 14400
# Open:
#   o1  A 10:00-10:30, B started 11:00: in process at B; age 3 h, in B 2 h;
#       below 3 h: 1 h, 2 h -> 2/3
#   o2  A 11:30-12:00: queued after A since 12:00; age 1.5 h, queued 1 h; below: 1 h -> 1/3
#   o3  A started 11:00: in process at A; age 2 h, in A 2 h; d2's 2 h is not below 2 h -> 1/3
AGING = """case_id,activity,lifecycle,timestamp
d1,A,start,2026-03-02T08:00:00Z
d1,A,complete,2026-03-02T08:10:00Z
d1,B,start,2026-03-02T08:20:00Z
d1,B,complete,2026-03-02T09:00:00Z
d2,A,start,2026-03-02T08:00:00Z
d2,A,complete,2026-03-02T08:10:00Z
d2,B,start,2026-03-02T08:20:00Z
d2,B,complete,2026-03-02T10:00:00Z
d3,A,start,2026-03-02T08:00:00Z
d3,A,complete,2026-03-02T08:10:00Z
d3,B,start,2026-03-02T08:20:00Z
d3,B,complete,2026-03-02T12:00:00Z
o1,A,start,2026-03-02T10:00:00Z
o1,A,complete,2026-03-02T10:30:00Z
o1,B,start,2026-03-02T11:00:00Z
o2,A,start,2026-03-02T11:30:00Z
o2,A,complete,2026-03-02T12:00:00Z
o3,A,start,2026-03-02T11:00:00Z
"""


def test_aging_wip_of_an_interval_log(store, tmp_path):
    load_and_flow(store, tmp_path, AGING, end_activities=["B"], log_shape="interval", as_of=AS_OF_MAR_2_13H)
    assert aging(store) == [
        ("o1", "in process", "B", 10800.0, 7200.0, 2 / 3),
        ("o2", "queued", "A", 5400.0, 3600.0, 1 / 3),
        ("o3", "in process", "A", 7200.0, 7200.0, 1 / 3),
    ]
    assert findings(store)["open_cases"][:3] == ("info", 3, "o1")  # the oldest: arrived 10:00


# ---------------------------------------------------------------- batching


# Point log, one step per event.
#   Approve by ann ends 09:00:00, 09:01:00 (60 s: same batch), 09:01:40 (40 s), 09:02:41 (61 s: alone)
#     -> one batch of 3 and a lone visit: share 3/4, mean size 3
#   Check by bob ends 10:00:00 and 10:01:01 (61 s apart): no batch: share 0, size NULL
#   Register has no resource: no visit counts, share and size NULL
BATCHES = """case,activity,time,resource
b1,Register,2026-03-02T08:00:00Z,
b2,Register,2026-03-02T08:00:10Z,
b3,Register,2026-03-02T08:00:20Z,
b4,Register,2026-03-02T08:00:30Z,
b1,Approve,2026-03-02T09:00:00Z,ann
b2,Approve,2026-03-02T09:01:00Z,ann
b3,Approve,2026-03-02T09:01:40Z,ann
b4,Approve,2026-03-02T09:02:41Z,ann
b1,Check,2026-03-02T10:00:00Z,bob
b2,Check,2026-03-02T10:01:01Z,bob
"""


def test_batching_share_and_size(store, tmp_path):
    load_and_flow(store, tmp_path, BATCHES, log_shape="point")
    assert batching(store) == [("Approve", 0.75, 3.0), ("Check", 0.0, None), ("Register", None, None)]


# Ends at one instant: Approve by ann ends 09:00:00 in t1 and t2, 09:00:30 in t3 (30 s: the
# same batch) and 09:05:00 in t4 (alone): one batch of 3, share 3/4, size 3. Check by bob ends
# 10:00:00 in t1 and t2 alone: one batch of 2, share 1, size 2.
TIED_BATCHES = """case,activity,time,resource
t1,Approve,2026-03-02T09:00:00Z,ann
t2,Approve,2026-03-02T09:00:00Z,ann
t3,Approve,2026-03-02T09:00:30Z,ann
t4,Approve,2026-03-02T09:05:00Z,ann
t1,Check,2026-03-02T10:00:00Z,bob
t2,Check,2026-03-02T10:00:00Z,bob
"""


def test_batching_visits_ending_at_one_instant(store, tmp_path):
    load_and_flow(store, tmp_path, TIED_BATCHES, log_shape="point")
    assert batching(store) == [("Approve", 0.75, 3.0), ("Check", 1.0, 2.0)]


# c1: A 09:00-10:00, B 11:00-12:00: exits at 12:00. A second B complete at 12:30 finds no open
# start: a lone complete (no visit), and an event of a mapped step after the exit: a warning.
def test_work_after_exit_is_a_warning(store, tmp_path):
    text = CLEAN.splitlines()[:5] + ["c1,B,complete,2026-03-02T12:30:00Z,bob,T2"]
    load_and_flow(store, tmp_path, "\n".join(text) + "\n", end_activities=["B"], log_shape="interval")
    found = findings(store)
    assert {rule: (sev, count, example) for rule, (sev, count, example, _) in found.items()} == {
        "unmatched_completes": ("warning", 1, "c1"),
        "events_after_exit": ("warning", 1, "c1"),
    }
    assert found["events_after_exit"][3] == (
        "1 events in 1 cases come after the case's exit and are not in its lead time "
        "(0 of dropped activities)"
    )


# ---------------------------------------------------------------- a close that follows by itself


# Point log, end step inferred (C, the last event of every case). Four cases open with A, are
# resolved (R) a day later and closed (C) ten days after that:
#   lead time 11 d each; C follows R in 4 of 4 completed cases, 10 d later: 10/11 = 91%.
# In QUICK the close comes an hour after R: 1 h of 1 d 1 h, no finding.
def _closing_log(close_after: str) -> str:
    rows = ["case_id,activity,timestamp"]
    for case, day in (("c1", 2), ("c2", 3), ("c3", 4), ("c4", 5)):
        rows += [f"{case},A,2026-03-{day:02d}T09:00:00Z", f"{case},R,2026-03-{day + 1:02d}T09:00:00Z"]
        if close_after == "10d":
            rows.append(f"{case},C,2026-03-{day + 11:02d}T09:00:00Z")
        else:
            rows.append(f"{case},C,2026-03-{day + 1:02d}T10:00:00Z")
    return "\n".join(rows) + "\n"


def test_a_close_long_after_the_work_is_flagged_and_the_figures_stay(store, tmp_path):
    load_and_flow(store, tmp_path, _closing_log("10d"), log_shape="point")
    assert store.execute("SELECT median(lead_time_s) FROM cases WHERE stream = 'q'").fetchall() == [
        (11 * 86400.0,)
    ]  # the finding leaves the lead time as it is
    severity, count, example, detail = findings(store)["late_close"]
    assert (severity, count, example) == ("warning", 4, "c1")
    assert detail == (
        "'C' follows 'R' in 100% of completed cases, a median 10.0 d later: 91% of the median lead "
        "time (11.0 d). If the customer's wait ends at 'R' and the close follows by itself, set "
        '[flow] end_activities = ["R"]'
    )


@pytest.mark.parametrize(
    ("close_after", "settings"),
    [("1h", {}), ("10d", {"end_activities": ["R"]})],  # a quick close; ends from the settings
)
def test_a_close_right_after_the_work_or_configured_ends_are_not_flagged(
    store, tmp_path, close_after, settings
):
    load_and_flow(store, tmp_path, _closing_log(close_after), log_shape="point", **settings)
    assert "late_close" not in findings(store)
