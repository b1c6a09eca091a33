"""The Spark engine: the flow models run by PySpark (`local[*]` or a cluster master).

The models are DuckDB-dialect SELECTs (macros expanded by the runner); each is checked and
transpiled by pipeline/portable.py, run by `spark.sql`, and materialised as a temp view
over a local checkpoint, so that the lineage of a model does not grow with every model
before it (a view over a view ... would replan the whole flow at each read).

Input relations made in Python (the step map, status classes, ...) come in as Arrow tables;
the stream's events come from Parquet (`export_events` writes what the DuckDB store holds
for a stream, `events_parquet` reads it). Results leave as Parquet files the store reads
(publish: the store publishes them as always, nothing collected to the driver) and, with an
output folder, as Parquet tables partitioned by stream (`write_results`), one stream's
partition replaced at a time.

Spark's types differ from DuckDB's in three ways the inputs are adapted for at the door:
no unsigned integers (UINTEGER -> BIGINT; UBIGINT -> DECIMAL(20, 0), a digest may pass
2^63), no ENUM (dictionary columns are read as their text), and TIMESTAMPTZ is Spark's
TIMESTAMP (an instant, shown in the session zone): `session_timezone` must be the
stream's zone, as DuckDB's TimeZone is during a compute, for day buckets to agree.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from pipeline import portable
from pipeline.engine import contract_select
from pipeline.errors import SettingsError, VsmError

DEFAULT_MASTER = "local[*]"


@dataclass(frozen=True)
class SparkSettings:
    """[engine] of the settings (proposed shape): where Spark runs and how it is sized."""

    master: str = DEFAULT_MASTER  # "local[*]", "local[2]", "spark://host:7077", "yarn", ...
    shuffle_partitions: int = 8  # spark.sql.shuffle.partitions: a stream is small for Spark
    conf: tuple[tuple[str, str], ...] = ()  # further spark.* settings, passed as they are


def spark_available() -> str | None:
    """None when pyspark imports and a `java` is on the PATH (or JAVA_HOME), else why not."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -r requirements.lock)"
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and Path(java_home, "bin", "java").exists()) and not shutil.which("java"):
        return "no Java runtime (java not on the PATH): make java installs Debian's openjdk-17-jre-headless"
    return None


def start_session(settings: SparkSettings = SparkSettings(), app_name: str = "vsm"):
    """A SparkSession for the settings: UI off, the driver on the loopback address when local,
    nothing fetched at start (no spark.jars.packages: pyspark's wheel carries the jars)."""
    why = spark_available()
    if why:
        raise SettingsError(f"--engine spark: {why}")
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(settings.master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        # DuckDB's semantics where Spark's differ by a flag: ANSI errors on overflow and bad
        # casts (Spark 4's default), and a map's duplicate keys refused
        .config("spark.sql.ansi.enabled", "true")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # Parquet results' instants as UTC microseconds (the default INT96 reads back as local time)
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    )
    if settings.master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = builder.config("spark.driver.host", "127.0.0.1").config(
            "spark.driver.bindAddress", "127.0.0.1"
        )
    for key, value in settings.conf:
        builder = builder.config(key, value)
    with _gateway_started_without_fork():
        session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):  # each failed query's
        logging.getLogger(name).setLevel(logging.CRITICAL)  # JVM stack: the error says it in a line
    return session


# The JVM's launcher: SIGINT ignored (a Ctrl-C stops vsm, which then stops Spark), then exec.
_IGNORE_SIGINT_THEN_EXEC = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)


@contextmanager
def _gateway_started_without_fork() -> Iterator[None]:
    """pyspark starts its JVM with a preexec_fn (to ignore SIGINT), which makes Python fork()
    this whole process; a fork of a process holding gigabytes (a large log, DuckDB's memory)
    can be refused with ENOMEM. Here a small launcher ignores SIGINT and execs the command,
    and subprocess starts it by vfork: the same JVM, started the same way otherwise."""
    from pyspark import java_gateway

    def popen(command, **kwargs):
        kwargs.pop("preexec_fn", None)
        return subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _IGNORE_SIGINT_THEN_EXEC, *command], **kwargs
        )

    original = java_gateway.Popen
    java_gateway.Popen = popen
    try:
        yield
    finally:
        java_gateway.Popen = original


