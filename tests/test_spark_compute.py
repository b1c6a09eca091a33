"""`vsm compute --engine spark`'s publish path (pipeline/engine_spark.py SparkEngine.publish,
spark_compute, stage_store; pipeline/engine.py forget_cases): a stream's results made on
Spark go into the store as a DuckDB compute's do (texts for the case, resource and team
numbers, a runs row), are kept as Parquet with an output folder, and leave no per-case
state, so the next DuckDB compute is full. (Every model on Spark, and `vsm compute --engine
spark --out`: tests/test_spark_parity.py.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb
import pytest

from pipeline.engine import DuckDBEngine, RunRecord, StateRecord
from pipeline.engine_spark import SparkEngine, stage_store
from pipeline.publish import writing
from tests.conftest import vsm_in, write

pytestmark = pytest.mark.xdist_group("spark")

LOG = """case,activity,ts,resource
A,Intake,2026-03-02 08:00:00,ann
A,Review,2026-03-02 09:30:00,bob
A,Close,2026-03-02 10:00:00,ann
B,Intake,2026-03-03 08:00:00,bob
B,Review,2026-03-03 08:45:00,
"""


@pytest.fixture
def project(tmp_path):
    write(tmp_path / "log.csv", LOG)
    done = vsm_in(tmp_path, "discover", "log.csv", "--stream", "s", "--no-png")
    assert done.exit_code == 0, done.output
    return tmp_path


def test_results_made_on_spark_are_published_as_duckdbs_and_the_next_duckdb_compute_is_full(project, spark):
    with writing(project / "vsm.duckdb", 0, "s", lambda _: None) as con:
        spark_publish(project, con, spark)

    # the next DuckDB compute (no --full, nothing changed) is full, and says why
    done = vsm_in(project, "compute", "s", "--no-png")
    assert done.exit_code == 0, done.output
    con = duckdb.connect(str(project / "vsm.duckdb"), read_only=True)
    (message,) = con.sql(
        "SELECT message FROM runs WHERE stream = 's' ORDER BY run_id DESC LIMIT 1"
    ).fetchall()[0]
    assert message.startswith("full recompute (the last compute ran on another engine"), message
    assert con.sql("SELECT count(*) FROM flow_case_state WHERE stream = 's'").fetchall() == [(2,)]
    con.close()


def spark_publish(project, con, spark) -> None:
    stored = con.sql("SELECT * EXCLUDE (stream) FROM visits ORDER BY case_id, seq").fetchall()
    assert [(r[0], r[1]) for r in stored] == [
        ("A", "Intake"),
        ("A", "Review"),
        ("A", "Close"),
        ("B", "Intake"),
        ("B", "Review"),
    ]
    # the flow's numbers for the texts, as its models make them (case_names.sql, owner_names.sql)
    con.execute(
        "CREATE TEMP TABLE flow_case_names AS SELECT 'A' AS case_id, 1 AS case_no UNION ALL SELECT 'B', 2"
    )
    con.execute(
        "CREATE TEMP TABLE flow_owner_names AS SELECT 'ann' AS name, 1 AS owner_no UNION ALL SELECT 'bob', 2"
    )
    con.execute(
        "CREATE TEMP TABLE flow_visits AS SELECT v.* REPLACE (k.case_no AS case_id, o.owner_no AS resource) "
        "FROM visits AS v JOIN flow_case_names AS k USING (case_id) "
        "LEFT JOIN flow_owner_names AS o ON o.name = v.resource"
    )
    engine = SparkEngine(spark.newSession(), store=DuckDBEngine(con), out_dir=project / "out")
    events = stage_store(con, engine, "s", project / "staged")
    assert events == 5
    assert engine.read_arrow("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 5}]
    for name in ("flow_case_names", "flow_owner_names", "flow_visits"):
        engine.register(name, con.sql(f"SELECT * FROM {name}").to_arrow_table())
        con.execute(f"DROP TABLE {name}")
    con.execute("DELETE FROM visits")  # what the store holds now comes from Spark only

    # the decisions as the DuckDB compute made them, but the engine (flow.py)
    (before,) = con.sql("SELECT decisions FROM flow_stream_state WHERE stream = 's'").fetchall()[0]
    decisions = json.loads(before) | {"engine": "spark"}
    # nothing collected to the driver (at 10M events the visits as Arrow overflowed its heap):
    # the relations reach the store as Parquet files Spark writes
    collected = []
    engine.read_arrow = lambda relation, params=None: collected.append(relation)
    engine.publish(
        "s",
        {"visits": "flow_visits"},
        RunRecord("s", "on spark: full recompute (test)", datetime.now(UTC), 5),
        StateRecord(json.dumps(decisions), datetime(2026, 3, 3, 8, 45, tzinfo=UTC), "{}", False, cases=False),
    )
    assert collected == []
    # the files' views are gone from the store's session, the files with them (a local master's
    # go to a temporary folder, not into the output folder)
    for name in ("flow_visits", "flow_case_names", "flow_owner_names"):
        assert con.sql(f"SELECT count(*) FROM duckdb_views() WHERE view_name = '{name}'").fetchall() == [(0,)]
    assert sorted(p.name for p in (project / "out").iterdir()) == ["visits"]
    # the store's rows: the texts back, every value as DuckDB computed it
    assert con.sql("SELECT * EXCLUDE (stream) FROM visits ORDER BY case_id, seq").fetchall() == stored
    # the Parquet partition of the stream: the same rows, texts not numbers
    parquet = con.sql(
        f"SELECT * FROM read_parquet('{project}/out/visits/stream=s/*.parquet', hive_partitioning = false) "
        "ORDER BY case_id, seq"
    ).fetchall()
    assert parquet == stored
    # a runs row with the message; no per-case state; the decisions say spark
    assert con.sql("SELECT message FROM runs WHERE stream = 's' ORDER BY run_id DESC LIMIT 1").fetchall() == [
        ("on spark: full recompute (test)",)
    ]
    for table in ("flow_case_state", "flow_period_state", "flow_lifecycle_state"):
        assert con.sql(f"SELECT count(*) FROM {table} WHERE stream = 's'").fetchall() == [(0,)], table
    (stored_decisions,) = con.sql("SELECT decisions FROM flow_stream_state WHERE stream = 's'").fetchall()[0]
    assert json.loads(stored_decisions) == decisions


def test_to_spark_fixes_what_is_inside_a_hex_cast():
    from pipeline.portable import to_spark

    # case_fingerprints.sql: an md5 digest of the events' values, epoch_us among them, read as hex
    sql = "SELECT CAST('0x' || substr(md5(CAST(epoch_us(ts) AS VARCHAR)), 1, 15) AS BIGINT) AS f FROM t"
    spark_sql = to_spark(sql, {})
    assert "CONV(" in spark_sql.upper() and "UNIX_MICROS(" in spark_sql.upper()
    assert "EPOCH_US" not in spark_sql.upper()


def test_to_spark_keeps_arithmetic_inside_a_concatenation_together(spark):
    from pipeline.portable import to_spark

    # event_findings.sql: '... (' || count(*) - count(step) || ' of ...)': DuckDB subtracts first;
    # Spark reads || as tight as -, so without parentheses it would subtract from the text
    sql = "SELECT 'n (' || 5 - 2 || ' of ' || 2 * 3 || ')' AS detail"
    assert duckdb.sql(sql).fetchall() == [("n (3 of 6)",)]
    assert [tuple(r) for r in spark.sql(to_spark(sql, {})).collect()] == [("n (3 of 6)",)]


def test_to_spark_gives_printf_floating_conversions_a_double(spark):
    from pipeline.portable import to_spark

    # quality_findings.sql: printf('%.1f%%', 100.0 * open / all): a DECIMAL on Spark, which its
    # %f refuses (the job fails); the text as DuckDB writes it
    sql = "SELECT printf('%.1f%% of %,d', 100.0 * 1 / 3, 12345) AS share"
    assert duckdb.sql(sql).fetchall() == [("33.3% of 12,345",)]
    assert [tuple(r) for r in spark.sql(to_spark(sql, {})).collect()] == [("33.3% of 12,345",)]


def test_to_spark_epoch_is_a_double_as_on_duckdb(spark):
    from pipeline.portable import to_spark

    # littles_law.sql: departures / ((epoch(end) - epoch(start)) / 86400): a DECIMAL of 6 places
    # on Spark when epoch() divided by a decimal literal; DuckDB's figure is a DOUBLE
    sql = (
        "SELECT 7 / ((epoch(TIMESTAMPTZ '2026-03-04 00:00:00+00') "
        "- epoch(TIMESTAMPTZ '2026-03-01 00:00:00+00')) / 86400) * 1.5 / 86400 AS x"
    )
    (duck,) = duckdb.sql(sql).fetchall()[0]
    (spark_value,) = spark.sql(to_spark(sql, {})).collect()[0]
    assert isinstance(spark_value, float) and spark_value == pytest.approx(duck, rel=1e-12)
    assert duck == pytest.approx(7 / 3 * 1.5 / 86400, rel=1e-12)


def test_to_spark_avg_is_a_double_as_on_duckdb(spark):
    from pipeline.portable import to_spark

    # stream_summary.sql: avg(CASE WHEN is_first_pass THEN 1.0 ELSE 0.0 END): DuckDB's a DOUBLE,
    # Spark's a DECIMAL of 5 places (0.66667 for 2 of 3)
    sql = "SELECT avg(CASE WHEN x > 0 THEN 1.0 ELSE 0.0 END) AS fpy FROM (VALUES (1), (2), (0)) AS t(x)"
    (duck,) = duckdb.sql(sql).fetchall()[0]
    (spark_value,) = spark.sql(to_spark(sql, {})).collect()[0]
    assert duck == pytest.approx(2 / 3, rel=1e-15)
    assert isinstance(spark_value, float) and spark_value == pytest.approx(duck, rel=1e-15)


def test_to_spark_any_value_with_a_filter_skips_nulls_as_on_duckdb(spark):
    from pipeline.portable import to_spark

    # sla.sql: any_value(w) FILTER (WHERE ...): sqlglot's `ANY_VALUE(w) IGNORE NULLS FILTER(...)`
    # does not parse on Spark; the value of the one row the filter keeps, NULLs skipped
    sql = (
        "SELECT k, any_value(v) FILTER (WHERE f) AS v FROM (VALUES (1, NULL, TRUE), (1, 7, TRUE), "
        "(1, 9, FALSE), (2, 3, FALSE)) AS t(k, v, f) GROUP BY k ORDER BY k"
    )
    assert duckdb.sql(sql).fetchall() == [(1, 7), (2, None)]
    assert [tuple(r) for r in spark.sql(to_spark(sql, {})).collect()] == [(1, 7), (2, None)]


def test_a_subquery_correlated_by_equalities_and_an_inequality_joins_on_the_equalities(spark):
    from pipeline.portable import to_spark

    # sla.sql's stop: the first mark of the case's stop name at or after its start. Spark
    # decorrelates it by joining the marks to the distinct starts alone (a cartesian product,
    # every start with every mark) unless the equalities join too: `(a = b) = TRUE`, the same
    # filter (a NULL key matches nothing, as NULL = x is not TRUE)
    marks = "(VALUES (1, 'x', 5), (1, 'x', 9), (1, 'y', 6), (2, 'x', 1), (2, 'x', 3), (NULL, 'x', 8))"
    sql = (
        f"SELECT s.k, s.stop_name, s.start, (SELECT min(m.ts) FROM {marks} AS m(k, name, ts) WHERE m.k = s.k "
        "AND m.name = s.stop_name AND m.ts >= s.start) AS stop FROM (VALUES (1, 'x', 6), (1, 'y', 0), "
        "(2, 'x', 4), (NULL, 'x', 0), (3, 'x', 0)) AS s(k, stop_name, start) "
        "ORDER BY s.k NULLS LAST, s.stop_name"
    )
    expected = [(1, "x", 6, 9), (1, "y", 0, 6), (2, "x", 4, None), (3, "x", 0, None), (None, "x", 0, None)]
    assert duckdb.sql(sql).fetchall() == expected
    spark_sql = to_spark(sql, {})
    assert "(m.k = s.k) = TRUE AND (m.name = s.stop_name) = TRUE AND m.ts >= s.start" in spark_sql
    frame = spark.sql(spark_sql)
    assert [tuple(r) for r in frame.collect()] == expected
    plan = frame._jdf.queryExecution().executedPlan().toString()
    assert "CartesianProduct" not in plan and "NestedLoopJoin" not in plan, plan
    # an equality alone is pulled up by Spark (no join to the distinct outer values): left as it is
    assert "WHERE m.k = s.k)" in to_spark(
        f"SELECT (SELECT min(m.ts) FROM {marks} AS m(k, name, ts) WHERE m.k = s.k) FROM s"
    )
