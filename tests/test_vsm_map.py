"""The value stream map (pipeline.vsm_map): drawn from the result tables of tiny logs drawn
here, its figures equal to the tables', every name escaped, and the same bytes every time.

Golden files: tests/golden/*.svg. After an intended change to the drawing, run
`pytest tests/test_vsm_map.py --update-golden`, then look at the diff (and at the SVG).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from pipeline.flow import compute_flow
from pipeline.ingest import ingest
from pipeline.settings import Source, StreamSettings
from pipeline.vsm_map import (
    Branch,
    Handoff,
    MapData,
    MapStep,
    ReworkLoop,
    Summary,
    fmt_amount,
    fmt_count,
    fmt_duration,
    fmt_pct,
    fmt_ratio,
    load_map_data,
    map_svg,
    render_map_svg,
)
from tests.conftest import write

GOLDEN = Path(__file__).resolve().parent / "golden"
SVG = "{http://www.w3.org/2000/svg}"

# ---------------------------------------------------------------- the small interval stream
#
# Monday 2026-03-02, UTC. Teams: ann and bob are Intake, cat and dan Finance.
#            09:00     10:00     11:00     12:00     13:00     14:00     15:00
# c1  Register [==]  Review [==]  Approve [=====]  Pay [=]
# c2  Register  [=]  Review   [==]  Approve  [==]       Pay [==]
# c3  Register     [=]  Review [=] Request Info [=]  Approve [==]  Pay [=]     side step
# c4  Register       [=]  Review [=]  Approve [==] Review [=] Approve [=]  Pay [=]   rework
# c5  Register          [=]  Review [...          (in process: open)
#
# Main path Register > Review > Approve > Pay; Request Info is a side step after Review
# (Review goes straight on to Approve three times out of four); Approve -> Review is rework
# in 1 of the 4 completed cases; the team changes (a handoff) between Review and Approve.
SMALL = """case,activity,lifecycle,timestamp,resource,team
c1,Register,start,2026-03-02T09:00:00Z,ann,Intake
c1,Register,complete,2026-03-02T09:20:00Z,ann,Intake
c1,Review,start,2026-03-02T10:00:00Z,ann,Intake
c1,Review,complete,2026-03-02T10:30:00Z,ann,Intake
c1,Approve,start,2026-03-02T11:00:00Z,cat,Finance
c1,Approve,complete,2026-03-02T12:00:00Z,cat,Finance
c1,Pay,start,2026-03-02T13:00:00Z,cat,Finance
c1,Pay,complete,2026-03-02T13:10:00Z,cat,Finance
c2,Register,start,2026-03-02T09:30:00Z,ann,Intake
c2,Register,complete,2026-03-02T09:40:00Z,ann,Intake
c2,Review,start,2026-03-02T10:30:00Z,bob,Intake
c2,Review,complete,2026-03-02T11:00:00Z,bob,Intake
c2,Approve,start,2026-03-02T12:00:00Z,cat,Finance
c2,Approve,complete,2026-03-02T12:30:00Z,cat,Finance
c2,Pay,start,2026-03-02T14:00:00Z,dan,Finance
c2,Pay,complete,2026-03-02T14:20:00Z,dan,Finance
c3,Register,start,2026-03-02T10:00:00Z,bob,Intake
c3,Register,complete,2026-03-02T10:15:00Z,bob,Intake
c3,Review,start,2026-03-02T11:00:00Z,ann,Intake
c3,Review,complete,2026-03-02T11:20:00Z,ann,Intake
c3,Request Info,start,2026-03-02T11:30:00Z,ann,Intake
c3,Request Info,complete,2026-03-02T11:40:00Z,ann,Intake
c3,Approve,start,2026-03-02T13:00:00Z,dan,Finance
c3,Approve,complete,2026-03-02T13:30:00Z,dan,Finance
c3,Pay,start,2026-03-02T14:30:00Z,dan,Finance
c3,Pay,complete,2026-03-02T14:40:00Z,dan,Finance
c4,Register,start,2026-03-02T10:30:00Z,bob,Intake
c4,Register,complete,2026-03-02T10:40:00Z,bob,Intake
c4,Review,start,2026-03-02T11:30:00Z,bob,Intake
c4,Review,complete,2026-03-02T11:50:00Z,bob,Intake
c4,Approve,start,2026-03-02T12:30:00Z,cat,Finance
c4,Approve,complete,2026-03-02T13:00:00Z,cat,Finance
c4,Review,start,2026-03-02T13:30:00Z,ann,Intake
c4,Review,complete,2026-03-02T13:45:00Z,ann,Intake
c4,Approve,start,2026-03-02T14:00:00Z,cat,Finance
c4,Approve,complete,2026-03-02T14:20:00Z,cat,Finance
c4,Pay,start,2026-03-02T15:00:00Z,dan,Finance
c4,Pay,complete,2026-03-02T15:10:00Z,dan,Finance
c5,Register,start,2026-03-02T11:00:00Z,ann,Intake
c5,Register,complete,2026-03-02T11:10:00Z,ann,Intake
c5,Review,start,2026-03-02T12:00:00Z,bob,Intake
"""

# ---------------------------------------------------------------- the small status stream
#
# s2 waits on the customer overnight (Awaiting Customer: external) before work resumes;
# s3 goes back from Review to In Progress (rework); s4 is still open.
STATUS = """number,state,sys_updated_on,assigned_to,assignment_group
s1,New,2026-03-02T09:00:00Z,,Service Desk
s1,In Progress,2026-03-02T10:00:00Z,alice,Service Desk
s1,Review,2026-03-02T12:00:00Z,bob,Quality
s1,Resolved,2026-03-02T13:00:00Z,bob,Quality
s2,New,2026-03-02T09:30:00Z,,Service Desk
s2,In Progress,2026-03-02T11:00:00Z,alice,Service Desk
s2,Awaiting Customer,2026-03-02T12:00:00Z,alice,Service Desk
s2,In Progress,2026-03-03T09:00:00Z,carol,Service Desk
s2,Review,2026-03-03T10:00:00Z,bob,Quality
s2,Resolved,2026-03-03T11:00:00Z,bob,Quality
s3,New,2026-03-02T10:00:00Z,,Service Desk
s3,In Progress,2026-03-02T10:30:00Z,carol,Service Desk
s3,Review,2026-03-02T11:30:00Z,dave,Quality
s3,In Progress,2026-03-02T12:00:00Z,alice,Service Desk
s3,Review,2026-03-02T14:00:00Z,bob,Quality
s3,Resolved,2026-03-02T15:00:00Z,bob,Quality
s4,New,2026-03-02T11:00:00Z,,Service Desk
s4,In Progress,2026-03-02T12:00:00Z,alice,Service Desk
"""


def load(store, tmp_path, log: str, name: str = "small", **settings) -> str:
    """Load `log` as stream `name`, compute its flow and return its map."""
    path = write(tmp_path / f"{name}.csv", log)
    stream = StreamSettings(name=name, source=Source(path=str(path)), **settings)
    ingest(store, stream)
    compute_flow(store, stream)
    return render_map_svg(store, name)


def check_golden(request, name: str, svg: str) -> None:
    path = GOLDEN / name
    if request.config.getoption("--update-golden"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(svg, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run pytest --update-golden and review it"
    assert svg == path.read_text(encoding="utf-8"), (
        f"the map differs from {path}; if that is intended, run pytest --update-golden and review the diff"
    )


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == cls]


def group_of(root: ET.Element, cls: str, step: str) -> ET.Element:
    found = [g for g in groups(root, cls) if g.get("data-step") == step]
    assert len(found) == 1, f"{len(found)} {cls} groups for {step!r}"
    return found[0]


def value(g: ET.Element, key: str) -> str:
    found = [t.text for t in g.iter(f"{SVG}text") if t.get("data-key") == key]
    assert len(found) == 1, f"{len(found)} values {key!r} in {g.get('class')}"
    return found[0]


def rows(store, sql: str, params: list) -> list[tuple]:
    return store.execute(sql, params).fetchall()


# ---------------------------------------------------------------- formatting


def test_durations_read_in_the_unit_that_suits_each_value():
    assert [fmt_duration(s) for s in (0, 45, 600, 630, 5400, 16800, 86400 * 11.38, 86400 * 250)] == [
        "0 s",
        "45 s",
        "10 min",
        "10 min",
        "1.5 h",
        "4.7 h",
        "11 d",
        "250 d",
    ]
    assert fmt_duration(None) == "n/a"
    assert fmt_duration(float("nan")) == "n/a"


def test_shares_counts_and_amounts_are_rounded_for_reading():
    assert [fmt_pct(x) for x in (0, 0.0004, 0.034, 0.25, 0.8, 0.997, 0.9999, 1)] == [
        "0%",
        "<0.1%",
        "3.4%",
        "25%",
        "80%",
        "99.7%",
        "99.9%",
        "100%",
    ]
    assert (fmt_count(13087), fmt_amount(65.61), fmt_amount(1455.07), fmt_ratio(1.0679)) == (
        "13,087",
        "65.6",
        "1,455",
        "1.07",
    )


# ---------------------------------------------------------------- golden files


def test_small_interval_stream_matches_its_golden_map(store, tmp_path, request):
    svg = load(store, tmp_path, SMALL)
    assert rows(store, "SELECT step FROM map_steps WHERE stream = ? AND NOT on_main_path", ["small"]) == [
        ("Request Info",)
    ]
    check_golden(request, "small_map.svg", svg)


def test_small_status_stream_matches_its_golden_map(store, tmp_path, request):
    svg = load(store, tmp_path, STATUS, name="desk", step_by="activity")
    check_golden(request, "status_map.svg", svg)


def test_the_same_data_draws_the_same_bytes(store, tmp_path):
    first = load(store, tmp_path, SMALL)
    assert render_map_svg(store, "small") == first
    assert map_svg(load_map_data(store, "small")) == first


# ---------------------------------------------------------------- the map says what the tables say


def test_the_small_map_shows_the_figures_worked_out_by_hand(store, tmp_path):
    root = parse(load(store, tmp_path, SMALL))
    assert [g.get("data-step") for g in groups(root, "process")] == ["Register", "Review", "Approve", "Pay"]
    assert [g.get("data-step") for g in groups(root, "side-step")] == ["Request Info"]
    review = group_of(root, "process", "Review")
    # 6 visits (c4 twice); 5 cases visit it, 4 of them once; ann and bob
    assert (value(review, "visits"), value(review, "first_pass_yield"), value(review, "people")) == (
        "6",
        "80%",
        "2",
    )
    # Approve visits: 60, 30, 30, 30, 20 minutes: p50 30 min
    assert value(group_of(root, "process", "Approve"), "process_p50") == "30 min"
    # completed lead times 4h10, 4h50, 4h40, 4h40: p50 4h40 = 4.7 h
    summary = groups(root, "summary")[0]
    assert value(summary, "lead_time_p50") == "4.7 h"
    (loop,) = groups(root, "rework")
    assert (loop.get("data-from"), loop.get("data-to")) == ("Approve", "Review")
    assert [t.text for t in loop.iter(f"{SVG}text")] == ["rework 25% of cases"]  # 1 of 4 completed cases
    (handoff,) = groups(root, "handoff")
    assert (handoff.get("data-from"), handoff.get("data-to")) == ("Intake", "Finance")
    assert value(group_of(root, "side-step", "Request Info"), "branch_share") == "20%"  # 1 of Review's 5


def test_every_box_shows_its_step_metrics(store, tmp_path):
    root = parse(load(store, tmp_path, SMALL))
    main = rows(
        store,
        "SELECT m.step, s.visits, s.resources, s.process_time_p50_s, s.process_time_mean_s,"
        " s.first_pass_yield, s.queue_wip_avg, s.queue_time_p50_s, s.queue_time_mean_s"
        " FROM map_steps m JOIN step_metrics s USING (stream, step)"
        " WHERE stream = ? AND m.on_main_path ORDER BY m.position",
        ["small"],
    )
    assert len(groups(root, "process")) == len(main) == 4
    for step, visits, people, p50, mean, fpy, wip, q50, qmean in main:
        box = group_of(root, "process", step)
        assert value(box, "visits") == fmt_count(visits)
        assert value(box, "people") == fmt_count(people)
        assert value(box, "process_p50") == fmt_duration(p50)
        assert value(box, "process_mean") == fmt_duration(mean)
        assert value(box, "first_pass_yield") == fmt_pct(fpy)
        queue = group_of(root, "queue", step)
        assert value(queue, "queue_wip_avg") == fmt_amount(wip)
        if q50 is None:
            assert value(queue, "queue_time") == "not observed"
        else:
            assert (value(queue, "queue_time_p50"), value(queue, "queue_time_mean")) == (
                fmt_duration(q50),
                fmt_duration(qmean),
            )
        ladder = group_of(root, "ladder-step", step)
        expected = "not observed" if qmean is None else fmt_duration(qmean)
        assert value(ladder, "queue_time_mean") == expected
        assert value(ladder, "process_time_mean") == fmt_duration(mean)


def test_the_summary_box_shows_stream_summary_and_littles_law(store, tmp_path):
    root = parse(load(store, tmp_path, SMALL))
    ((p50, p85, mean, throughput, wip, fpy, handoffs, efficiency),) = rows(
        store,
        "SELECT lead_time_p50_s, lead_time_p85_s, lead_time_mean_s, throughput_per_day, wip_avg,"
        " first_pass_yield, handoffs_per_case, flow_efficiency FROM stream_summary WHERE stream = ?",
        ["small"],
    )
    ((verdict, ratio),) = rows(
        store, "SELECT verdict, ratio FROM littles_law WHERE stream = ? AND window_kind = 'all'", ["small"]
    )
    summary = groups(root, "summary")[0]
    assert value(summary, "lead_time_p50") == fmt_duration(p50)
    assert value(summary, "lead_time_p85") == fmt_duration(p85)
    assert value(summary, "throughput_per_day") == f"{fmt_amount(throughput)} / day"
    assert value(summary, "wip_avg") == f"{fmt_amount(wip)} cases"
    assert value(summary, "littles_law") == f"{verdict} (ratio {fmt_ratio(ratio)})"
    assert value(summary, "first_pass_yield") == fmt_pct(fpy) == "75%"  # c4 is the one with rework
    assert value(summary, "handoffs_per_case") == f"{handoffs:.2f}"
    totals = groups(root, "ladder-totals")[0]
    assert value(totals, "lead_time_p50") == fmt_duration(p50)
    assert value(totals, "lead_time_mean") == fmt_duration(mean)
    assert value(totals, "flow_efficiency") == fmt_pct(efficiency)


def test_rework_labels_are_the_loops_shares(store, tmp_path):
    root = parse(load(store, tmp_path, STATUS, name="desk", step_by="activity"))
    loops = rows(store, "SELECT from_step, to_step, case_share FROM rework_loops WHERE stream = ?", ["desk"])
    assert loops
    drawn = {(g.get("data-from"), g.get("data-to")): g for g in groups(root, "rework")}
    assert set(drawn) == {(a, b) for a, b, _ in loops}
    for a, b, share in loops:
        assert [t.text for t in drawn[(a, b)].iter(f"{SVG}text")] == [f"rework {fmt_pct(share)} of cases"]


def test_status_queues_are_split_into_internal_and_waiting_on_the_customer(store, tmp_path):
    root = parse(load(store, tmp_path, STATUS, name="desk", step_by="activity"))
    ((internal, external),) = rows(
        store,
        "SELECT queue_internal_mean_s, queue_external_mean_s FROM step_metrics WHERE stream = ? AND step = ?",
        ["desk", "In Progress"],
    )
    queue = group_of(root, "queue", "In Progress")
    assert (value(queue, "queue_internal_mean"), value(queue, "queue_external_mean")) == (
        fmt_duration(internal),
        fmt_duration(external),
    )
    assert external > 0  # s2's night waiting on the customer


# ---------------------------------------------------------------- names from data


def test_names_from_data_are_escaped_and_the_svg_is_xml(store, tmp_path):
    step, team = "<script>alert(1)</script>", 'A&B "x"'
    log = "case,activity,lifecycle,timestamp,resource,team\n" + "".join(
        f'{c},"{step}",{kind},2026-03-02T{hour}:00:00Z,ann,"{team.replace(chr(34), chr(34) * 2)}"\n'
        for c, starts in (("c1", "09"), ("c2", "11"))
        for kind, hour in (("start", starts), ("complete", f"{int(starts) + 1:02d}"))
    )
    svg = load(store, tmp_path, log, name="hostile")
    assert "<script" not in svg and "alert(1)</script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "A&amp;B &quot;x&quot;" in svg
    root = parse(svg)  # well-formed XML
    assert not [e for e in root.iter() if e.tag.split("}")[-1] in ("script", "image", "foreignObject")]
    box = group_of(root, "process", step)  # the attribute holds the name, unescaped by the parser
    assert step in box.find(f"{SVG}title").text
    assert [t.text for t in box.iter(f"{SVG}text") if t.get("class") == "team"] == [team]


def test_long_names_are_cut_with_the_full_name_in_a_tooltip():
    name = "Verify the customer's supporting documents and supplementary evidence"
    svg = map_svg(
        MapData("long", Summary("interval", completed_cases=1), (MapStep(name, 1, True, visits=1),))
    )
    box = group_of(parse(svg), "process", name)
    shown = [t.text for t in box.iter(f"{SVG}text") if t.get("class") == "name"]
    assert len(shown) == 2 and shown[-1].endswith("\u2026")
    assert box.find(f"{SVG}title").text.startswith(name)


# ---------------------------------------------------------------- sizes and degenerate streams


def test_the_map_grows_with_the_main_path_and_has_a_viewbox():
    def drawn(n: int) -> ET.Element:
        steps = tuple(MapStep(f"Step {i}", i, True, visits=1) for i in range(n))
        return parse(map_svg(MapData("w", Summary("interval", completed_cases=1), steps)))

    small, large = drawn(4), drawn(16)
    assert small.get("viewBox") == f"0 0 {small.get('width')} {small.get('height')}"
    assert float(large.get("width")) - float(small.get("width")) >= 12 * 190
    assert 'xmlns="http://www.w3.org/2000/svg"' in map_svg(MapData("w", None))


def test_a_stream_with_one_step(store, tmp_path):
    log = "case,activity,lifecycle,timestamp\n" + "".join(
        f"{c},Work,start,2026-03-02T{h}:00:00Z\n{c},Work,complete,2026-03-02T{h}:30:00Z\n"
        for c, h in (("c1", "09"), ("c2", "10"), ("c3", "11"))
    )
    root = parse(load(store, tmp_path, log, name="one"))
    assert [g.get("data-step") for g in groups(root, "process")] == ["Work"]
    assert value(group_of(root, "process", "Work"), "process_p50") == "30 min"
    assert groups(root, "handoff") == [] and groups(root, "rework") == []


def test_a_stream_without_completed_cases_draws_a_placeholder(store, tmp_path):
    # both cases started, neither finished: no variants, so nothing to draw boxes from
    log = (
        "case,activity,lifecycle,timestamp\n"
        "c1,Work,start,2026-03-02T09:00:00Z\n"
        "c2,Work,start,2026-03-02T10:00:00Z\n"
    )
    svg = load(store, tmp_path, log, name="fresh")
    assert rows(store, "SELECT count(*) FROM map_steps WHERE stream = ?", ["fresh"]) == [(0,)]
    root = parse(svg)
    assert groups(root, "process") == []
    assert "No completed cases yet" in "".join(root.itertext())


def test_a_stream_never_computed_draws_a_placeholder(store):
    root = parse(render_map_svg(store, "nothing"))
    assert "has not been computed" in "".join(root.itertext())


def test_hand_made_data_with_loops_to_steps_off_the_map_still_draws():
    steps = (
        MapStep("A", 1, True, visits=3, teams=("T1",)),
        MapStep("B", 2, False, anchor_step="A", visits=1),
        MapStep("C", 3, True, visits=3, teams=("T2",)),
    )
    data = MapData(
        "hand",
        Summary("point", completed_cases=3, lead_time_p50_s=3600.0),
        steps,
        loops=(
            ReworkLoop("C", "A", 1, 1, 1 / 3),
            ReworkLoop("B", "B", 1, 2, 1 / 3),
            ReworkLoop("C", "B", 1, 1, 1 / 3),
            ReworkLoop("X", "A", 1, 1, 1 / 3),  # not on the map: left out, never guessed
        ),
        branches=(Branch("A", "C", 2 / 3, 2), Branch("A", "B", 1 / 3, 1)),
        handoffs=(Handoff("A", "C", "T1", "T2", 2, 2),),
    )
    root = parse(map_svg(data))
    assert sorted((g.get("data-from"), g.get("data-to")) for g in groups(root, "rework")) == [
        ("B", "B"),
        ("C", "A"),
        ("C", "B"),
    ]
    assert value(group_of(root, "decision", "A"), "branch_share") == "67%"
    assert value(group_of(root, "process", "A"), "process_time") == "not observed"


def test_a_box_of_folded_rare_steps_shows_na_where_a_step_would_show_its_times():
    """'other' folds rare steps: its times are each folded step's own (step_metrics has no row
    for the fold), so the box says n/a; a step whose log has no start times says 'not
    observed', a different thing. An interval log: A and C have queue and process times."""
    timed = {"queue_wip_avg": 1.0, "queue_time_p50_s": 60.0, "queue_time_mean_s": 90.0}
    steps = (
        MapStep("A", 1, True, visits=3, teams=("T1",), process_time_p50_s=600.0, process_time_mean_s=600.0),
        MapStep("other", 2, True, map_visits=2, **timed),
        MapStep("C", 3, True, visits=3, teams=("T2",), process_time_p50_s=60.0, process_time_mean_s=60.0),
        MapStep("other 2", 4, False, anchor_step="A", case_share=0.5, map_visits=1),
        MapStep("B", 5, False, anchor_step="A", case_share=0.5, visits=1),
    )
    data = MapData("hand", Summary("interval", completed_cases=3, lead_time_p50_s=3600.0), steps, loops=())
    root = parse(map_svg(data))
    folded = group_of(root, "process", "other")
    assert value(folded, "process_time") == "n/a"
    assert value(folded, "visits") == "2"  # map_steps' visits of the folded steps
    assert value(group_of(root, "queue", "other"), "queue_time_p50") == "1 min"  # a figure it has
    ladder = group_of(root, "ladder-step", "other")
    assert (value(ladder, "queue_time_mean"), value(ladder, "process_time_mean")) == ("1.5 min", "n/a")
    assert value(group_of(root, "side-step", "other 2"), "process_time") == "n/a"
    assert value(group_of(root, "side-step", "B"), "process_time") == "not observed"
    assert value(group_of(root, "process", "A"), "process_p50") == "10 min"