def spark_ready(table: pa.Table) -> pa.Table:
    """The Arrow table with the types Spark reads: dictionaries (DuckDB ENUMs) as text,
    unsigned integers widened or held as BIGINT."""
    fields = []
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = _spark_type(field.type)
        if kind == pa.decimal128(38, 0) and _beyond_38_digits(column):
            kind = pa.string()  # a 128-bit digest (events.event_id, UHUGEINT): an id, not a number
        fields.append(pa.field(field.name, kind, field.nullable))
    schema = pa.schema(fields)
    if table.num_rows == 0:
        return schema.empty_table()
    return table if schema == table.schema else table.cast(schema)


def _beyond_38_digits(column: pa.ChunkedArray) -> bool:
    import pyarrow.compute as pc

    if column.null_count == len(column):
        return False
    digits = pc.utf8_length(pc.utf8_ltrim(column.cast(pa.string()), "-"))
    return pc.max(digits).as_py() > 38


def _spark_type(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(kind):
        return _spark_type(kind.value_type)
    if kind in (pa.uint8(), pa.uint16()):
        return pa.int32()
    if kind == pa.uint32():
        return pa.int64()
    if kind == pa.uint64():  # a digest (events.event_key ...) may pass 2^63
        return pa.decimal128(20, 0)
    if pa.types.is_large_string(kind):
        return pa.string()
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return pa.list_(_spark_type(kind.value_type))
    if pa.types.is_struct(kind):
        return pa.struct([pa.field(f.name, _spark_type(f.type), f.nullable) for f in kind])
    return kind


class SparkModelError(VsmError):
    """A model Spark would not run (or failed running) although portable.check passed it: a
    bug of vsm's SQL or of the transpilation, named by the model and Spark's first line."""

    exit_code = 70

    def __init__(self, name: str, error: BaseException):
        self.model = name
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        super().__init__(f"model {name} failed on Spark: {first}")


class SparkEngine:
    """The flow's engine interface (pipeline/engine.py) on a SparkSession."""

    name = "spark"

    def __init__(self, session, session_timezone: str = "UTC", store=None, out_dir: Path | None = None):
        self.spark = session
        self.session_timezone = session_timezone
        self.store = store  # the DuckDB engine of the store, which publish() writes into
        self.out_dir = out_dir  # where publish() also keeps the results as Parquet (None: not kept)
        self._frames: dict[str, object] = {}

    def set_timezone(self, timezone: str) -> None:
        """The stream's zone: day buckets and date parts are taken in it (DuckDB's SET TimeZone)."""
        self.session_timezone = timezone
        self.spark.conf.set("spark.sql.session.timeZone", timezone)

    def register(self, name: str, table: pa.Table) -> None:
        frame = self.spark.createDataFrame(spark_ready(table))
        self._keep(name, frame.localCheckpoint(eager=True))

    def materialise(self, name: str, sql: str, params: dict, view: bool = False) -> int | None:
        """Relation `name` from a DuckDB-dialect SELECT (macros expanded): refused when not
        portable (pipeline/portable.py check), else transpiled, run and checkpointed; a view
        (a pass-through model) is not run here, and has no rows to tell (None)."""
        problems = portable.check(sql)
        if problems:
            raise portable.NotPortableError(name, problems)
        try:
            frame = self.spark.sql(portable.to_spark(sql, params))
            if view:
                self._keep(name, frame)
                return None
            # not counted: a count is a second Spark job per model (a fifth of a small
            # compute); the runner counts the few relations whose rows it needs (Runner.rows)
            self._keep(name, frame.localCheckpoint(eager=True))
            return None
        except Exception as e:  # Spark's own error (analysis, execution): say which model
            if type(e).__module__.startswith(("pyspark", "py4j")):
                raise SparkModelError(name, e) from e
            raise

    def read_arrow(self, sql_or_relation: str, params: dict | None = None) -> pa.Table:
        if sql_or_relation in self._frames:
            return self._frames[sql_or_relation].toArrow()
        return self.spark.sql(portable.to_spark(sql_or_relation, params or {})).toArrow()

    def drop(self, name: str) -> None:
        frame = self._frames.pop(name, None)
        if frame is not None:
            frame.unpersist()
        self.spark.catalog.dropTempView(name)

    def events_parquet(self, path: Path, name: str = "events") -> None:
        """The stream's events (export_events' Parquet) as relation `name`."""
        self._keep(name, self.spark.read.parquet(str(path)))

    def publish(self, stream: str, results: dict[str, str], run, state) -> str | None:
        """With `out_dir`, the results as Parquet tables partitioned by stream (write_results,
        first); then into the store as a DuckDB compute publishes them (`store`: the DuckDB
        engine, given each result relation and the case, resource and team names as views of
        Parquet files Spark wrote, in a temporary folder, under `<out_dir>/_publish/` when the
        master is a cluster; removed after): the same transaction, runs row and snapshot. No
        per-case state is kept (state.cases False: the next DuckDB compute of the stream is full)."""
        if self.store is None:
            raise RuntimeError("SparkEngine.publish: no store engine to publish into")
        if self.out_dir is not None and results:
            contract = {}
            for table, relation in results.items():
                contract[table] = f"vsm_out_{table}"
                select = contract_select(self.store.con, table, relation, quote="`", stream=None)
                self._keep(contract[table], self.spark.sql(select))
            write_results(self, Path(self.out_dir), stream, contract)
            for name in contract.values():
                self.drop(name)
        if not results:
            return self.store.publish(stream, results, run, state)
        # the relations go to the store as Parquet files Spark writes and DuckDB reads, not
        # collected to the driver: at 10M events flow_visits alone (5M rows) as Arrow in the
        # driver's heap ran a 4 GB driver out of memory (issue 23). A local master's go to a
        # temporary folder; a cluster's executors write where this process reads: the output folder
        root = None
        if self.out_dir is not None and not self.spark.sparkContext.master.startswith("local"):
            root = Path(self.out_dir) / "_publish"
            root.mkdir(parents=True, exist_ok=True)
        transit = Path(tempfile.mkdtemp(prefix="vsm-publish-", dir=root))
        in_store: list[str] = []
        try:
            for relation in (*results.values(), *NAMES):
                self.spark.table(relation).write.parquet(str(transit / relation))
                self.store.register_parquet(relation, transit / relation)
                in_store.append(relation)
            return self.store.publish(stream, results, run, state)
        finally:
            for relation in in_store:  # views over the files, which go now
                self.store.drop(relation)
            shutil.rmtree(transit, ignore_errors=True)

    def _keep(self, name: str, frame) -> None:
        old = self._frames.pop(name, None)
        frame.createOrReplaceTempView(name)
        self._frames[name] = frame
        if old is not None:
            old.unpersist()


# The flow's number -> text relations the store's publish joins results to (engine.py).
NAMES = ("flow_case_names", "flow_owner_names")

# Store tables the models read besides the events (models.store_tables), with a stream column:
# the stream's rows go to Spark as Arrow.
STORE_INPUTS = ("rejects", "runs", "flow_case_state")


def stage_store(con, engine: SparkEngine, stream: str, folder: Path) -> int:
    """What the models read of the store, on Spark: the stream's events through Parquet in
    `folder` (export_events; events_parquet), the other store tables' rows of the stream as
    Arrow. The number of events."""
    events = export_events(con, stream, folder / "events.parquet")
    engine.events_parquet(folder / "events.parquet")
    for table in STORE_INPUTS:
        engine.register(
            table,
            con.sql(
                f"SELECT * FROM {table} WHERE stream = $stream", params={"stream": stream}
            ).to_arrow_table(),
        )
    return events


@contextmanager
def spark_compute(con, settings, out_dir: Path | None = None, session=None) -> Iterator[SparkEngine]:
    """A Spark engine ready for one stream's compute (pipeline/flow.py compute_flow): its own
    session (`session`, else session_for [engine]), the store's inputs staged (stage_store),
    publishing into the store `con` and, with `out_dir` (else [engine] out), keeping the
    results as Parquet there. The events' Parquet goes beside the results
    (`<out>/_events/stream=<stream>/`) when there is an output folder, else to a temporary
    folder removed after: a cluster's executors must read it, so a master that is not
    local needs an output folder they reach."""
    from pipeline.engine import DuckDBEngine

    e = settings.engine
    # absolute: the JVM's working folder is not this process's (and a cluster's is elsewhere)
    out = Path(out_dir) if out_dir else settings.engine_out()
    out = out.resolve() if out is not None else None
    if out is None and session is None and not e.spark_master.startswith("local"):
        raise SettingsError(
            f"[engine] spark_master = {e.spark_master!r} is a cluster: its executors read the events "
            "from Parquet, so set [engine] out (or --out DIR) to a folder the cluster reaches"
        )
    session = session or session_for(e)
    engine = SparkEngine(session, store=DuckDBEngine(con), out_dir=out)
    with tempfile.TemporaryDirectory(prefix="vsm-spark-") as tmp:
        folder = out / "_events" / f"stream={settings.name}" if out is not None else Path(tmp)
        stage_store(con, engine, settings.name, folder)
        try:
            yield engine
        finally:
            for name in list(engine._frames):
                engine.drop(name)


def session_for(settings) -> object:
    """A Spark session of its own for one stream's compute, in the process's one Spark
    application (started for [engine] on first use): `newSession()` shares the SparkContext
    (the executors) but not the temp views or the session zone, so streams computed side by
    side (`vsm run --parallel N`) do not see each other's `flow_*` relations."""
    return start_session(
        SparkSettings(
            master=settings.spark_master,
            shuffle_partitions=settings.spark_shuffle_partitions,
            conf=tuple(sorted(settings.spark_conf.items())),
        )
    ).newSession()


def export_events(con, stream: str, path: Path) -> int:
    """What the DuckDB store holds of a stream's events, as one Parquet file (its rows).
    128-bit integers (events.event_id, UHUGEINT) go out as text: DuckDB writes them to
    Parquet as DOUBLE, which would round the ids silently."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wide = [
        name
        for name, kind, *_ in con.execute("DESCRIBE events").fetchall()
        if kind.upper() in ("HUGEINT", "UHUGEINT")
    ]
    replace = " REPLACE (" + ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' for c in wide) + ")" if wide else ""
    target = str(path).replace("'", "''")
    con.execute(
        f"COPY (SELECT *{replace} FROM events WHERE stream = $stream) TO '{target}' (FORMAT parquet)",
        {"stream": stream},
    )
    return con.execute("SELECT count(*) FROM events WHERE stream = $stream", {"stream": stream}).fetchall()[
        0
    ][0]


def write_results(
    engine: SparkEngine, out_dir: Path, stream: str, results: dict[str, str]
) -> dict[str, Path]:
    """Each result table as `<out_dir>/<table>/stream=<stream>/` Parquet (the layout Spark,
    DuckDB's hive_partitioning and pyarrow read as a table with a stream column), ONE
    stream's partition replaced: written to a hidden folder beside it, then renamed into
    place. A crash while writing leaves the old partition; a crash between the two renames
    leaves it under `.old-*`, put back by the next write (_recover)."""
    written = {}
    for table, relation in results.items():
        folder = out_dir / table
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"stream={stream}"
        _recover(folder, final)
        temp = folder / f".tmp-{stream}-{uuid.uuid4().hex}"
        frame = engine.spark.table(relation)
        if "stream" in frame.columns:
            frame = frame.drop("stream")
        frame.coalesce(1).write.parquet(str(temp))
        old = folder / f".old-{stream}-{uuid.uuid4().hex}"
        if final.exists():
            final.rename(old)
        temp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        written[table] = final
    return written


def _recover(folder: Path, final: Path) -> None:
    """A partition left under `.old-<stream>-<hex>` by a crash between the renames goes back
    in place; half-written `.tmp-<stream>-<hex>` folders go. (The 32 hex digits end the
    name: stream 'a' does not take stream 'a-b''s folders.)"""
    stream = final.name.removeprefix("stream=")

    def left(kind: str) -> list[Path]:
        prefix = f".{kind}-{stream}-"
        return sorted(
            p
            for p in folder.iterdir()
            if p.name.startswith(prefix) and re.fullmatch(r"[0-9a-f]{32}", p.name[len(prefix) :])
        )

    for old in left("old"):
        if not final.exists():
            old.rename(final)
        else:
            shutil.rmtree(old, ignore_errors=True)
    for temp in left("tmp"):
        shutil.rmtree(temp, ignore_errors=True)
