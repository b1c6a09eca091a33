"""Discovery and the map's structure: main path, side steps, rework loops, decision points.

Tiny variant logs with a known shape, drawn in each test; the expected figures are worked out
by hand from the drawing. (The real logs' maps: tests/test_real_logs.py, where each is
discovered once.)
"""

from __future__ import annotations

import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import polars as pl
import pytest

from pipeline.discovery import discover_model, write_model
from pipeline.stream_map import (
    build_map,
    decision_points,
    main_path,
    map_steps,
    parallel_steps,
    rework_loops,
)
from pipeline.variant_steps import OTHER, fold_rare_steps, fold_variants, start_end_steps


def variants(*rows: tuple[str, int] | tuple[str, int, float]) -> pl.DataFrame:
    """('A > B > C', cases[, lead_time_mean_s]) rows as a `variants` frame."""
    return pl.DataFrame(
        {
            "steps": [r[0] for r in rows],
            "cases": [r[1] for r in rows],
            "lead_time_mean_s": [r[2] if len(r) > 2 else 100.0 for r in rows],
        },
        schema={"steps": pl.String, "cases": pl.Int64, "lead_time_mean_s": pl.Float64},
    )


def loops_of(frame: pl.DataFrame) -> list[tuple]:
    return rework_loops(frame).select("from_step", "to_step", "cases", "visits").rows()


def branches_of(frame: pl.DataFrame) -> list[tuple]:
    rows = decision_points(frame, discover_model(frame)).iter_rows()
    return [(step, to, round(share, 3)) for step, to, share, _ in rows]


def test_empty_input_gives_an_empty_map():
    empty = variants()
    result = build_map(empty)
    assert result.main_path == []
    assert result.map_steps.is_empty() and result.rework_loops.is_empty()
    assert result.decision_points.is_empty()
    assert result.model.steps == () and str(result.model.tree) == "tau"
    assert start_end_steps(empty).is_empty()


def test_straight_line():
    # A -> B -> C, every case the same
    log = variants(("A > B > C", 10))
    assert main_path(log) == ["A", "B", "C"]
    steps = map_steps(log)
    assert steps.select("step", "position", "on_main_path", pl.col("case_share").round(6)).rows() == [
        ("A", 1, True, 1.0),
        ("B", 2, True, 1.0),
        ("C", 3, True, 1.0),
    ]
    assert loops_of(log) == []
    assert branches_of(log) == []
    assert str(discover_model(log).tree) == "->( 'A', 'B', 'C' )"


def test_loop_back_through_a_fix_step():
    # A -> B -> C -> B -> D in every case: C sends the work back to B, then B goes on to D.
    # The main path is A B D; C is a side step after B; C -> B is the loop; after B the work
    # goes to C (first time) or to D (second time): half and half.
    log = variants(("A > B > C > B > D", 10, 500.0))
    assert main_path(log) == ["A", "B", "D"]
    assert map_steps(log).select("step", "on_main_path", "anchor_step").rows() == [
        ("A", True, None),
        ("B", True, None),
        ("C", False, "B"),
        ("D", True, None),
    ]
    assert loops_of(log) == [("C", "B", 10, 10)]
    assert rework_loops(log)["added_lead_time_s"].to_list() == [None]  # no first-pass case to compare with
    assert branches_of(log) == [("B", "C", 0.5), ("B", "D", 0.5)]


def test_loop_back_on_the_main_path_adds_lead_time():
    # 8 cases A B C D (lead time 100); 2 cases go back from C to B once: A B C B C D (lead time 300).
    log = variants(("A > B > C > D", 8, 100.0), ("A > B > C > B > C > D", 2, 300.0))
    assert main_path(log) == ["A", "B", "C", "D"]
    loops = rework_loops(log)
    assert loops.select(
        "from_step", "to_step", "cases", "visits", "case_share", "added_lead_time_s"
    ).rows() == [("C", "B", 2, 2, 0.2, 200.0)]
    assert branches_of(log) == []  # the second B -> C is the loop coming back, not a branch


def test_xor_branch_shares():
    # after A: B in 70 cases, C in 30; both go on to D
    log = variants(("A > B > D", 70), ("A > C > D", 30))
    assert main_path(log) == ["A", "B", "D"]
    assert map_steps(log).select(
        "step", "position", "on_main_path", pl.col("case_share").round(6), "anchor_step"
    ).rows() == [
        ("A", 1, True, 1.0, None),
        ("C", 2, False, 0.3, "A"),
        ("B", 3, True, 0.7, None),
        ("D", 4, True, 1.0, None),
    ]
    assert branches_of(log) == [("A", "B", 0.7), ("A", "C", 0.3)]
    assert loops_of(log) == []


def test_self_loop():
    # 4 cases repeat B once (lead time 500), 6 do not (lead time 100)
    log = variants(("A > B > B > C", 4, 500.0), ("A > B > C", 6, 100.0))
    assert main_path(log) == ["A", "B", "C"]
    loops = rework_loops(log).select("from_step", "to_step", "cases", "visits", "added_lead_time_s")
    assert loops.rows() == [("B", "B", 4, 4, 400.0)]
    assert branches_of(log) == []
    assert map_steps(log).filter(pl.col("step") == "B")["visits"].to_list() == [14]


