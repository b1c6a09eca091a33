"""The flow's statements on DuckDB and on Spark, side by side: the catalogue of what breaks.

    PYTHONPATH=. .venv/bin/python tests/spark_catalogue.py [OUT.md]

For each sample log (claims: an interval log; incidents: a status log) the flow runs on
DuckDB (pipeline.flow.compute_flow, full) with `_run` wrapped: every statement of every
sql/flow file is run as the flow runs it, and, for each CREATE ... AS SELECT, the relations
it reads are snapshot to Arrow before it runs and its result after. The macros (CREATE
MACRO, and seconds_between from flow.py) are expanded into the SELECT with sqlglot and the
session variables (getvariable) replaced by the values they had. Then each SELECT runs on
Spark (local[2]) over the same inputs, transpiled by pipeline/portable.py, and its rows
are compared with DuckDB's (in any order; durations within a microsecond; floats 1e-9
relative). The table says, per statement: transpiles?, runs on Spark?, equal?, and what
pipeline.portable.check says of it. Re-run it after the models are split: it reads the
files as they are.
"""

from __future__ import annotations

import math
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import sqlglot
from sqlglot import exp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pipeline.flow as flow  # noqa: E402
from pipeline import portable  # noqa: E402
from pipeline.store import read_sql  # noqa: E402

SEED_MACROS = {"seconds_between": (["a", "b"], "epoch(b) - epoch(a)", False)}
FAR = {"-infinity": "0001-01-01 00:00:00+00", "infinity": "9999-12-31 23:59:59.999999+00"}
CREATE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?TEMP(?:ORARY)?\s+(TABLE|VIEW)\s+(\w+)\s+AS\s+", re.I | re.S
)


@dataclass
class Entry:
    stream: str
    file: str
    relation: str
    select: str  # DuckDB dialect, macros expanded, variables replaced
    params: dict
    inputs: dict[str, pa.Table]
    output: pa.Table | None
    note: str = ""
    spark: dict = field(default_factory=dict)


