"""pipeline/engine_spark.py on a local Spark (the session-wide `spark` fixture): inputs from
Arrow, a model materialised from DuckDB-dialect SQL, results as Parquet partitioned by
stream with one stream replaced at a time, events read from the store's Parquet export."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.engine_spark import SparkEngine, export_events, write_results
from pipeline.portable import NotPortableError

pytestmark = pytest.mark.xdist_group("spark")


def t(day: int, hour: int, minute: int = 0, second: float = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, int(second), int(round(second % 1 * 1e6)), tzinfo=UTC)


@pytest.fixture
def engine(spark):
    e = SparkEngine(spark)
    e.set_timezone("UTC")
    return e


def visits() -> pa.Table:
    # two cases; case 1 waits 1.5 s then works 90 s, case 2 ... (worked out below)
    return pa.table(
        {
            "case_id": pa.array([1, 1, 2], pa.uint32()),
            "step": pa.array(["Intake", "Review", "Intake"]).dictionary_encode(),
            "start_ts": [t(1, 8), t(1, 9), t(2, 23, 30)],
            "end_ts": [t(1, 8, 0, 1.5), t(1, 9, 1, 30.25), None],
        }
    )


def test_a_model_is_materialised_from_duckdb_sql_and_read_back(engine):
    engine.register("flow_visits", visits())
    rows = engine.materialise(
        "flow_durations",
        "SELECT case_id, step, epoch(end_ts) - epoch(start_ts) AS process_s, "
        "CAST(date_trunc('day', start_ts) AS DATE) AS day "
        "FROM flow_visits WHERE step <> $skip ORDER BY case_id, step",
        {"skip": "nothing"},
    )
    assert rows is None  # not counted (a second Spark job); Runner.rows counts when asked
    got = engine.read_arrow("flow_durations").to_pylist()
    # the fractions of a second stay (1.5 s, 90.25 s); an open visit has no duration
    assert [(r["case_id"], r["step"], r["process_s"]) for r in got] == [
        (1, "Intake", 1.5),
        (1, "Review", 90.25),
        (2, "Intake", None),
    ]
    assert [r["day"].isoformat() for r in got] == ["2026-03-01", "2026-03-01", "2026-03-02"]


def test_days_are_bucketed_in_the_session_zone(engine):
    # 2 March 23:30 UTC is 3 March in Auckland (UTC+13 in March)
    engine.set_timezone("Pacific/Auckland")
    engine.register("flow_visits", visits())
    got = engine.read_arrow(
        "SELECT CAST(date_trunc('day', start_ts) AS DATE) AS day FROM flow_visits WHERE case_id = 2"
    )
    assert got.column("day").to_pylist()[0].isoformat() == "2026-03-03"


def test_a_model_that_is_not_portable_is_refused_with_its_construct(engine):
    engine.register("flow_visits", visits())
    with pytest.raises(NotPortableError, match="hash"):
        engine.materialise("flow_buckets", "SELECT hash(case_id) % 4 AS b FROM flow_visits", {})


def test_drop_forgets_the_relation(engine, spark):
    engine.register("flow_gone", pa.table({"x": [1]}))
    engine.drop("flow_gone")
    assert not spark.catalog.tableExists("flow_gone")


def test_results_replace_one_streams_partition_and_keep_the_others(engine, tmp_path):
    engine.register("flow_a", pa.table({"step": ["A", "B"], "visits": [3, 4]}))
    write_results(engine, tmp_path, "claims", {"step_metrics": "flow_a"})
    engine.register("flow_b", pa.table({"step": ["X"], "visits": [9]}))
    write_results(engine, tmp_path, "incidents", {"step_metrics": "flow_b"})
    engine.register("flow_a", pa.table({"step": ["A"], "visits": [5]}))  # claims again: replaced
    write_results(engine, tmp_path, "claims", {"step_metrics": "flow_a"})

    folder = tmp_path / "step_metrics"
    assert sorted(p.name for p in folder.iterdir()) == ["stream=claims", "stream=incidents"]
    read = duckdb.sql(
        f"SELECT stream, step, visits FROM read_parquet('{folder}/*/*.parquet', hive_partitioning = true) "
        "ORDER BY stream, step"
    ).fetchall()
    assert read == [("claims", "A", 5), ("incidents", "X", 9)]


def test_a_write_that_fails_leaves_the_old_partition(engine, tmp_path, monkeypatch):
    engine.register("flow_a", pa.table({"step": ["A"], "visits": [1]}))
    write_results(engine, tmp_path, "claims", {"step_metrics": "flow_a"})
    engine.register("flow_bad", pa.table({"step": ["B"], "visits": [2]}))
    with pytest.raises(Exception, match="flow_missing"):  # the second table fails: the first is done
        write_results(engine, tmp_path, "claims", {"step_metrics": "flow_bad", "cases": "flow_missing"})
    engine.register("flow_bad", pa.table({"step": ["C"], "visits": [3]}))

    class Crash(Exception):
        pass

    def crash(self, frame_path):  # the writer dies before anything is renamed
        raise Crash

    monkeypatch.setattr("pyspark.sql.readwriter.DataFrameWriter.parquet", crash)
    with pytest.raises(Crash):
        write_results(engine, tmp_path, "claims", {"step_metrics": "flow_bad"})
    part = tmp_path / "step_metrics" / "stream=claims"
    assert pq.read_table(part).column("step").to_pylist() == ["B"]  # the last complete write


def test_a_partition_left_aside_by_a_crash_between_renames_is_put_back(engine, tmp_path):
    engine.register("flow_a", pa.table({"step": ["A"], "visits": [1]}))
    write_results(engine, tmp_path, "claims", {"step_metrics": "flow_a"})
    folder = tmp_path / "step_metrics"
    (folder / "stream=claims").rename(folder / f".old-claims-{'0' * 32}")  # the crash's state
    engine.register("flow_b", pa.table({"step": ["B"], "visits": [2]}))
    write_results(engine, tmp_path, "other", {"step_metrics": "flow_b"})  # another stream: not touched
    assert not (folder / "stream=claims").exists()
    write_results(engine, tmp_path, "claims", {"step_metrics": "flow_a"})
    assert sorted(p.name for p in folder.iterdir()) == ["stream=claims", "stream=other"]


def test_events_come_from_the_stores_parquet_export(engine, tmp_path):
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE events (event_id UHUGEINT, stream VARCHAR, case_id VARCHAR, activity VARCHAR, "
        "ts TIMESTAMPTZ)"
    )
    big = "CAST('340282366920938463463374607431768211455' AS UHUGEINT)"  # 2^128 - 1: an md5's size
    con.execute(
        f"INSERT INTO events VALUES ({big}, 's', 'c1', 'A', TIMESTAMPTZ '2026-03-01 08:00:00.25+00'), "
        f"({big} - 1, 's', 'c1', 'B', TIMESTAMPTZ '2026-03-01 09:00:00+00'), (1, 'other', 'x', 'A', now())"
    )
    assert export_events(con, "s", tmp_path / "events.parquet") == 2
    engine.events_parquet(tmp_path / "events.parquet")
    got = engine.read_arrow(
        "SELECT case_id, max(epoch(ts)) - min(epoch(ts)) AS lead_s, count(*) AS n "
        "FROM events GROUP BY case_id"
    ).to_pylist()
    assert got == [{"case_id": "c1", "lead_s": 3599.75, "n": 2}]
    ids = engine.read_arrow("SELECT event_id FROM events ORDER BY ts").column("event_id").to_pylist()
    # exact: DuckDB's own Parquet writer would have rounded them to one DOUBLE
    assert ids == ["340282366920938463463374607431768211455", "340282366920938463463374607431768211454"]


def test_a_series_joined_in_from_gives_duckdbs_rows(engine):
    engine.register("flow_w", pa.table({"k": [1, 2, 3], "n": [3, 0, 1]}))
    inclusive = "SELECT w.k, r.i FROM {w} JOIN generate_series(1, w.n) AS r(i) ON TRUE"
    exclusive = "SELECT w.k, r.i FROM {w} CROSS JOIN range(w.k, 3) AS r(i)"
    # by hand: generate_series(1, n) is 1..n, none for n = 0; range(k, 3) is k..2, none for k = 3
    expected = {inclusive: [(1, 1), (1, 2), (1, 3), (3, 1)], exclusive: [(1, 1), (1, 2), (2, 2)]}
    for sql, rows in expected.items():
        got = engine.read_arrow(sql.format(w="flow_w AS w")).to_pylist()
        assert sorted((r["k"], r["i"]) for r in got) == rows
        duck = duckdb.sql(sql.format(w="(VALUES (1, 3), (2, 0), (3, 1)) AS w(k, n)")).fetchall()
        assert sorted(duck) == rows  # the same statement on DuckDB: the same rows


def test_list_sum_means_what_it_means_in_duckdb(engine):
    # DuckDB: the sum of the non-NULL elements; NULL for an empty list or only NULLs
    engine.register("flow_l", pa.table({"k": [1, 2, 3], "l": [[1.5, None, 2.0], [], [None]]}))
    sql = "SELECT k, list_sum(list_transform(l, lambda x: x * 2)) AS s FROM {t} ORDER BY k"
    got = [r["s"] for r in engine.read_arrow(sql.format(t="flow_l")).to_pylist()]
    assert got == [7.0, None, None]
    lists = "(VALUES (1, [1.5, NULL, 2.0]), (2, []::DOUBLE[]), (3, [NULL]::DOUBLE[])) AS v(k, l)"
    assert [float(s) if s is not None else None for _, s in duckdb.sql(sql.format(t=lists)).fetchall()] == got


def test_the_jvm_is_launched_without_a_fork_and_ignores_sigint():
    """pyspark's launch (java_gateway.Popen) inside _gateway_started_without_fork: its
    preexec_fn is not run (a fork of a large process can fail with ENOMEM; subprocess uses
    vfork without one), and the launched command still ignores SIGINT as pyspark wants."""
    import subprocess

    from pyspark import java_gateway

    from pipeline.engine_spark import _gateway_started_without_fork

    def preexec():  # would make the Popen fail if it ran
        raise RuntimeError("preexec_fn ran")

    with _gateway_started_without_fork():
        child = java_gateway.Popen(
            ["sh", "-c", "grep SigIgn /proc/self/status"], stdout=subprocess.PIPE, preexec_fn=preexec
        )
    out, _ = child.communicate(timeout=30)
    assert child.returncode == 0
    ignored = int(out.split()[1], 16)
    assert ignored & (1 << (2 - 1)), f"SIGINT (2) not ignored: SigIgn {out!r}"
    assert java_gateway.Popen is subprocess.Popen  # put back
