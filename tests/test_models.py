"""The flow's declared models, their runner and the DuckDB engine (pipeline/models.py,
pipeline/engine.py; issue 22)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from pipeline import models
from pipeline.engine import DuckDBEngine
from pipeline.flow import RESULTS
from pipeline.models import CatalogueError, Runner, expand_macros, load_catalogue, parse_macros
from tests.logs import load_log


def test_every_models_depends_on_is_what_its_select_reads():
    """The header's depends_on equals the relations the SELECT reads (after macro expansion:
    sqlglot's table references less the CTEs), and params the $parameters it binds."""
    cat = models.catalogue()
    assert len(cat.models) > 60
    for m in cat.models:
        sql = models.model_sql(m)
        assert set(m.depends_on) == models.reads(sql) - {m.name}, m.where
        assert set(m.params) == models.used_params(sql), m.where


def test_every_result_table_has_a_model_that_publishes_it_or_a_python_step():
    cat = models.catalogue()
    published = {m.published_as: m.name for m in cat.models if m.published_as}
    python_made = {"status_classes", "map_steps", "rework_loops", "decision_points"}
    assert set(published) == set(RESULTS) - python_made
    assert all(RESULTS[table] == name for table, name in published.items())


def test_every_model_is_one_query():
    for m in models.catalogue().models:
        tree = sqlglot.parse_one(models.model_sql(m), read="duckdb")
        assert isinstance(tree, exp.Query), m.where


def parsed_expansion(sql: str, macros: dict) -> exp.Expression:
    """The reference the runner's text splice is held to: the model parsed, each macro call
    (a function node) replaced by its parsed body in parentheses, the body's columns named
    after a parameter by the parsed argument in parentheses and its lambda parameters renamed
    (<macro>_<name>), to a fixed point."""

    def body(macro, args):
        tree = sqlglot.parse_one(macro.body, read="duckdb")
        for lam in list(tree.find_all(exp.Lambda)):
            names = {p.name for p in lam.expressions}
            lam.replace(
                lam.transform(
                    lambda n, names=names: (
                        exp.to_identifier(f"{macro.name}_{n.name}")
                        if isinstance(n, exp.Identifier) and n.name in names
                        else n
                    )
                )
            )
        bound = dict(zip(macro.args, args, strict=True))
        return tree.transform(
            lambda n: (
                exp.Paren(this=bound[n.name].copy())
                if isinstance(n, exp.Column) and not n.table and n.name in bound
                else n
            )
        )

    tree = sqlglot.parse_one(sql, read="duckdb")
    for _ in range(1000):
        calls = [n for n in tree.find_all(exp.Anonymous) if n.name.lower() in macros]
        if not calls:
            return tree
        call = calls[0]
        replacement = exp.Paren(this=body(macros[call.name.lower()], call.expressions))
        if call is tree:
            tree = replacement
        else:
            call.replace(replacement)
    raise AssertionError("macros call each other without end")


def test_every_models_macro_expansion_parses_as_the_parsed_substitution():
    cat = models.catalogue()
    expanded = 0
    for m in cat.models:
        ours = sqlglot.parse_one(models.model_sql(m), read="duckdb")
        reference = parsed_expansion(m.sql, cat.macros)
        assert ours.sql("duckdb", comments=False) == reference.sql("duckdb", comments=False), m.where
        expanded += models.model_sql(m) != m.sql
    assert expanded > 15  # the check ran on models that call macros


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


@pytest.fixture
def folder(tmp_path):
    write(tmp_path, "macros.sql", "-- macro: twice(x)\nx * 2\n")
    write(tmp_path, "a.sql", "-- name: flow_a\n-- grain: row\nSELECT 1 AS n\n")
    return tmp_path


def test_a_file_without_a_header_is_refused_with_its_file_and_line(folder):
    write(folder, "b.sql", "-- just a comment\nSELECT 1\n")
    with pytest.raises(CatalogueError, match=r"b\.sql:1: not a model: its header has no '-- name"):
        load_catalogue(folder)