class Capture:
    """The wrapped `_run`: statements run as the flow runs them, SELECTs recorded."""

    def __init__(self, stream: str):
        self.stream = stream
        self.macros = dict(SEED_MACROS)  # name -> (params, body sql, is_table)
        self.variables: dict[str, str] = {}  # name -> DuckDB literal SQL
        self.entries: list[Entry] = []

    def run(self, con, name, params=None, folder="flow"):
        sql = read_sql(f"{folder}/{name}.sql")
        for statement in (s for s in sql.split(";\n") if s.strip() and not flow._only_comments(s)):
            used = {k: v for k, v in (params or {}).items() if f"${k}" in statement}
            if folder != "flow":
                con.execute(statement, used or None)
                continue
            self.statement(con, name, statement, used)

    def statement(self, con, file, statement, used):
        body = _strip_comments(statement)
        if re.match(r"\s*CREATE\s+(OR\s+REPLACE\s+)?TEMP\s+MACRO", body, re.I):
            tree = sqlglot.parse_one(body, read="duckdb")
            udf = tree.this
            is_table = isinstance(tree.expression, exp.Query) or " AS TABLE" in body.upper()
            self.macros[udf.this.name.lower()] = (
                [i.name for i in udf.expressions],
                tree.expression.sql(dialect="duckdb"),
                is_table,
            )
            con.execute(statement, used or None)
            return
        m = re.match(r"\s*SET\s+VARIABLE\s+(\w+)", body, re.I)
        if m:
            con.execute(statement, used or None)
            value = con.execute(f"SELECT CAST(getvariable('{m[1]}') AS VARCHAR)").fetchall()[0][0]
            # the open bounds of the whole history are DuckDB's infinities, which Spark has not:
            # the trial takes the portable rewrite (the catalogue's int_window row says so)
            value = FAR.get(value, value)
            self.variables[m[1].lower()] = f"CAST('{value}' AS TIMESTAMPTZ)"
            return
        created = CREATE.match(body)
        if not created:
            con.execute(statement, used or None)
            return
        relation = created[2]
        select = body[created.end() :]
        expanded = self.expand(select)
        inputs = {}
        for table in _tables(expanded):
            try:
                inputs[table] = con.execute(f"SELECT * FROM {table}").to_arrow_table()
            except Exception:  # a table function or a name DuckDB resolves otherwise
                pass
        con.execute(statement, used or None)
        output = con.execute(f"SELECT * FROM {relation}").to_arrow_table()
        self.entries.append(Entry(self.stream, f"{file}.sql", relation, expanded, used, inputs, output))

    def query(self, con, file, sql, params):
        """A SELECT file the flow reads with query_frame (int_step_ends, int_activities)."""
        expanded = self.expand(_strip_comments(sql))
        inputs = {t: con.execute(f"SELECT * FROM {t}").to_arrow_table() for t in _tables(expanded)}
        output = con.execute(sql, params or None).to_arrow_table()
        used = {k: v for k, v in (params or {}).items() if f"${k}" in sql}
        self.entries.append(
            Entry(self.stream, f"{file}.sql", f"(read) {file}", expanded, used, inputs, output)
        )

    def expand(self, sql: str) -> str:
        tree = sqlglot.parse_one(sql, read="duckdb")
        for _ in range(10):
            changed = [False]

            def one(node, changed=changed):
                if isinstance(node, exp.Anonymous) and node.name.lower() == "getvariable":
                    changed[0] = True
                    return sqlglot.parse_one(self.variables[node.expressions[0].name.lower()], read="duckdb")
                if isinstance(node, exp.Table) and isinstance(node.this, exp.Anonymous):
                    call = node.this
                    if call.name.lower() in self.macros:
                        changed[0] = True
                        body = self.body(call.name.lower(), call.expressions)
                        alias = node.alias or call.name
                        return exp.Subquery(this=body, alias=exp.TableAlias(this=exp.to_identifier(alias)))
                if isinstance(node, exp.Anonymous) and node.name.lower() in self.macros:
                    changed[0] = True
                    body = self.body(node.name.lower(), node.expressions)
                    return exp.Subquery(this=body) if isinstance(body, exp.Query) else exp.Paren(this=body)
                return node

            tree = tree.transform(one)
            if not changed[0]:
                break
        return tree.sql(dialect="duckdb")

    def body(self, name: str, args: list[exp.Expression]) -> exp.Expression:
        names, body_sql, _ = self.macros[name]
        body = _hygienic(sqlglot.parse_one(body_sql, read="duckdb"), f"{name}_")
        values = dict(zip([n.lower() for n in names], args, strict=False))

        def sub(node):
            if isinstance(node, exp.Column) and not node.table and node.name.lower() in values:
                return exp.Paren(this=values[node.name.lower()].copy())
            return node

        return body.transform(sub)


def _hygienic(body: exp.Expression, prefix: str) -> exp.Expression:
    """The macro body with its lambda parameters renamed (x -> calendar_w_x): expanded into a
    caller whose table alias is also x (fct_cases_business: calendar_w(x.cum_s, ...)), x.hour
    would otherwise read the lambda's struct. DuckDB binds macro arguments before the body;
    a text expansion must rename (the runner's expander needs the same)."""
    for lam in list(body.find_all(exp.Lambda)):
        params = {p.name for p in lam.expressions}

        def rename(n, params=params):  # before the arguments go in, an x in the lambda is its own
            return (
                exp.to_identifier(prefix + n.name)
                if isinstance(n, exp.Identifier) and n.name in params
                else n
            )

        lam.replace(lam.transform(rename))
    return body


def _strip_comments(statement: str) -> str:
    return "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--"))


def _tables(sql: str) -> list[str]:
    tree = sqlglot.parse_one(sql, read="duckdb")
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    names = []
    for t in tree.find_all(exp.Table):
        if isinstance(t.this, exp.Identifier) and t.name.lower() not in ctes and t.name not in names:
            names.append(t.name)
    return names