def test_parallel_steps_are_one_fork_not_a_decision_nor_rework():
    # B and C both happen between A and D, in either order (60 B first, 40 C first)
    log = variants(("A > B > C > D", 60), ("A > C > B > D", 40))
    model = discover_model(log)
    assert str(model.tree) == "->( 'A', +( 'C', 'B' ), 'D' )"
    assert parallel_steps(log, model) == {frozenset({"B", "C"})}
    assert main_path(log) == ["A", "B", "C", "D"]
    assert loops_of(log) == []  # C -> B in the second variant goes to a step not visited before
    assert branches_of(log) == []


def test_parallel_fork_against_an_alternative_is_one_branch():
    # after A: either the fork B || C (80 cases) or E alone (20)
    log = variants(("A > B > C > D", 50), ("A > C > B > D", 30), ("A > E > D", 20))
    assert branches_of(log) == [("A", "B", 0.8), ("A", "E", 0.2)]


def test_other_is_never_on_the_main_path():
    # 10 cases go A > other > C (each through some rare, folded step), 3 go A > B > C. "other" is
    # many unrelated steps, not one: the main path is the heaviest chain of named steps, A B C
    # (A -> B carries 3 of the 13 cases leaving A, over the 10% floor).
    log = variants(("A > other > C", 10), ("A > B > C", 3))
    assert main_path(log) == ["A", "B", "C"]


def test_main_path_prefers_the_long_path_most_work_follows_over_an_early_exit():
    # The most frequent variant exits early (A B X), but more work flows through A B C D E:
    # the map's spine is the process, the early exit a side step (as in BPIC 2012's A_DECLINED).
    log = variants(("A > B > X", 40), ("A > B > C > D > E", 35), ("A > B > C > X", 25))
    assert main_path(log) == ["A", "B", "C", "D", "E"]
    steps = map_steps(log)
    assert steps.filter(~pl.col("on_main_path")).select("step", "anchor_step").rows() == [("X", "B")]


def test_a_step_most_work_goes_around_is_a_side_step():
    # 70 cases go A -> W, but 45 of them leave at X; the 55 that reach P come 30 straight from A
    # (never visiting W) and 25 through W. P -> Q -> R is the process: W is a side step.
    log = variants(("A > W > X", 45), ("A > W > P > Q > R", 25), ("A > P > Q > R", 30))
    assert main_path(log) == ["A", "P", "Q", "R"]
    assert map_steps(log).filter(~pl.col("on_main_path")).select("step", "anchor_step").rows() == [
        ("W", "A"),
        ("X", "A"),
    ]


STABLE_LOG = (
    ("A > B > C > D > E", 50),
    ("A > B > D > C > E", 20),
    ("A > B > C > B > C > D > E", 12),
    ("A > F > D > E", 10),
    ("A > B > C > D", 8),
)


@pytest.mark.parametrize(
    "rare",
    [
        "A > N > B > C > D > E",
        "A > B > N > C > D > E",
        "A > B > C > D > N > E",
        "A > B > C > D > E > N",
        "N > A > B > C > D > E",
        "E > D > C > B > A",
        "A > E",
        "A > N > E",
        "A > C > B > E > D",
    ],
    ids=lambda r: r.replace(" > ", ""),
)
def test_main_path_is_stable_when_a_rare_variant_comes_or_goes(rare):
    log = variants(*STABLE_LOG)
    assert main_path(log) == ["A", "B", "C", "D", "E"]
    assert main_path(pl.concat([log, variants((rare, 1))])) == ["A", "B", "C", "D", "E"]
    assert main_path(variants(*STABLE_LOG[:-1])) == ["A", "B", "C", "D", "E"]


def test_bpmn_and_pnml_are_written_without_graphviz_and_parse(tmp_path):
    log = variants(("A > B > C > D", 60), ("A > C > B > D", 40), ("A > B > B > C > D", 5))
    paths = write_model(discover_model(log), tmp_path / "models", "claims")
    assert [p.name for p in paths] == ["claims.bpmn", "claims.pnml"]
    bpmn = ET.parse(paths[0]).getroot()
    tasks = {e.get("name") for e in bpmn.iter() if e.tag.endswith("}task")}
    assert tasks == {"A", "B", "C", "D"}
    xs = {b.get("x") for b in bpmn.iter() if b.tag.endswith("}Bounds")}
    assert len(xs) > 3  # laid out left to right, not all shapes piled at (0, 0)
    pnml = ET.parse(paths[1]).getroot()
    labels = {t.findtext("name/text") for t in pnml.iter("transition")}
    assert {"A", "B", "C", "D"} <= labels


