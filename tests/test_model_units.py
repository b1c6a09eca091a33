"""One model at a time (issue 22: per-model data in, data out): a model of sql/flow run alone
by the DuckDB engine over small input relations given as Arrow, its rows compared with
values worked out by hand. `run_model` materialises exactly the model's SQL as the runner
hands it to an engine (macros expanded), with the variant an engine picks: `engine=
"duckdb"` its own (`<name>__duckdb.sql`) where there is one, else the portable model."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from pipeline.engine import DuckDBEngine
from pipeline.models import catalogue


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def run_model(name: str, inputs: dict[str, pa.Table], params: dict | None = None, variant: str = "duckdb"):
    """The rows of model `name` (as dicts, in the model's order of columns) over `inputs`.
    variant: 'duckdb' (the DuckDB engine's own where it has one) or 'portable'."""
    c = catalogue()
    options = [m for m in c.models if m.name == name]
    own = [m for m in options if m.when == "engine = duckdb"]
    model = own[0] if variant == "duckdb" and own else next(m for m in options if m.when != "engine = duckdb")
    assert set(model.depends_on) <= set(inputs), f"{name} reads {model.depends_on}"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    engine = DuckDBEngine(con)
    for relation, table in inputs.items():
        engine.register(relation, table)
    engine.materialise(name, c.sql(model), {p: (params or {})[p] for p in model.params}, view=model.view)
    return engine.read_arrow(name).to_pylist()


def visits(rows: list[tuple]) -> pa.Table:
    """flow_visits' columns that the models below read: (case_id, seq, step, end_ts, is_rework,
    process_time_s, queue_time_s)."""
    names = ("case_id", "seq", "step", "end_ts", "is_rework", "process_time_s", "queue_time_s")
    columns = list(zip(*rows, strict=True))
    types = (
        pa.int32(),
        pa.int32(),
        pa.string(),
        pa.timestamp("us", "UTC"),
        pa.bool_(),
        pa.float64(),
        pa.float64(),
    )
    return pa.table({n: pa.array(col, type_) for n, col, type_ in zip(names, columns, types, strict=True)})


def exits(rows: list[tuple]) -> pa.Table:
    ids, ts = zip(*rows, strict=True)
    return pa.table(
        {"case_id": pa.array(ids, pa.int32()), "exit_ts": pa.array(ts, pa.timestamp("us", "UTC"))}
    )


def test_case_visits_keep_a_completed_cases_visits_to_its_exit_and_an_open_cases_all():
    # case 1 exits at 11:00: its 12:00 visit (trailing work) is not its; case 2 is open
    v = visits(
        [
            (1, 1, "Intake", t(2, 9), False, 60.0, 0.0),
            (1, 2, "Review", t(2, 11), False, 60.0, 3600.0),
            (1, 3, "Letter", t(2, 12), False, 60.0, 0.0),
            (2, 1, "Intake", t(3, 9), False, 60.0, 0.0),
            (2, 2, "Review", t(3, 15), True, 60.0, 0.0),
        ]
    )
    rows = run_model("flow_case_visits", {"flow_visits": v, "flow_exits": exits([(1, t(2, 11))])})
    assert sorted((r["case_id"], r["seq"]) for r in rows) == [(1, 1), (1, 2), (2, 1), (2, 2)]


def test_first_last_steps_order_the_visits_by_end_then_seq_open_ones_last_in_either_variant():
    # case 1: B (seq 2) ends before A (seq 1), C is still in process: first B, last C;
    # case 2: A and B end at one instant: seq decides, first A, last B;
    # case 3: before 1970 (negative microseconds), F ends before E: first F, last E
    before_1970 = [datetime(1969, 12, 31, h, tzinfo=UTC) for h in (22, 23)]
    v = visits(
        [
            (1, 1, "A", t(2, 10), False, 60.0, 0.0),
            (1, 2, "B", t(2, 9), False, 60.0, 0.0),
            (1, 3, "C", None, False, None, 0.0),
            (2, 1, "A", t(3, 10), False, 60.0, 0.0),
            (2, 2, "B", t(3, 10), False, 60.0, 0.0),
            (3, 1, "E", before_1970[1], False, 60.0, 0.0),
            (3, 2, "F", before_1970[0], False, 60.0, 0.0),
        ]
    )
    expected = [(1, "B", "C"), (2, "A", "B"), (3, "F", "E")]
    for variant in ("duckdb", "portable"):
        rows = run_model("flow_first_last_steps", {"flow_visits": v}, variant=variant)
        assert sorted((r["case_id"], r["first_step"], r["last_step"]) for r in rows) == expected, variant


def test_visit_digests_tell_paths_apart_by_order_and_agree_for_equal_paths():
    # cases 1 and 3 walk A > B, case 2 B > A: the sums over a case's visits (cases_elapsed.sql)
    # are equal for 1 and 3 and differ for 2, with either variant's digests
    v = visits(
        [
            (1, 1, "A", t(2, 9), False, 1.0, 0.0),
            (1, 2, "B", t(2, 10), False, 1.0, 0.0),
            (2, 1, "B", t(2, 9), False, 1.0, 0.0),
            (2, 2, "A", t(2, 10), False, 1.0, 0.0),
            (3, 1, "A", t(3, 9), False, 1.0, 0.0),
            (3, 2, "B", t(3, 10), False, 1.0, 0.0),
        ]
    )
    inputs = {"flow_case_visits": v}
    for variant in ("duckdb", "portable"):
        rows = run_model("flow_visit_digests", inputs, variant=variant)
        sums: dict[int, tuple] = {}
        for r in rows:
            low, high = sums.get(r["case_id"], (0, 0))
            sums[r["case_id"]] = (low + int(r["digest_low"]), high + int(r["digest_high"]))
        assert sums[1] == sums[3] and sums[1] != sums[2], variant
    # the portable digest: the first and next 15 hex digits of md5('<seq>|<step>')
    import hashlib

    row = next(r for r in run_model("flow_visit_digests", inputs, variant="portable") if r["case_id"] == 1)
    digest = hashlib.md5(f"{row['seq']}|{row['step']}".encode()).hexdigest()
    assert (int(row["digest_low"]), int(row["digest_high"])) == (int(digest[:15], 16), int(digest[15:30], 16))


def test_case_sla_gives_the_picks_the_flows_case_numbers():
    # stage_slas registers the picks by case text; the model turns them into case numbers,
    # and a pick of a case the flow does not have (none here) would find no number
    names = pa.table({"case_no": pa.array([1, 2, 3], pa.int32()), "case_id": ["INC1", "INC2", "INC3"]})
    picks = pa.table({"case_id": ["INC3", "INC1"], "sla_no": pa.array([2, 1], pa.int32())})
    rows = run_model("flow_case_sla", {"flow_case_names": names, "flow_case_sla_picks": picks})
    assert sorted((r["case_id"], r["sla_no"]) for r in rows) == [(1, 1), (3, 2)]


def test_cases_elapsed_by_hand():
    # case 1: arrived Mar 2 08:00, exited 11:00 (3 h), visits Intake (60 s, no wait) and Review
    # (60 s after 1 h waiting), one handoff; case 2: open, arrived Mar 3 09:00, quiet since
    # 15:00, a rework visit; as of Mar 5 00:00 with stale_after 1 day (33 h quiet: stale)
    # and a 4 h target (case 1 met it: 3 h; case 2 is past it: 39 h since arrival)
    v = visits(
        [
            (1, 1, "Intake", t(2, 9), False, 60.0, 0.0),
            (1, 2, "Review", t(2, 11), False, 60.0, 3600.0),
            (2, 1, "Intake", t(3, 9), False, 30.0, 0.0),
            (2, 2, "Intake", t(3, 15), True, 30.0, 120.0),
        ]
    )
    digests = pa.Table.from_pylist(run_model("flow_visit_digests", {"flow_case_visits": v}))
    inputs = {
        "flow_arrivals": pa.table(
            {
                "case_id": pa.array([1, 2], pa.int32()),
                "arrival_ts": pa.array([t(2, 8), t(3, 9)], pa.timestamp("us", "UTC")),
                "last_event_ts": pa.array([t(2, 11), t(3, 15)], pa.timestamp("us", "UTC")),
            }
        ),
        "flow_exits": exits([(1, t(2, 11))]),
        "flow_handoff_pairs": pa.table({"case_id": pa.array([1], pa.int32()), "kind": ["handoff"]}),
        "flow_stale_after": pa.table({"stale_after_s": [86400.0]}),
        "flow_visits": v,
        "flow_visit_digests": digests,
    }
    rows = run_model("flow_cases_elapsed", inputs, {"as_of": "2026-03-05 00:00:00+00", "target_s": 4 * 3600})
    one, two = sorted(rows, key=lambda r: r["case_id"])
    assert (one["is_open"], one["lead_time_s"], one["steps"], one["visits"], one["rework_visits"]) == (
        False,
        10800.0,
        "Intake > Review",
        2,
        0,
    )
    assert (one["is_first_pass"], one["handoffs"], one["process_time_s"], one["queue_time_s"]) == (
        True,
        1,
        120.0,
        3600.0,
    )
    assert (one["target_breached"], one["last_step"], one["is_stale"]) == (False, "Review", False)
    assert one["variant_id"] == __import__("hashlib").md5(b"Intake > Review").hexdigest()[:12]
    assert (two["is_open"], two["lead_time_s"], two["steps"], two["variant_id"]) == (True, None, None, None)
    assert (two["visits"], two["rework_visits"], two["is_first_pass"], two["handoffs"]) == (2, 1, False, 0)
    assert (two["target_breached"], two["is_stale"]) == (True, True)