def capture_stream(folder: Path, log: Path, stream: str) -> list[Entry]:
    from contextlib import chdir

    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.settings import load_settings
    from pipeline.store import open_store

    with chdir(folder):
        done = CliRunner().invoke(app, ["discover", str(log), "--stream", stream, "--no-png"])
        if done.exit_code != 0:
            done = CliRunner().invoke(app, ["discover", str(log), "--stream", stream])
        assert done.exit_code == 0, done.output
        settings = load_settings(stream, folder / "streams")
        capture = Capture(stream)
        original_run, original_query = flow._run, flow.query_frame

        def query_frame(con, sql, params=None):
            for file in ("int_step_ends", "int_activities"):
                if sql == read_sql(f"flow/{file}.sql"):
                    capture.query(con, file, sql, params)
            return original_query(con, sql, params)

        flow._run, flow.query_frame = capture.run, query_frame
        con = open_store(folder / "vsm.duckdb")
        try:
            flow.compute_flow(con, settings, full=True)
        finally:
            flow._run, flow.query_frame = original_run, original_query
            con.close()
    for e in capture.entries:
        e.params["_timezone"] = settings.timezone
    return capture.entries


def run_on_spark(engine, entries: list[Entry]) -> None:
    registered: dict[str, pa.Table] = {}
    for e in entries:
        engine.set_timezone(e.params["_timezone"])
        params = {k: v for k, v in e.params.items() if not k.startswith("_")}
        e.spark["problems"] = portable.check(e.select)
        try:
            text = portable.to_spark(e.select, params)
            e.spark["transpiles"] = True
            e.spark["sql"] = text
        except Exception as error:
            e.spark["transpiles"] = False
            e.spark["error"] = _first(error)
            continue
        try:
            for name, table in e.inputs.items():
                if name not in registered or not registered[name].equals(table):
                    engine.register(name, table)
                    registered[name] = table
            started = time.perf_counter()
            got = engine.spark.sql(text).toArrow()
            e.spark["seconds"] = time.perf_counter() - started
            e.spark["runs"] = True
        except Exception as error:
            e.spark["runs"] = False
            e.spark["error"] = _first(error)
            continue
        e.spark["equal"], e.spark["diff"] = compare(e.output, got)


def _first(error: Exception) -> str:
    text = str(error).strip().splitlines()
    text = [t for t in text if t.strip()]
    return (type(error).__name__ + ": " + (text[0] if text else ""))[:300]


def compare(duck: pa.Table, spark: pa.Table) -> tuple[bool, str]:
    """Rows equal in any order: timestamps as UTC instants, durations within a microsecond,
    other floats within 1e-9 relative."""
    dcols = [c.lower() for c in duck.column_names]
    scols = [c.lower() for c in spark.column_names]
    order_note = ""
    if dcols != scols and sorted(dcols) == sorted(scols):  # Spark puts USING keys first
        spark = spark.select([spark.column_names[scols.index(c)] for c in dcols])
        order_note = "column order differs (JOIN ... USING keys first on Spark); "
    elif dcols != scols:
        return False, f"columns differ: duckdb {dcols} spark {scols}"
    if duck.num_rows != spark.num_rows:
        return False, f"rows: duckdb {duck.num_rows}, spark {spark.num_rows}"
    drows = sorted((_row(r) for r in _instants(duck).to_pylist()), key=_key)
    srows = sorted((_row(r) for r in _instants(spark).to_pylist()), key=_key)
    bad = Counter()
    example = ""
    for a, b in zip(drows, srows, strict=True):
        for col, x, y in zip(dcols, a, b, strict=True):
            if not _same(x, y):
                bad[col] += 1
                if not example:
                    example = f"{col}: duckdb {x!r} spark {y!r}"
    if bad:
        return False, f"{order_note}values differ in {dict(bad)}; e.g. {example}"
    return (False, order_note + "values equal") if order_note else (True, "")


def _instants(table: pa.Table) -> pa.Table:
    """Timestamps as microseconds since the epoch (UTC): comparable whatever their zone, and
    DuckDB's infinities (outside Python's datetime) stay numbers."""
    columns = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_dictionary(kind):
            column, kind = column.cast(kind.value_type), kind.value_type
        if pa.types.is_timestamp(kind):
            column = column.cast(pa.timestamp("us", kind.tz)).cast(pa.int64())
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def _row(record: dict) -> tuple:
    return tuple(_norm(v) for v in record.values())