def test_fold_rare_steps_keeps_the_steps_covering_the_visits():
    visits = pl.DataFrame({"step": ["A", "B", "C", "D", "E"], "visits": [50, 30, 15, 3, 2]})
    assert fold_rare_steps(visits, coverage=0.95) == {"A": "A", "B": "B", "C": "C", "D": OTHER, "E": OTHER}
    assert fold_rare_steps(visits, coverage=0.95, max_steps=2) == {
        "A": "A",
        "B": "B",
        "C": OTHER,
        "D": OTHER,
        "E": OTHER,
    }
    # folding a single step would only rename it: it stays
    assert fold_rare_steps(visits, coverage=0.97) == {s: s for s in "ABCDE"}
    assert fold_rare_steps(visits, coverage=1.0) == {s: s for s in "ABCDE"}


def test_fold_variants_merges_consecutive_rare_steps_and_equal_variants():
    log = variants(
        ("A > X > Y > B", 2, 100.0), ("A > Z > B", 1, 400.0), ("A > B", 5, 50.0), ("A > X > B > Y", 1, 10.0)
    )
    folded = fold_variants(log, {"X": OTHER, "Y": OTHER, "Z": OTHER})
    assert folded.rows() == [
        ("A > other > B", 3, 200.0),
        ("A > B", 5, 50.0),
        ("A > other > B > other", 1, 10.0),
    ]
    assert loops_of(folded) == [("B", "other", 1, 1)]  # other is visited again: counted like any step


def test_build_map_folds_by_default_only_beyond_the_cap():
    steps = [f"S{i:02d}" for i in range(40)]
    log = variants(*[(" > ".join(steps[:10] + [s] + steps[10:12]), 5) for s in steps[12:]])
    result = build_map(log)
    kept = set(result.map_steps["step"]) - {OTHER}
    assert len(kept) == 30 and OTHER in set(result.map_steps["step"])
    assert len(result.folded_steps) == 10
    assert result.main_path[:10] == steps[:10]


def test_start_and_end_steps_rule():
    # 100 cases; open ones included. Ends: C ends 60 of 60 visiting; B ends 10 of 90 (11%: busy
    # step that cases usually continue from); D ends 4 (under 5% of all cases).
    paths = variants(("A > B > C", 60), ("A > B", 10), ("A > B > E", 20), ("X > D", 4), ("A > E", 6))
    found = start_end_steps(paths).select("step", "starts", "ends", "is_start", "is_end").rows()
    assert found == [
        ("A", 96, 0, True, False),
        ("B", 0, 10, False, False),
        ("C", 0, 60, False, True),
        ("D", 0, 4, False, False),
        ("E", 0, 26, False, True),
        ("X", 4, 0, False, False),
    ]


def test_discovery_waits_for_the_background_import_of_pm4py(monkeypatch, tmp_path):
    """discover/refresh start importing pm4py in a thread (discovery.preload) before the load;
    on a small log the flow reaches discovery within that second. Importing pm4py in two
    threads at once can deadlock (Python raised _DeadlockError once in 22 `vsm discover`
    runs of sample_logs/incidents.csv), so discovery and model writing must wait for the
    thread to finish first."""
    import threading

    from pipeline import discovery

    def slow_import(done: list) -> None:
        time.sleep(0.3)
        done.append(True)

    for call in (
        lambda: discovery.discover_model(pl.DataFrame({"steps": ["A > B"], "cases": [2]})),
        lambda: discovery.write_model(
            discovery.discover_model(pl.DataFrame({"steps": ["A"], "cases": [1]})), tmp_path, "s"
        ),
    ):
        done: list = []
        thread = threading.Thread(target=slow_import, args=(done,))
        thread.start()
        monkeypatch.setattr(discovery, "_preloading", thread)
        call()
        assert done == [True]


def test_discovery_loads_only_the_parts_of_pm4py_it_calls_and_pm4py_still_imports_whole():
    """pipeline/discovery.py loads pm4py's packages without their __init__ (which import
    scipy and matplotlib among the rest); a later `import pm4py` elsewhere in the process
    still gives all of pm4py. In a fresh interpreter, the model equals this process's."""
    code = (
        "import sys\n"
        "import polars as pl\n"
        "from pipeline.discovery import discover_model\n"
        "print(discover_model(pl.DataFrame({'steps': ['A > B > D', 'A > C > D', 'A > B > C > D'], "
        "'cases': [5, 3, 1]})).tree)\n"
        "print(sorted(m for m in ('scipy', 'matplotlib', 'pandas') if m in sys.modules))\n"
        "import pm4py\n"
        "print(callable(pm4py.discover_dfg), callable(pm4py.read_xes), 'scipy' in sys.modules)\n"
        # the module discovery loaded with pandas bound on use still takes a pandas frame
        "import pandas as pd\n"
        "from pm4py.util.compression import util\n"
        "print(util.project_univariate(pd.DataFrame({'concept:name': ['A', 'B', 'C'], "
        "'case:concept:name': ['1', '1', '2'], 'time:timestamp': [2, 1, 3]})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    tree, heavy, whole, projected = out.stdout.splitlines()[-4:]
    expected = discover_model(variants(("A > B > D", 5), ("A > C > D", 3), ("A > B > C > D", 1)))
    assert tree == str(expected.tree)
    assert heavy == "[]"  # pandas neither: pm4py's parts name it only in annotations
    assert whole == "True True True"
    assert projected == "[['B', 'A'], ['C']]"  # case 1's events by time
