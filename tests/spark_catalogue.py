"""The flow's models on DuckDB and on Spark, side by side: the catalogue of what breaks.

    PYTHONPATH=. .venv/bin/python tests/spark_catalogue.py [OUT.md]

For each sample log (claims: an interval log; incidents: a status log) the flow runs on
DuckDB (pipeline.flow.compute_flow, full) with the engine's `materialise` wrapped: every model
the runner materialises (its SQL as the runner hands it to an engine: macros expanded,
$parameters unbound) is recorded with the relations it reads (snapshot to Arrow before it
runs) and its rows after. A model the DuckDB engine runs in its own variant
(`<name>__duckdb.sql`) is recorded as its portable twin, run on DuckDB over the same inputs.
Then each model runs on Spark (local[2]) over the same inputs, transpiled by
pipeline/portable.py, and its rows are compared with DuckDB's (in any order; durations within
a microsecond; floats 1e-9 relative). The table says, per model: transpiles?, runs on Spark?,
equal?, and what pipeline.portable.check says of it.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import sqlglot

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import engine as engine_module  # noqa: E402
from pipeline import portable  # noqa: E402
from pipeline.models import catalogue, reads  # noqa: E402


@dataclass
class Entry:
    stream: str
    file: str
    relation: str
    select: str  # DuckDB dialect, macros expanded, $parameters unbound
    params: dict
    inputs: dict[str, pa.Table]
    output: pa.Table | None
    note: str = ""
    spark: dict = field(default_factory=dict)


class Capture:
    """The wrapped DuckDBEngine.materialise: each model recorded as the runner runs it."""

    def __init__(self, stream: str):
        self.stream = stream
        self.entries: list[Entry] = []
        self.models = catalogue()
        # the portable twin of each DuckDB variant (what every other engine runs)
        self.twins = {m.name: m for m in self.models.models if m.when and "engine != duckdb" in m.when}

    def materialise(self, original, engine, name, sql, params, view=False):
        con = engine.con
        model = next((m for m in self.models.models if m.name == name and self.models.sql(m) == sql), None)
        select, note, file = sql, "", model.path.name if model else "?"
        if model is not None and model.path.stem.endswith("__duckdb") and name in self.twins:
            twin = self.twins[name]
            select, file = self.models.sql(twin), twin.path.name
            note = f"the portable twin of {model.path.name} (DuckDB runs the variant)"
        inputs = {}
        for table in sorted(reads(select)):
            try:
                inputs[table] = con.execute(_snapshot_sql(con, table)).to_arrow_table()
            except Exception:  # a table function or a name DuckDB resolves otherwise
                pass
        rows = original(engine, name, sql, params, view)
        used = {k: v for k, v in (params or {}).items() if f"${k}" in select}
        if select is sql:
            output = con.execute(f"SELECT * FROM {name}").to_arrow_table()
        else:
            output = con.execute(select, used or None).to_arrow_table()
        self.entries.append(Entry(self.stream, file, name, select, used, inputs, output, note))
        return rows


def _snapshot_sql(con, table: str) -> str:
    """The relation as Spark gets it from the store (engine_spark.export_events): a 128-bit
    integer (events.event_id) as its decimal text, since DuckDB hands it to Arrow as a DOUBLE."""
    columns = con.execute(f"DESCRIBE {table}").fetchall()
    select = [
        f'CAST("{c[0]}" AS VARCHAR) AS "{c[0]}"' if c[1] in ("HUGEINT", "UHUGEINT") else f'"{c[0]}"'
        for c in columns
    ]
    return f"SELECT {', '.join(select)} FROM {table}"


def capture_stream(folder: Path, log: Path, stream: str) -> list[Entry]:
    from contextlib import chdir

    from typer.testing import CliRunner

    import pipeline.flow as flow
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
        original = engine_module.DuckDBEngine.materialise

        def materialise(self, name, sql, params, view=False):
            return capture.materialise(original, self, name, sql, params, view)

        engine_module.DuckDBEngine.materialise = materialise
        con = open_store(folder / "vsm.duckdb")
        try:
            flow.compute_flow(con, settings, full=True)
        finally:
            engine_module.DuckDBEngine.materialise = original
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
        f"{sqlglot.__version__}), Spark session start {start_s:.1f} s. Each "
        "model of sql/flow the runner materialised (macros expanded; a `__duckdb` variant as its "
        "portable twin), run on DuckDB in the flow and on Spark (local[2]) over the same inputs; "
        "`check` is pipeline.portable.check's verdict.",
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
            f"{_cell((e.note + '; ' if e.note else '') + what)} |"
        )
    counts = Counter(
        "equal" if e.spark.get("equal") else ("differs" if e.spark.get("runs") else "fails") for e in entries
    )
    lines += [
        "",
        f"{len(entries)} models: {counts['equal']} equal on Spark, {counts['differs']} run but differ, "
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
    print(f"{len(entries)} models -> {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/notes/s6/h22r-catalogue.md"))