def _norm(v):
    if isinstance(v, datetime):
        return v.astimezone(UTC) if v.tzinfo else v.replace(tzinfo=UTC)
    if isinstance(v, list):
        return tuple(_norm(x) for x in v)
    if isinstance(v, dict):
        return tuple((k, _norm(x)) for k, x in v.items())
    if hasattr(v, "total_seconds"):
        return v.total_seconds()
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if type(v).__name__ == "Decimal":
        return float(v)
    return v


def _key(row: tuple):
    return tuple((x is None, round(x, 3) if isinstance(x, float) else str(x)) for x in row)


def _same(x, y) -> bool:
    if isinstance(x, float) or isinstance(y, float):
        if x is None or y is None or isinstance(x, str) or isinstance(y, str):
            return x == y
        return math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-6)
    if isinstance(x, tuple) and isinstance(y, tuple):
        return len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y, strict=True))
    return x == y


# Hand-kept beside this script: what each failure is, and its portable rewrite (update it
# after a re-run).
REWRITES = Path(__file__).with_name("spark_catalogue_rewrites.md")


def render(entries: list[Entry], start_s: float) -> str:
    lines = [
        "# Catalogue: the flow's statements on DuckDB and on Spark",
        "",
        f"Produced by `tests/spark_catalogue.py` ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, sqlglot "
        f"{sqlglot.__version__}), Spark session start {start_s:.1f} s. Each CREATE ... AS SELECT of "
        "sql/flow (main, before the split), macros expanded, run on DuckDB in the flow and on Spark "
        "(local[2]) over the same inputs; `check` is pipeline.portable.check's verdict.",
        "",
        "| stream | file | relation | check | transpiles | runs on Spark | equal | what |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for e in entries:
        s = e.spark
        problems = s.get("problems", [])
        what = s.get("error") or s.get("diff") or ""
        lines.append(
            f"| {e.stream} | {e.file} | {e.relation} | "
            f"{'; '.join(p.construct for p in problems) or 'ok'} | "
            f"{_yn(s.get('transpiles'))} | {_yn(s.get('runs'))} | {_yn(s.get('equal'))} | "
            f"{_cell(what)} |"
        )
    counts = Counter(
        "equal" if e.spark.get("equal") else ("differs" if e.spark.get("runs") else "fails") for e in entries
    )
    lines += [
        "",
        f"{len(entries)} statements: {counts['equal']} equal on Spark, {counts['differs']} run but differ, "
        f"{counts['fails']} fail (to transpile or to run). The SQL of each, DuckDB then Spark, is in "
        "the `.sql.md` file beside this one.",
    ]
    return "\n".join(lines) + "\n" + REWRITES.read_text()


def _yn(v) -> str:
    return "yes" if v is True else ("NO" if v is False else "-")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:260]


def main(out: Path) -> None:
    from pipeline.engine_spark import SparkEngine, SparkSettings, start_session

    with tempfile.TemporaryDirectory() as tmp:
        entries = []
        for log, stream in (("claims.csv", "claims"), ("incidents.csv", "incidents")):
            folder = Path(tmp) / stream
            folder.mkdir()
            entries += capture_stream(folder, ROOT / "sample_logs" / log, stream)
        started = time.perf_counter()
        engine = SparkEngine(start_session(SparkSettings(master="local[2]", shuffle_partitions=2)))
        start_s = time.perf_counter() - started
        run_on_spark(engine, entries)
        out.write_text(render(entries, start_s))
        detail = out.with_suffix(".sql.md")
        detail.write_text(
            "\n".join(
                f"## {e.stream} {e.file} {e.relation}\n\n"
                f"error: {e.spark.get('error') or e.spark.get('diff') or '-'}"
                f"\n\n```sql\n{e.select}\n```\n\n```sql\n{e.spark.get('sql', '')}\n```\n"
                for e in entries
            )
        )
        engine.spark.stop()
    print(f"{len(entries)} statements -> {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/notes/s6/h22s-catalogue.md"))