def test_a_header_key_given_twice_is_refused_at_its_line(folder):
    write(folder, "b.sql", "-- name: flow_b\n-- grain: row\n-- grain: case\nSELECT 1\n")
    with pytest.raises(CatalogueError, match=r"b\.sql:3: header key 'grain' given twice"):
        load_catalogue(folder)


def test_a_duplicate_name_is_refused(folder):
    write(folder, "a__again.sql", "-- name: flow_a\n-- grain: row\nSELECT 2 AS n\n")
    with pytest.raises(CatalogueError, match=r"a__again\.sql:1: model 'flow_a' is also made by .*a\.sql"):
        load_catalogue(folder)


def test_an_unknown_dependency_is_refused(folder):
    write(folder, "b.sql", "-- name: flow_b\n-- grain: row\n-- depends_on: flow_nowhere\nSELECT 1\n")
    with pytest.raises(CatalogueError, match=r"b\.sql:1: depends_on names 'flow_nowhere'"):
        load_catalogue(folder)


def test_a_cycle_is_refused(folder):
    write(folder, "b.sql", "-- name: flow_b\n-- grain: row\n-- depends_on: flow_c\nSELECT * FROM flow_c\n")
    write(folder, "c.sql", "-- name: flow_c\n-- grain: row\n-- depends_on: flow_b\nSELECT * FROM flow_b\n")
    with pytest.raises(CatalogueError, match=r"cycle: flow_(b|c) -> flow_(b|c) -> flow_\1"):
        load_catalogue(folder)


def test_ddl_in_a_model_is_refused(folder):
    write(folder, "b.sql", "-- name: flow_b\n-- grain: row\nCREATE TABLE x AS SELECT 1\n")
    with pytest.raises(CatalogueError, match=r"b\.sql:3: a model is one SELECT"):
        load_catalogue(folder)


def test_a_model_lives_in_the_file_of_its_name(folder):
    write(folder, "b.sql", "-- name: flow_other\n-- grain: row\nSELECT 1\n")
    with pytest.raises(CatalogueError, match=r"lives in other\.sql"):
        load_catalogue(folder)


def run_sql(sql: str):
    return duckdb.connect().execute(sql).fetchall()


def test_macros_expand_with_their_arguments_substituted_and_nested(tmp_path):
    write(
        tmp_path,
        "macros.sql",
        "-- macro: twice(x)\nx * 2\n\n-- macro: twice_plus(x, y)\n-- a comment line\ntwice(x) + y\n",
    )
    macros = parse_macros(tmp_path / "macros.sql")
    assert macros["twice_plus"].body == "twice(x) + y"
    sql = expand_macros("SELECT twice_plus(1 + 2, 10) AS v", macros)
    assert "twice" not in sql.lower()
    assert run_sql(sql) == [(16,)]  # (1 + 2) * 2 + 10: the argument is one term


