"""Entry lanes of the value stream map: when cases start at several steps (a routing process,
incidents by resolver team), those steps are parallel lanes fed by the map's one entry, not
side steps hanging after the first box (pipeline/stream_map.py entry_lanes, the drawing in
pipeline/vsm_map_layout.py). Expected values are worked out by hand from the logs drawn here.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl
import pytest

from pipeline.store import open_store, query_frame
from pipeline.stream_map import entry_lanes, main_path, map_steps
from pipeline.streams import discover
from pipeline.vsm_map import Branch, MapData, MapStep, Summary, load_map_data, map_svg
from pipeline.vsm_map_layout import BUS_DROP, LANE_GAP, SIDE_W, layout
from tests.test_discovery import variants

SVG = "{http://www.w3.org/2000/svg}"
SAMPLE_INCIDENTS = Path(__file__).resolve().parent.parent / "sample_logs" / "incidents.csv"

# 100 completed cases. A starts 70 (60 + 10), B 26, X 4; everything ends at C.
#   A > C       60
#   B > C       26     B: a second entry (26% >= 5%): a lane
#   A > B > C   10     B is reached later too, from A
#   X > C        4     X: 4% < 5%, a side step as before
# Order by first position: A (p50 0, mean 0), X (0, 0), B (0, 10/36), C. Main path A > C: the
# chain A (70 starts) -> C (60) ends 60 cases at C: 70 + 60 + 60 = 190, beating B > C
# (26 + 26 + 26). B's anchor is A (A -> B, 10); X is reached from nowhere and comes after A.
# Positions are as without lanes (A, then A's side steps in order: X, B, then C): the lanes
# change the drawing, not the values map_steps had.
ROUTING = (("A > C", 60), ("B > C", 26), ("A > B > C", 10), ("X > C", 4))


def test_a_second_start_step_is_an_entry_lane_after_the_first_box():
    log = variants(*ROUTING)
    assert main_path(log) == ["A", "C"]
    assert entry_lanes(log) == ["A", "B"]
    rows = map_steps(log).select(
        "step",
        "position",
        "on_main_path",
        "anchor_step",
        "starts",
        pl.col("start_share").round(6),
        "entry_lane",
        "cases",
    )
    assert rows.rows() == [
        ("A", 1, True, None, 70, 0.70, True, 70),
        ("X", 2, False, "A", 4, 0.04, False, 4),
        ("B", 3, False, "A", 26, 0.26, True, 36),
        ("C", 4, True, None, 0, 0.0, False, 100),
    ]
    # every case ends at C
    assert map_steps(log).select("step", "ends", "end_share").rows() == [
        ("A", 0, 0.0),
        ("X", 0, 0.0),
        ("B", 0, 0.0),
        ("C", 100, 1.0),
    ]


def test_lanes_are_ordered_by_starts_and_need_five_percent():
    # T1 starts 50 + 2 = 52 (the main path); T3 starts 30, T2 13, T4 5 (5%: a lane), T5 0
    # (reached only after T1). Lanes below T1: most starts first, T3 (30), T2 (13), T4 (5).
    log = variants(("T1", 50), ("T1 > T5", 2), ("T3", 30), ("T2", 13), ("T4", 5))
    assert main_path(log) == ["T1"]
    assert entry_lanes(log) == ["T1", "T3", "T2", "T4"]
    frame = map_steps(log)
    assert frame.select("step", "position", "starts", "entry_lane").rows() == [
        ("T1", 1, 52, True),
        ("T2", 2, 13, True),  # by position: the order (all first at 0: by name), not the starts
        ("T3", 3, 30, True),
        ("T4", 4, 5, True),
        ("T5", 5, 0, False),
    ]


def test_one_start_step_has_no_lanes():
    # every case starts at A: one entry, the map as it always was
    log = variants(("A > B > C", 8), ("A > C", 2))
    assert entry_lanes(log) == []
    frame = map_steps(log)
    assert frame["entry_lane"].to_list() == [False, False, False]
    assert frame.select("step", "starts", "start_share").rows() == [
        ("A", 10, 1.0),
        ("B", 0, 0.0),
        ("C", 0, 0.0),
    ]
    assert entry_lanes(variants()) == [] and map_steps(variants())["entry_lane"].to_list() == []


def _lane_map() -> MapData:
    """ROUTING as the map's data: A and C on the main path, B a lane, X a side step. (Ends
    made up for the drawing: 20% end at B, 80% at C.)"""
    figures = {"visits": 10, "queue_time_p50_s": 60.0, "process_time_p50_s": 120.0}
    return MapData(
        stream="routing",
        summary=Summary(log_shape="interval", completed_cases=100, open_cases=0),
        steps=(
            MapStep("A", 1, True, case_share=0.70, start_share=0.70, entry_lane=True, **figures),
            MapStep("X", 2, False, "A", case_share=0.04, start_share=0.04, **figures),
            MapStep(
                "B",
                3,
                False,
                "A",
                case_share=0.36,
                start_share=0.26,
                end_share=0.2,
                entry_lane=True,
                **figures,
            ),
            MapStep("C", 4, True, case_share=1.0, start_share=0.0, end_share=0.8, **figures),
        ),
    )


def _texts(svg: str, key: str) -> list[str]:
    root = ET.fromstring(svg)
    return [t.text for t in root.iter(f"{SVG}text") if t.get("data-key") == key]


def test_the_lane_is_drawn_under_the_first_box_fed_by_the_entry():
    data = _lane_map()
    assert [s.step for s in data.entry_lanes] == ["B"]
    assert [s.step for s in data.side_steps] == ["X"]  # the lane is not a side step
    lay = layout(data, panels_height=100)
    a, b, c, x = (lay.boxes[s] for s in "ABCX")
    assert (b.x, b.y) == (a.x, a.bottom + LANE_GAP)  # stacked in the first column
    assert c.x > a.x and c.y == a.y  # the main path goes on from the top lane
    assert x.y > b.bottom  # side steps below the lanes
    svg = map_svg(data)
    root = ET.fromstring(svg)
    processes = [g.get("data-step") for g in root.iter(f"{SVG}g") if g.get("class") == "process"]
    assert processes == ["A", "C", "B"]  # B is a full process box, with its queue
    queues = [g.get("data-step") for g in root.iter(f"{SVG}g") if g.get("class") == "queue"]
    assert queues == ["A", "C", "B"]
    assert _texts(svg, "start_share") == ["70%", "26%"]  # the entry's split, top to bottom
    # B is reached later from A: 36% visit it, 26% start there, so 10% of cases reach it later
    link = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "lane-link")
    assert (link.get("data-from"), link.get("data-to")) == ("A", "B")
    assert _texts(svg, "later_share") == ["10% later"]
    # each lane's own way out: the main path's Done (after C), then B's
    assert _texts(svg, "end_share") == ["80% end here", "20% end here"]
    exit_b = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "lane-exit")
    assert exit_b.get("data-step") == "B"

    # X hangs below the lanes; its link from A goes round them, into X's right edge
    def right_edge(cls: str, step: str) -> float:
        group = next(g for g in root.iter(f"{SVG}g") if g.get("class") == cls and g.get("data-step") == step)
        box = group.find(f"{SVG}rect")
        return float(box.get("x")) + float(box.get("width"))

    side = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "side-step")
    start, channel, end = re.fullmatch(
        r"M([\d.]+),[\d.]+ V[\d.]+ H([\d.]+) V[\d.]+ H([\d.]+)", side.find(f"{SVG}path").get("d")
    ).groups()
    assert float(start) == right_edge("process", "A") - 14  # out of A's bottom
    assert float(channel) > right_edge("process", "B")  # down the gap right of the lane, not through it
    assert float(end) == right_edge("side-step", "X") + 1  # into X's right edge
    assert "cases start in 2 entry lanes" in svg
    assert "main path of 2 steps, 1 side step" in svg


def test_a_map_without_lanes_draws_no_entry():
    data = _lane_map()
    plain = MapData(
        stream=data.stream,
        summary=data.summary,
        steps=tuple(MapStep(**{**s.__dict__, "entry_lane": False, "start_share": None}) for s in data.steps),
    )
    svg = map_svg(plain)
    assert _texts(svg, "start_share") == [] and "lane-link" not in svg and "entry lanes" not in svg
    assert _texts(svg, "end_share") == [] and "lane-exit" not in svg
    assert "main path of 2 steps, 2 side steps" in svg


def _tower(sides_on_b: int = 0, lanes: bool = False) -> MapData:
    """Main path A > B; 20 side steps S00..S19 after A (and `sides_on_b` after B), the shares
    falling with the number, as a team-routing process draws them (bpic2013_incidents: 25
    side steps after its one main-path box). With `lanes`, L is an entry lane under A."""
    figures = {"visits": 10, "queue_time_p50_s": 60.0, "process_time_p50_s": 120.0}
    steps = [
        MapStep(
            "A", 1, True, case_share=1.0, start_share=0.8 if lanes else None, entry_lane=lanes, **figures
        ),
        MapStep("B", 2, True, case_share=1.0, **figures),
    ]
    if lanes:
        steps.append(MapStep("L", 3, False, case_share=0.2, start_share=0.2, entry_lane=True, **figures))
    steps += [MapStep(f"S{i:02}", 10 + i, False, "A", case_share=0.2 - i / 200, **figures) for i in range(20)]
    steps += [MapStep(f"T{i}", 40 + i, False, "B", case_share=0.05, **figures) for i in range(sides_on_b)]
    return MapData(
        stream="routing",
        summary=Summary(log_shape="status", completed_cases=100, open_cases=0),
        steps=tuple(steps),
        branches=(Branch("A", "S00", 0.25, 25),),
    )


def _grid(lay, names: list[str]) -> list[list[str]]:
    """The steps by column (left to right), each top to bottom."""
    xs = sorted({lay.boxes[n].x for n in names})
    return [sorted((n for n in names if lay.boxes[n].x == x), key=lambda n: lay.boxes[n].y) for x in xs]


@pytest.mark.parametrize("lanes", [False, True])
def test_many_side_steps_after_one_step_wrap_into_columns_not_a_tower(lanes):
    """Worked by hand: 20 side steps after A, none after B, so nothing stops them on the right:
    ceil(20 / 8 rows) = 3 columns of ceil(20 / 3) = 7 rows: 7, 7 and 6, filled top to bottom
    in their order, 234 apart (a box 150 wide and a gap of 84 for the links and loops). Each
    link runs from A down to the bus over the side steps, along it, down the gap left of its
    step and into its left edge, the lanes (when there are) kept clear as before."""
    data = _tower(lanes=lanes)
    names = [f"S{i:02}" for i in range(20)]
    lay = layout(data, panels_height=100)
    grid = _grid(lay, names)
    assert grid == [names[0:7], names[7:14], names[14:20]]
    x0 = lay.boxes["S00"].x
    assert [lay.boxes[c[0]].x - x0 for c in grid] == [0, 234, 468]
    assert [lay.boxes[n].y for n in grid[1]] == [lay.boxes[n].y for n in grid[0]]  # rows line up
    assert lay.ladder_y <= lay.boxes["S06"].bottom + 40  # the map ends under 7 rows, not 20
    lowest = lay.boxes["L" if lanes else "A"].bottom
    assert all(lay.boxes[n].y > lowest for n in names)
    svg = map_svg(data)
    root = ET.fromstring(svg)
    assert float(root.get("width")) >= lay.boxes["S14"].x + SIDE_W + 20  # the map widens to hold them
    drawn = {g.get("data-step"): g for g in root.iter(f"{SVG}g") if g.get("class") == "side-step"}
    assert sorted(drawn) == names
    bus = min(float(g.find(f"{SVG}rect").get("y")) for g in drawn.values()) - BUS_DROP
    for g in drawn.values():
        x, y, h = (float(g.find(f"{SVG}rect").get(k)) for k in ("x", "y", "height"))
        d = g.find(f"{SVG}path").get("d")
        assert f"V{bus:g} H{x - 14:g} V{y + h / 2:g} H{x - 1:g}" in d, d
    share = next(t for t in root.iter(f"{SVG}text") if t.get("data-key") == "branch_share")
    assert (share.text, share.get("text-anchor"), float(share.get("x"))) == ("25%", "end", round(x0 - 17, 1))


def test_side_steps_wrap_only_into_room_left_by_the_next_column():
    """With side steps after B too, A's twenty have no room to wrap (B's column is 236 to the
    right, less than two columns of 150 + 84): they stay one column under A, as every map with
    eight or fewer side steps per column draws, links down the gap under A. B's 12 wrap into
    ceil(12 / 8) = 2 columns of 6."""
    data = _tower(sides_on_b=12)
    lay = layout(data, panels_height=100)
    a_sides = [f"S{i:02}" for i in range(20)]
    assert _grid(lay, a_sides) == [a_sides]
    assert not lay.wrapped & set(a_sides)
    b_sides = [f"T{i}" for i in range(12)]
    assert _grid(lay, b_sides) == [b_sides[:6], b_sides[6:]]
    root = ET.fromstring(map_svg(data))
    side = next(g for g in root.iter(f"{SVG}g") if g.get("data-step") == "S03")
    x = float(side.find(f"{SVG}rect").get("x"))
    assert re.fullmatch(rf"M[\d.]+,[\d.]+ V[\d.]+ H{x - 1:g}", side.find(f"{SVG}path").get("d"))


# ---------------------------------------------------------------- the sample incidents


FOUND: dict = {}  # stream -> what discover returned (its FlowResult: what the CLI prints)


@pytest.fixture(scope="module")
def incidents(tmp_path_factory):
    folder = tmp_path_factory.mktemp("incidents")
    con = open_store(folder / "vsm.duckdb")
    FOUND["inc"] = discover(con, SAMPLE_INCIDENTS, "inc", streams_dir=folder / "streams")
    yield con
    con.close()


def test_sample_incidents_start_in_four_lanes(incidents):
    # By first step, from the variants of the 936 completed cases (steps by team):
    #   Service Desk  210 + 61 + 33 + 17 + 9 + 5 + 4 + 4 + 3 + 3 + 2 = 351
    #   Applications  239 + 21 + 18 + 9 + 4 + 3 + 2 + 1 + 1 + 1 = 299
    #   Network       114 + 25 + 14 + 13 + 2 + 2 + 1 + 1 + 1 = 173
    #   Database      54 + 21 + 17 + 8 + 7 + 2 + 1 + 1 + 1 + 1 = 113
    # all >= 5% of 936 (47): four lanes, Service Desk (the main path) on top. The positions
    # are as before the lanes (side steps in order); the drawing stacks them by starts.
    rows = query_frame(
        incidents,
        "SELECT step, position, on_main_path, anchor_step, starts, entry_lane FROM map_steps "
        "WHERE stream = 'inc' ORDER BY starts DESC",
    ).rows()
    assert rows == [
        ("Service Desk", 1, True, None, 351, True),
        ("Applications", 3, False, "Service Desk", 299, True),
        ("Network", 4, False, "Service Desk", 173, True),
        ("Database", 2, False, "Service Desk", 113, True),
    ]
    shares = query_frame(
        incidents, "SELECT step, start_share FROM map_steps WHERE stream = 'inc' ORDER BY starts DESC"
    ).rows()
    assert [(s, round(v, 4)) for s, v in shares] == [
        ("Service Desk", round(351 / 936, 4)),
        ("Applications", round(299 / 936, 4)),
        ("Network", round(173 / 936, 4)),
        ("Database", round(113 / 936, 4)),
    ]
    # the starts agree with the variants table read another way: cases by first step
    by_first = query_frame(
        incidents,
        "SELECT split_part(steps, ' > ', 1) AS step, sum(cases) AS n FROM variants "
        "WHERE stream = 'inc' GROUP BY 1 ORDER BY n DESC",
    ).rows()
    assert [(s, int(n)) for s, n in by_first] == [(s, n) for s, _, _, _, n, _ in rows]
    # what the run says (the CLI prints them: "cases start in 4 entry lanes ...")
    lanes = FOUND["inc"].flow.entry_lanes
    assert [(s, round(v, 4)) for s, v in lanes] == [(s, round(v, 4)) for s, v in shares]


def test_sample_incidents_map_reads_as_lanes(incidents):
    data = load_map_data(incidents, "inc")
    assert [s.step for s in data.main_path] == ["Service Desk"]
    assert [s.step for s in data.entry_lanes] == ["Applications", "Network", "Database"]
    assert data.side_steps == []
    svg = map_svg(data)
    assert _texts(svg, "start_share") == ["38%", "32%", "18%", "12%"]  # 351, 299, 173, 113 of 936
    # reached after starting elsewhere: cases visiting (410, 241, 148) minus starts, of 936
    assert _texts(svg, "later_share") == ["3.7% later", "7.3% later", "12% later"]  # drawn lowest lane first
    cases = dict(query_frame(incidents, "SELECT step, cases FROM map_steps WHERE stream = 'inc'").iter_rows())
    assert (cases["Applications"], cases["Network"], cases["Database"]) == (410, 241, 148)
    # by last step, from the variants:
    #   Service Desk  210 + 25 + 21 + 21 + 9 + 3 + 2 + 2 + 1 + 1 + 1 + 1 + 1 = 298 (32%)
    #   Applications  239 + 61 + 18 + 17 + 13 + 5 + 4 + 4 + 1 + 1 = 363 (39%)
    #   Network       114 + 33 + 14 + 9 + 7 + 3 + 3 + 2 + 1 + 1 + 1 = 188 (20%)
    #   Database      54 + 17 + 8 + 4 + 2 + 2 = 87 (9.3%); 298 + 363 + 188 + 87 = 936
    ends = dict(query_frame(incidents, "SELECT step, ends FROM map_steps WHERE stream = 'inc'").iter_rows())
    assert ends == {"Service Desk": 298, "Applications": 363, "Network": 188, "Database": 87}
    assert _texts(svg, "end_share") == [f"{p} end here" for p in ("32%", "39%", "20%", "9.3%")]
    assert re.search(r"cases start in 4 entry lanes \S main path of 1 step, 0 side steps", svg)
    lay = layout(data, panels_height=100)
    column = [lay.boxes[s] for s in ("Service Desk", "Applications", "Network", "Database")]
    assert len({b.x for b in column}) == 1 and [b.y for b in column] == sorted(b.y for b in column)


def test_rows_written_before_migration_019_draw_without_lanes(incidents):
    # a store computed before the migration has NULL in the new columns: no lanes
    incidents.execute("CREATE TEMP TABLE kept AS SELECT * FROM map_steps WHERE stream = 'inc'")
    try:
        incidents.execute(
            "UPDATE map_steps SET starts = NULL, start_share = NULL, ends = NULL, end_share = NULL, "
            "entry_lane = NULL WHERE stream = 'inc'"
        )
        data = load_map_data(incidents, "inc")
        assert data.entry_lanes == [] and len(data.side_steps) == 3
        assert "entry lanes" not in map_svg(data)
    finally:
        incidents.execute("DELETE FROM map_steps WHERE stream = 'inc'")
        incidents.execute("INSERT INTO map_steps SELECT * FROM kept")
        incidents.execute("DROP TABLE kept")


def test_old_snapshot_without_lane_fields_redraws(incidents):
    # map_history.map_data written before the lanes has no start_share / entry_lane: it redraws
    import json

    from pipeline.history import snapshot_map_svg

    raw = incidents.execute(
        "SELECT map_data FROM map_history WHERE stream = 'inc' ORDER BY computed_at DESC LIMIT 1"
    ).fetchall()[0][0]
    old = json.loads(raw)
    for step in old["steps"]:
        del step["start_share"], step["end_share"], step["entry_lane"]
    svg = snapshot_map_svg(json.dumps(old))
    assert "entry lanes" not in svg and svg.count('class="side-step"') == 3
    assert "cases start in 4 entry lanes" in snapshot_map_svg(raw)


def test_lane_columns_are_in_the_published_table(incidents):
    columns = pl.DataFrame(
        incidents.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'map_steps' "
            "ORDER BY ordinal_position"
        ).fetchall(),
        schema=["column"],
        orient="row",
    )["column"].to_list()
    assert columns[-5:] == ["starts", "start_share", "ends", "end_share", "entry_lane"]
