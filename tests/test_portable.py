"""pipeline/portable.py: the constructs refused for Spark, one small statement each, and
statements that must pass and transpile to what Spark means the same by."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from pipeline.portable import check, to_spark

REFUSED = [
    ("ASOF join", "SELECT a.k, b.v FROM a ASOF JOIN b ON a.k = b.k AND a.ts >= b.ts"),
    ("generate_series/range as a value", "SELECT k, range(0, n) AS steps FROM t"),
    ("generate_series/range as a value", "SELECT k FROM t WHERE list_contains(generate_series(1, 3), k)"),
    ("HUGEINT/unsigned type", "SELECT CAST(k AS UINTEGER) AS k FROM t"),
    ("HUGEINT/unsigned type", "SELECT CAST(k AS HUGEINT) AS k FROM t"),
    ("HUGEINT/unsigned type", "SELECT CAST(k AS UBIGINT) * 32768 AS k FROM t"),
    ("list(... ORDER BY)", "SELECT k, list(step ORDER BY ts) AS steps FROM t GROUP BY k"),
    ("list() without ORDER BY", "SELECT k, list(step) AS steps FROM t GROUP BY k"),
    ("list() without ORDER BY", "SELECT k, list_sort(list(step)) AS steps FROM t GROUP BY k"),  # NULLs
    ("list slice", "SELECT steps[2:3] AS middle FROM t"),
    ("hash()", "SELECT hash(k) % 8 AS bucket FROM t"),
    ("getvariable()", "SELECT * FROM t WHERE ts < getvariable('vsm_window_to')"),
    ("infinite timestamp", "SELECT * FROM t WHERE ts > CAST('-infinity' AS TIMESTAMPTZ)"),
    ("string_agg without ORDER BY", "SELECT k, string_agg(step, ' > ') AS path FROM t GROUP BY k"),
    ("quantile with a list of fractions", "SELECT quantile_cont(x, [0.5, 0.85]) AS q FROM t"),
    ("product()", "SELECT product(first_pass_yield) AS rolled FROM t"),
]


@pytest.mark.parametrize(("construct", "sql"), REFUSED, ids=[f"{c}-{i}" for i, (c, _) in enumerate(REFUSED)])
def test_each_unportable_construct_is_refused_and_named(construct, sql):
    problems = check(sql)
    assert [p.construct for p in problems] == [construct]
    assert problems[0].rewrite  # every refusal says what to write instead


PORTABLE = [
    "SELECT k, count(*) AS n, sum(x) / count(*) AS mean FROM t WHERE stream = $stream GROUP BY k",
    "SELECT k, string_agg(step, ' > ' ORDER BY ts, step) AS path FROM t GROUP BY k",
    "SELECT k, row_number() OVER (PARTITION BY k ORDER BY ts) AS n FROM t QUALIFY n = 1",
    "SELECT quantile_cont(x, 0.5) AS p50, median(x) AS m FROM t",
    "SELECT g.x FROM generate_series(1, 3) AS g(x)",
    "SELECT t.k FROM t SEMI JOIN u ON u.k = t.k",
    "SELECT epoch(b) - epoch(a) AS seconds FROM t",
    "SELECT CAST(k AS BIGINT) // 2 AS half FROM t",
    "SELECT k, list_sort(list({'a': a, 'b': b}) FILTER (WHERE b > a)) AS spans FROM t GROUP BY k",
]


@pytest.mark.parametrize("sql", PORTABLE)
def test_portable_statements_pass(sql):
    assert check(sql) == []


def test_parameters_are_bound_as_literals_of_their_type():
    as_of = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    sql = to_spark(
        "SELECT * FROM t WHERE stream = $stream AND ts <= $as_of AND step IN (SELECT unnest($steps)) "
        "AND x > $target",
        {"stream": "it's", "as_of": as_of, "steps": ["a", "b"], "target": 1.5},
    )
    assert "'it''s'" in sql or "'it\\'s'" in sql
    assert "CAST('2026-03-01 12:30:00+00:00' AS TIMESTAMP)" in sql
    assert "ARRAY('a', 'b')" in sql
    assert "> 1.5" in sql


def test_epoch_keeps_the_fraction_of_a_second():
    # sqlglot's own Spark text is UNIX_TIMESTAMP(ts): whole seconds
    sql = to_spark("SELECT epoch(ts) AS s FROM t")
    assert "UNIX_TIMESTAMP" not in sql.upper()
    assert "CAST(UNIX_MICROS(CAST(ts AS TIMESTAMP)) AS DOUBLE) / 1000000.0" in sql


def test_default_null_order_is_made_explicit():
    # DuckDB sorts NULLs last by default, Spark first: the transpiled ORDER BY must say so
    sql = to_spark("SELECT k, lag(x) OVER (PARTITION BY k ORDER BY ts) AS prev FROM t ORDER BY x")
    assert sql.count("NULLS LAST") == 2


# What the flow's models still hold that is not portable, per model (the catalogue:
# tests/spark_catalogue.py, its rewrites in tests/spark_catalogue_rewrites.md). The list only
# shrinks: a construct not in a model's entry fails this test, and one rewritten away must be
# taken out of it. A model's alternatives (`<name>__<variant>.sql`) count together.
STILL_UNPORTABLE: dict[str, set[str]] = {}


def test_the_flow_sql_holds_no_unportable_construct_beyond_the_known_ones():
    """Every model of the catalogue (pipeline.models), its macros expanded as the runner
    hands it to an engine, checked."""
    from pipeline.models import load_catalogue

    models = load_catalogue()
    found: dict[str, set[str]] = {}
    for model in models.models:
        if model.path.stem.endswith("__duckdb"):  # the DuckDB engine's own variant (below)
            continue
        for problem in check(models.sql(model)):
            found.setdefault(model.name, set()).add(problem.construct)
    beyond = {n: c - STILL_UNPORTABLE.get(n, set()) for n, c in found.items()}
    assert not {n: c for n, c in beyond.items() if c}, "unportable constructs not in STILL_UNPORTABLE"
    gone = {n: c - found.get(n, set()) for n, c in STILL_UNPORTABLE.items()}
    assert not {n: c for n, c in gone.items() if c}, "rewritten away: take out of STILL_UNPORTABLE"


def test_the_check_reads_every_model_of_the_catalogue():
    # the ratchet above reads the models through the catalogue: a model it did not see could
    # hold anything. Every file under sql/flow but the macros is a model, and its expanded SQL
    # holds no macro call left.
    from pipeline.models import load_catalogue

    models = load_catalogue()
    files = {p.name for p in (Path(__file__).parents[1] / "sql" / "flow").glob("*.sql")} - {"macros.sql"}
    assert {m.path.name for m in models.models} == files
    for model in models.models:
        tree = sqlglot.parse_one(models.sql(model), read="duckdb")
        calls = {f.name.lower() for f in tree.find_all(exp.Func)}
        assert not calls & set(models.macros), model.name


def test_a_hexadecimal_text_as_a_number_is_the_same_number_on_both_engines():
    # the portable digests (case_fingerprints.sql, visit_digests.sql): DuckDB reads '0x...'
    # as hexadecimal; Spark's CAST does not, conv(hex, 16, 10) does
    import hashlib

    import duckdb

    sql = "SELECT CAST('0x' || substr(md5(x), 1, 15) AS BIGINT) AS n FROM t"
    duck = duckdb.sql(sql.replace("FROM t", "FROM (SELECT 'abc' AS x)")).fetchall()[0][0]
    assert duck == int(hashlib.md5(b"abc").hexdigest()[:15], 16)
    spark = to_spark(sql)
    assert "CONV(SUBSTRING(MD5(X), 1, 15), 16, 10)" in spark.upper()
    assert "'0x'" not in spark


def test_an_engine_variant_has_a_portable_twin_and_the_runner_picks_by_engine():
    # `<name>__duckdb.sql` (when: engine = duckdb) may use DuckDB-only SQL; every other engine
    # runs its portable twin (when: engine != duckdb), which the check above reads
    from pipeline.models import Runner, load_catalogue

    models = load_catalogue()
    variants = [m for m in models.models if m.path.stem.endswith("__duckdb")]
    assert variants
    for v in variants:
        assert v.when == "engine = duckdb"
        twins = [m for m in models.models if m.name == v.name and m is not v]
        assert [t.when for t in twins] == ["engine != duckdb"], v.name

    class Named:
        def __init__(self, name):
            self.name = name

    for engine, suffix in (("duckdb", "__duckdb"), ("spark", "")):
        runner = Runner(Named(engine), catalogue=models)
        for v in variants:
            assert runner.active()[v.name].path.stem == v.name.removeprefix("flow_") + suffix
