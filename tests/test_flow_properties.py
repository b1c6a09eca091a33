"""Laws the flow engine must keep on any interval log of one-at-a-time work (hypothesis).

Each generated case is a chain of visits that never overlap: random steps from A, B, C,
random gaps and durations in whole minutes (zero allowed, so ties occur), and, for most
cases, a final visit to the end step E. Cases without E are open.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.flow import compute_flow
from pipeline.ingest import ingest
from pipeline.settings import Source, StreamSettings
from pipeline.store import open_store

BASE = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@dataclass
class Visit:
    step: str
    start: datetime
    end: datetime


# (step, gap before it, duration), in minutes
visit_shape = st.tuples(st.sampled_from("ABC"), st.integers(0, 120), st.integers(0, 120))


@st.composite
def case_visits(draw) -> list[Visit]:
    t = BASE + timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))
    shapes = draw(st.lists(visit_shape, min_size=1, max_size=5))
    if draw(st.booleans()) or draw(st.booleans()):  # three cases in four complete
        shapes.append(("E", draw(st.integers(0, 120)), draw(st.integers(0, 120))))
    visits = []
    for i, (step, gap, duration) in enumerate(shapes):
        start = t + timedelta(minutes=gap if i else 0)  # the first visit starts at the arrival
        t = start + timedelta(minutes=duration)
        visits.append(Visit(step, start, t))
    return visits


logs = st.lists(case_visits(), min_size=1, max_size=6)


def csv_text(cases: list[list[Visit]]) -> str:
    lines = ["case,activity,lifecycle,timestamp"]
    for n, visits in enumerate(cases):
        for v in visits:
            lines.append(f"k{n},{v.step},start,{v.start.isoformat()}")
            lines.append(f"k{n},{v.step},complete,{v.end.isoformat()}")
    return "\n".join(lines) + "\n"


def flow_of(cases: list[list[Visit]]):
    """Load the log into a fresh store and compute its flow; the open connection."""
    folder = Path(tempfile.mkdtemp())
    path = folder / "log.csv"
    path.write_text(csv_text(cases), encoding="utf-8")
    con = open_store(folder / "vsm.duckdb")
    s = StreamSettings(name="p", source=Source(path=str(path)), end_activities=["E"], log_shape="interval")
    ingest(con, s)
    compute_flow(con, s)
    return con


def sessions_merged(visits: list[Visit]) -> list[Visit]:
    """The case's visits once consecutive sessions of one step are one visit
    (session_visits__interval.sql): from the first session's start to the last one's end."""
    merged: list[Visit] = []
    for v in visits:
        if merged and merged[-1].step == v.step:
            merged[-1] = Visit(v.step, merged[-1].start, v.end)
        else:
            merged.append(v)
    return merged


def per_case(con, sql: str) -> dict[str, tuple]:
    return {r[0]: r[1:] for r in con.execute(sql).fetchall()}


@settings(max_examples=25, deadline=None)
@given(logs)
def test_laws_of_sequential_interval_logs(cases):
    con = flow_of(cases)
    try:
        generated = {f"k{n}": visits for n, visits in enumerate(cases)}
        got = per_case(con, "SELECT case_id, is_open, lead_time_s, is_first_pass, arrival_ts FROM cases")
        sums = per_case(
            con,
            "SELECT case_id, sum(coalesce(queue_time_s, 0)) + sum(process_time_s) + sum(paused_s) "
            "FROM visits GROUP BY case_id",
        )
        assert set(got) == set(generated)
        for case_id, sessions in generated.items():
            visits = sessions_merged(sessions)
            is_open, lead_time_s, is_first_pass, arrival_ts = got[case_id]
            completes = visits[-1].step == "E"
            assert is_open == (not completes)
            assert arrival_ts == visits[0].start
            assert is_first_pass == (len({v.step for v in visits}) == len(visits))
            if completes:
                # lead time = last end - first start
                assert lead_time_s == (visits[-1].end - visits[0].start).total_seconds()
                if is_first_pass:  # queue + process + paused time of its visits add up to its lead time
                    assert sums[case_id][0] == lead_time_s
            else:
                assert lead_time_s is None

        # one visit per run of sessions of one step, one session per start event
        merged = [sessions_merged(v) for v in cases]
        assert con.execute("SELECT count(*), sum(sessions) FROM visits").fetchall() == [
            (sum(len(v) for v in merged), sum(len(v) for v in cases))
        ]

        completed = sum(v[-1].step == "E" for v in cases)
        [(variant_cases, share)] = con.execute(
            "SELECT coalesce(sum(cases), 0), sum(share) FROM variants"
        ).fetchall()
        assert variant_cases == completed
        if completed:
            assert abs(share - 1.0) < 1e-9
        expected_variants = {}
        for visits in merged:
            if visits[-1].step == "E":
                key = " > ".join(v.step for v in visits)
                expected_variants[key] = expected_variants.get(key, 0) + 1
        assert dict(con.execute("SELECT steps, cases FROM variants").fetchall()) == expected_variants

        for step, fpy in con.execute("SELECT step, first_pass_yield FROM step_metrics").fetchall():
            assert 0.0 <= fpy <= 1.0, step
    finally:
        con.close()


# --- pairing starts with completes, on any mix of them ---------------------------------------

# (step, start or complete, minute): any order, overlaps, lone completes and same-minute ties
lifecycle_event = st.tuples(st.sampled_from("AB"), st.sampled_from(["start", "complete"]), st.integers(0, 30))
lifecycle_logs = st.lists(st.lists(lifecycle_event, min_size=1, max_size=8), min_size=1, max_size=4)


def fifo_visits(cases: list[list[tuple]]) -> tuple[list[tuple], int]:
    """The pairing worked out here, one event at a time: in time order (starts before
    completes at the same minute, then file order), a complete closes the earliest open start
    of its step in its case, or is lone if none is open. (case, step, start, end) visits, and
    the number of lone completes."""
    visits, lone = [], 0
    for n, events in enumerate(cases):
        ordered = sorted(enumerate(events), key=lambda e: (e[1][2], e[1][1] != "start", e[0]))
        open_starts: dict[str, list[tuple[datetime, int]]] = {}
        for line, (step, kind, minute) in ordered:
            at = BASE + timedelta(minutes=minute)
            if kind == "start":
                open_starts.setdefault(step, []).append((at, line))
            elif open_starts.get(step):
                start, start_line = open_starts[step].pop(0)
                visits.append((f"k{n}", step, start, at, start_line))
            else:
                lone += 1
        visits += [
            (f"k{n}", step, s, None, line) for step, starts in open_starts.items() for s, line in starts
        ]
    return sorted(visits, key=str), lone


def merge_sessions(visits: list[tuple]) -> list[tuple]:
    """(case, step, start, end, line) sessions -> (case, step, start, end) visits: in the
    flow's order (start, else end; end, open last; line), consecutive sessions of one step
    with observed starts are one visit from the first start to the last end (None while one
    is open), as session_visits__interval.sql makes them."""
    far = BASE + timedelta(days=3650)
    ordered = sorted(visits, key=lambda v: (v[0], v[2] or v[3], v[3] is None, v[3] or far, v[4]))
    merged: list[list] = []
    for case, step, start, end, _ in ordered:
        last = merged[-1] if merged else None
        if last and last[0] == case and last[1] == step and start is not None and last[4] is not None:
            last[3] = None if last[3] is None or end is None else max(last[3], end)
            last[4] = start
        else:
            merged.append([case, step, start, end, start])
    return [tuple(m[:4]) for m in merged]


@settings(max_examples=30, deadline=None)
@given(lifecycle_logs)
def test_pairing_is_first_in_first_out_on_any_mix_of_starts_and_completes(cases):
    if not any(kind == "start" for events in cases for _, kind, _ in events):
        cases = [[("A", "start", 0)], *cases]  # an interval log has starts
    folder = Path(tempfile.mkdtemp())
    path = folder / "log.csv"
    lines = ["case,activity,lifecycle,timestamp"]
    for n, events in enumerate(cases):
        lines += [
            f"k{n},{step},{kind},{(BASE + timedelta(minutes=m)).isoformat()}" for step, kind, m in events
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    con = open_store(folder / "vsm.duckdb")
    try:
        s = StreamSettings(
            name="p", source=Source(path=str(path)), end_activities=["E"], log_shape="interval"
        )
        ingest(con, s)
        compute_flow(con, s)
        got = con.execute("SELECT case_id, step, start_ts, end_ts FROM visits").fetchall()
        [(lone,)] = con.execute(
            "SELECT coalesce(sum(count), 0) FROM quality_findings WHERE rule = 'unmatched_completes'"
        ).fetchall()
        expected, expected_lone = fifo_visits(cases)
        # a step never started anywhere is a point step: its completes are visits of their own
        started = {step for events in cases for step, kind, _ in events if kind == "start"}
        expected += [
            (f"k{n}", step, None, BASE + timedelta(minutes=m), line)
            for n, events in enumerate(cases)
            for line, (step, kind, m) in enumerate(events)
            if step not in started
        ]
        expected = merge_sessions(expected)
        expected_lone -= sum(1 for events in cases for step, _, _ in events if step not in started)
        assert sorted(got, key=str) == sorted(expected, key=str)
        assert lone == expected_lone
    finally:
        con.close()