def test_an_argument_reads_the_callers_columns_inside_a_macros_subquery():
    """case_name(arg_max(case_id, ...)): expanded into the macro's subquery, the argument's
    case_id is still the caller's (the macro renames the names' columns)."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE flow_case_names AS "
        "SELECT * FROM (VALUES (1::UINTEGER, 'A'), (2, 'B')) t(case_no, case_id)"
    )
    con.execute("CREATE TABLE v AS SELECT * FROM (VALUES (1::UINTEGER, 9), (2, 5)) t(case_id, ts)")
    sql = expand_macros("SELECT case_name(arg_min(case_id, ts)) AS example FROM v", models.catalogue().macros)
    assert con.execute(sql).fetchall() == [("B",)]


def folder_catalogue(folder: Path):
    write(
        folder,
        "base.sql",
        "-- name: flow_base\n-- grain: row\n-- params: n\nSELECT CAST($n AS INTEGER) AS n\n",
    )
    write(
        folder,
        "mid.sql",
        "-- name: flow_mid\n-- grain: row\n-- depends_on: flow_base\nSELECT twice(n) AS n FROM flow_base\n",
    )
    write(
        folder,
        "top__odd.sql",
        "-- name: flow_top\n-- grain: row\n-- depends_on: flow_mid\n-- when: parity = odd\n"
        "SELECT n + 1 AS n FROM flow_mid\n",
    )
    write(
        folder,
        "top__even.sql",
        "-- name: flow_top\n-- grain: row\n-- depends_on: flow_mid\n-- when: parity = even\n"
        "-- materialise: view\nSELECT n FROM flow_mid\n",
    )
    write(
        folder,
        "other.sql",
        "-- name: flow_other\n-- grain: row\n-- depends_on: flow_base\nSELECT * FROM flow_base\n",
    )
    return load_catalogue(folder)


def test_the_runner_runs_what_a_target_needs_in_order_and_times_it(folder):
    con = duckdb.connect()
    runner = Runner(
        DuckDBEngine(con), {"parity": "odd"}, keep={"flow_top"}, catalogue=folder_catalogue(folder)
    )
    runner.run("flow_top", params={"n": 3, "unused": 1})
    assert [t.model for t in runner.timings] == ["flow_base", "flow_mid", "flow_top"]
    assert [t.rows for t in runner.timings] == [1, 1, 1]
    assert con.execute("SELECT n FROM flow_top").fetchall() == [(7,)]  # 3 * 2 + 1
    # flow_other (not needed) did not run; flow_mid, read by nothing else, was freed;
    # flow_base is kept: flow_other, a model of this compute, reads it
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert tables == {"flow_base", "flow_top"}


def test_when_picks_the_alternative_and_a_view_stays_a_view(folder):
    con = duckdb.connect()
    runner = Runner(
        DuckDBEngine(con), {"parity": "even"}, keep={"flow_top"}, catalogue=folder_catalogue(folder)
    )
    runner.run("flow_top", params={"n": 3})
    assert con.execute("SELECT n FROM flow_top").fetchall() == [(6,)]
    assert runner.timings[-1].rows is None  # a view
    kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = 'flow_top'")
    assert kind.fetchall() == [("VIEW",)]
    # flow_mid is read by the view only: it stays while the view does
    assert con.execute("SELECT count(*) FROM flow_mid").fetchall() == [(1,)]


def test_what_a_view_read_goes_once_the_view_is_read(folder):
    # flow_first (a table) -> flow_middle (a view) -> flow_last (a table): once flow_last is
    # built, the view goes, and so does the table under it, read by nothing else
    write(folder, "first.sql", "-- name: flow_first\n-- grain: row\nSELECT 2 AS n\n")
    write(
        folder,
        "middle.sql",
        "-- name: flow_middle\n-- grain: row\n-- depends_on: flow_first\n-- materialise: view\n"
        "SELECT n + 1 AS n FROM flow_first\n",
    )
    write(
        folder,
        "last.sql",
        "-- name: flow_last\n-- grain: row\n-- depends_on: flow_middle\nSELECT n * 2 AS n FROM flow_middle\n",
    )
    con = duckdb.connect()
    runner = Runner(DuckDBEngine(con), keep={"flow_last"}, catalogue=load_catalogue(folder))
    runner.run("flow_last")
    assert con.execute("SELECT n FROM flow_last").fetchall() == [(6,)]
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert tables == {"flow_last"}


def test_a_missing_parameter_is_named(folder):
    runner = Runner(DuckDBEngine(duckdb.connect()), {"parity": "odd"}, catalogue=folder_catalogue(folder))
    with pytest.raises(CatalogueError, match="parameters not given: n"):
        runner.run("flow_top", params={})


def test_a_dictionary_column_is_an_enum_in_text_order_in_duckdb():
    con = duckdb.connect()
    names = pa.array(["b", "a", "B"]).dictionary_encode()
    DuckDBEngine(con).register("flow_x", pa.table({"name": names, "n": [1, 2, 3]}))
    assert con.execute("SELECT typeof(name) FROM flow_x LIMIT 1").fetchall() == [("ENUM('B', 'a', 'b')",)]
    assert con.execute("SELECT CAST(name AS VARCHAR) FROM flow_x ORDER BY name").fetchall() == [
        ("B",),
        ("a",),
        ("b",),
    ]


def test_read_arrow_reads_a_relation_or_a_query():
    con = duckdb.connect()
    engine = DuckDBEngine(con)
    assert engine.materialise("flow_x", "SELECT range AS n FROM range(3)", {}) == 3
    assert engine.read_arrow("flow_x").column("n").to_pylist() == [0, 1, 2]
    assert engine.read_arrow("SELECT max(n) AS m FROM flow_x WHERE n < $k", {"k": 2}).to_pylist() == [
        {"m": 1}
    ]
    engine.drop("flow_x")
    engine.drop("flow_x")  # dropping what is not there is a no-op
    assert con.execute("SELECT count(*) FROM information_schema.tables").fetchall() == [(0,)]


def test_the_compute_keeps_its_per_model_timings(store, tmp_path):
    """FlowResult.timings: one entry per model run (VSM_PROFILE prints them)."""
    log = "case_id,activity,timestamp\nc1,A,2026-03-02 09:00\nc1,B,2026-03-02 10:00\nc2,A,2026-03-02 11:00\n"
    result = load_log(store, tmp_path, log)[1]
    names = [t.model for t in result.timings]
    assert len(names) == len(set(names))  # each model once
    assert names.index("flow_events") < names.index("flow_visits") < names.index("flow_cases")
    assert "flow_sla" in names and "flow_status_keys" not in names  # a point log: no status models
    assert next(t.rows for t in result.timings if t.model == "flow_events") == 3


def test_vsm_profile_prints_each_models_time_and_rows(store, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VSM_PROFILE", "1")
    log = "case_id,activity,timestamp\nc1,A,2026-03-02 09:00\nc1,B,2026-03-02 10:00\n"
    result = load_log(store, tmp_path, log)[1]
    err = capsys.readouterr().err
    assert f"models: {len(result.timings)}," in err
    assert re.search(r"flow_events +[0-9.]+ s +2 rows", err)


def test_a_macro_argument_naming_a_lambda_parameter_reads_the_callers_column():
    # calendar_w(x.cum_s, ..., x.hour, ts) in cases.sql: the macro's `lambda x:` must not
    # capture the caller's alias x (the runner renames the lambda's parameter first)
    import duckdb

    from pipeline.models import Macro, expand_macros

    macros = {"plus_all": Macro("plus_all", ("l", "h"), "list_sum(list_transform(l, lambda x: x + h))")}
    sql = expand_macros("SELECT plus_all(x.l, x.h) AS s FROM (SELECT [1, 2] AS l, 10 AS h) AS x", macros)
    assert "lambda x" not in sql.lower()
    assert duckdb.sql(sql).fetchall() == [(23,)]  # (1 + 10) + (2 + 10)


def test_a_relation_of_the_name_is_replaced_whoever_made_it():
    # the engine drops only what is there: what it made itself, or one made before it on the
    # connection (a table where a view comes, and the other way round)
    con = duckdb.connect()
    con.execute("CREATE TEMP VIEW flow_x AS SELECT 1 AS n")
    con.execute("CREATE TEMP TABLE flow_y AS SELECT 1 AS n")
    engine = DuckDBEngine(con)
    assert engine.materialise("flow_x", "SELECT 2 AS n UNION ALL SELECT 3", {}) == 2
    assert engine.materialise("flow_y", "SELECT 4 AS n", {}, view=True) is None
    assert con.execute("SELECT n FROM flow_x ORDER BY n").fetchall() == [(2,), (3,)]
    assert con.execute("SELECT n FROM flow_y").fetchall() == [(4,)]
    assert engine.materialise("flow_x", "SELECT 5 AS n", {}) == 1
    engine.register("flow_y", pa.table({"n": [6, 7]}))
    assert con.execute("SELECT n FROM flow_y ORDER BY n").fetchall() == [(6,), (7,)]
    with pytest.raises(duckdb.CatalogException, match="does not exist"):
        engine.materialise("flow_z", "SELECT * FROM flow_nowhere", {})
