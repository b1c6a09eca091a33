"""Analyst queries: SQL that reads the store and nothing else.

`vsm sql` runs an analyst's text, so the door is shut twice:

- **The statement.** One statement per call, of a kind that only reads: a query (SELECT,
  WITH, VALUES, FROM, and what DuckDB parses as one: SHOW, DESCRIBE, SUMMARIZE), PIVOT,
  EXPLAIN, and the PRAGMAs that show the catalog. Anything else (COPY, EXPORT, ATTACH,
  DETACH, INSTALL, LOAD, SET, RESET, CREATE, CALL, CHECKPOINT, ...) is refused by its kind
  before anything runs, and so is a second statement after the first.
- **The connection.** The store is opened read-only, then DuckDB's own file access is
  turned off (`read_text`, `read_blob`, `read_csv`, `glob`, `COPY ... TO`, `ATTACH`,
  `INSTALL` fail with a permission error), extensions are neither installed nor loaded
  on demand, and the configuration is locked so no statement can turn any of it back on.
  This holds whatever slips past the first check (a table function with a path inside a
  SELECT, EXPLAIN ANALYZE of a COPY, ...).

The store read is the analysts' file named by `--db`, which writers only ever replace whole
by a rename (pipeline/publish.py): a query runs while a load or recompute goes on, on the
results last published, and never waits for a writer's lock.

Big queries still spill to the store's own `<store>.tmp/`: that folder is DuckDB's buffer
manager's, not a query's file access, and works with external access off (checked with
a sort of 3M rows under a 60 MB limit on DuckDB 2.0.1). `allowed_directories` stays
empty: an analyst reads no file at all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from pipeline.errors import SettingsError, VsmError
from pipeline.memory import memory_guard
from pipeline.store import open_store


class QueryError(VsmError):
    """The analyst's SQL failed (syntax, unknown table, ...) or was refused (it would write,
    read files, attach, install, or change the configuration)."""

    exit_code = 1


WHY = "vsm sql only reads the store; use --csv/--json or vsm export to write files"

# Set after the store is open and before any of the analyst's text runs; the lock comes last.
LOCKDOWN = (
    "SET enable_external_access = false",
    "SET allow_community_extensions = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET lock_configuration = true",
)

_READING_KINDS = frozenset(
    {
        duckdb.StatementType.SELECT,
        duckdb.StatementType.EXPLAIN,
        # PIVOT without an IN list parses as several statements (an enum type of the
        # pivoted values, then the query); it is the one statement that becomes MULTI.
        duckdb.StatementType.MULTI,
    }
)

# PRAGMAs that only show something; the others set configuration, checkpoint, or import.
_SHOWING_PRAGMAS = frozenset(
    {
        "collations",
        "database_list",
        "database_size",
        "functions",
        "metadata_info",
        "platform",
        "show",
        "show_databases",
        "show_tables",
        "show_tables_expanded",
        "storage_info",
        "table_info",
        "user_agent",
        "version",
    }
)
_PRAGMA_NAME = re.compile(r"\s*PRAGMA\s+([A-Za-z_][A-Za-z0-9_]*).*", re.IGNORECASE | re.DOTALL)


def open_for_analysts(db: Path) -> duckdb.DuckDBPyConnection:
    """The store, opened read-only with file access, extensions and configuration locked."""
    con = open_store(db, read_only=True)
    try:
        for statement in LOCKDOWN:
            con.execute(statement)
    except BaseException:
        con.close()
        raise
    return con


def check_statement(query: str) -> None:
    """Refuse `query` unless it is one statement of a kind that only reads (QueryError)."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise QueryError(f"query failed: {_one_line(exc)}") from exc
    if not statements:
        raise QueryError("query failed: no SQL statement in the query")
    if len(statements) > 1:
        raise QueryError(f"query refused: {len(statements)} statements; one statement per call ({WHY})")
    statement = statements[0]
    try:
        kind = statement.type
    except ValueError:  # a kind the Python binding has no name for (UPDATE EXTENSIONS in 2.0.1)
        raise QueryError(f"query refused: a statement that does more than read ({WHY})") from None
    if kind == duckdb.StatementType.CALL:
        # CHECKPOINT parses as CALL checkpoint(); a table function that only reads is
        # reached with SELECT * FROM f().
        raise QueryError(
            f"query refused: CALL runs a procedure; read a table function with SELECT * FROM ... ({WHY})"
        )
    if kind == duckdb.StatementType.PRAGMA:
        m = _PRAGMA_NAME.fullmatch(statement.query)
        name = m.group(1).lower() if m else "?"
        if name not in _SHOWING_PRAGMAS:
            raise QueryError(f"query refused: PRAGMA {name} is not one that only shows the catalog ({WHY})")
        return
    if kind not in _READING_KINDS:
        raise QueryError(
            f"query refused: a {kind.name.replace('_', ' ')} statement does more than read ({WHY})"
        )


def run_query(db: Path, query: str) -> pl.DataFrame:
    """The result of one reading statement over the store (QueryError if refused or failed)."""
    with _analyst_relation(db, query) as relation:
        with memory_guard("running the query", "add a LIMIT or select fewer columns"):
            if not _uhugeint_columns(relation):
                return relation.pl()
            return pl.from_arrow(arrow_batches(relation, EXPORT_BATCH_ROWS).read_all())


EXPORT_FORMATS = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
EXPORT_BATCH_ROWS = 100_000


def export_query(db: Path, query: str, out: Path) -> int:
    """Write the result of one reading statement to `out`, in the format its suffix names
    (EXPORT_FORMATS); the number of rows written.

    The rows stream through in batches of EXPORT_BATCH_ROWS (a whole `events` table never
    sits in memory), into a hidden file beside `out` renamed over it at the end: a failed
    or interrupted export leaves `out` as it was. Python writes the file, not DuckDB, whose
    file access stays off."""
    out = Path(out)
    fmt = EXPORT_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise SettingsError(
            f"--out {out}: expected a file name ending in {', '.join(EXPORT_FORMATS)} (the format)"
        )
    if out.is_dir():
        raise SettingsError(f"--out {out}: is a folder; expected a file name")
    with _analyst_relation(db, query) as relation:
        part = out.with_name(f".{out.name}.part")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            rows = WRITERS[fmt](arrow_batches(relation, EXPORT_BATCH_ROWS), part)
            os.replace(part, out)
        except OSError as exc:
            raise QueryError(f"{out}: cannot be written: {exc.strerror or exc}") from exc
        finally:
            part.unlink(missing_ok=True)
    return rows


def _frames(reader: pa.RecordBatchReader) -> Iterator[pl.DataFrame]:
    """The batches as polars frames (the same text forms as `vsm sql --csv/--json`); one
    empty frame with the columns when there are no rows."""
    empty = True
    for batch in reader:
        if batch.num_rows:
            empty = False
            yield pl.from_arrow(batch)
    if empty:
        yield pl.from_arrow(reader.schema.empty_table())


def _write_csv(reader: pa.RecordBatchReader, target: Path) -> int:
    rows = 0
    with open(target, "wb") as f:
        for frame in _frames(reader):
            frame.write_csv(f, include_header=f.tell() == 0)
            rows += frame.height
    return rows


def _write_jsonl(reader: pa.RecordBatchReader, target: Path) -> int:
    rows = 0
    with open(target, "wb") as f:
        for frame in _frames(reader):
            frame.write_ndjson(f)
            rows += frame.height
    return rows


def _write_json(reader: pa.RecordBatchReader, target: Path) -> int:
    """One JSON array of row objects, as `vsm sql --json` prints it."""
    rows = 0
    with open(target, "w", encoding="utf-8") as f:
        f.write("[")
        for frame in _frames(reader):
            if frame.height:
                # one object per line, newlines inside values escaped: lines join with commas
                f.write(("," if rows else "") + frame.write_ndjson().rstrip("\n").replace("\n", ","))
                rows += frame.height
        f.write("]\n")
    return rows


def _write_parquet(reader: pa.RecordBatchReader, target: Path) -> int:
    import pyarrow.parquet as pq  # only an export to Parquet needs it

    rows = 0
    with pq.ParquetWriter(target, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


WRITERS = {"csv": _write_csv, "json": _write_json, "jsonl": _write_jsonl, "parquet": _write_parquet}


@contextmanager
def _analyst_relation(db: Path, query: str) -> Iterator[duckdb.DuckDBPyRelation]:
    """The relation of one checked statement on the locked store; DuckDB's errors, also those
    met while its rows are fetched, turned into QueryError."""
    check_statement(query)
    con = open_for_analysts(db)
    try:
        try:
            relation = con.sql(query)
            if relation is None:
                raise QueryError("query failed: the statement returns no result")
            _check_output_types(relation)
            yield relation
        except duckdb.PermissionException as exc:
            raise QueryError(f"query refused: {_one_line(exc)} ({WHY})") from exc
        except duckdb.Error as exc:
            if "configuration has been locked" in str(exc):
                raise QueryError(f"query refused: {_one_line(exc)} ({WHY})") from exc
            raise QueryError(f"query failed: {_one_line(exc)}") from exc
        except (pl.exceptions.PolarsError, pa.ArrowException) as exc:
            raise QueryError(
                f"query failed: the result cannot be output ({_one_line(exc)}); cast that column to VARCHAR"
            ) from exc
    finally:
        con.close()


def _check_output_types(relation: duckdb.DuckDBPyRelation) -> None:
    # An INTERVAL (the difference of two timestamps) has no polars or Parquet form.
    for name, kind in zip(relation.columns, relation.types, strict=True):
        if "INTERVAL" in str(kind).upper():
            raise QueryError(
                f"query failed: column {name!r} is an {kind}, which cannot be output; "
                "give seconds with epoch(b) - epoch(a), or CAST it AS VARCHAR"
            )


def arrow_batches(relation: duckdb.DuckDBPyRelation, batch_rows: int) -> pa.RecordBatchReader:
    """The rows of `relation` as Arrow batches, its UHUGEINT columns (a query's own; events.event_id
    was one before migration 016) as their exact decimal text. DuckDB hands a UHUGEINT to
    Arrow as a DECIMAL(38, 0) holding the same 128 bits read as signed, so a value above
    2^127 came out of `vsm sql` and `vsm export` as a negative number (DuckDB 2.0.1); its own
    cast to VARCHAR is exact but takes about 50 s per million rows there, so the bits are
    read here instead."""
    reader = relation.to_arrow_reader(batch_rows)
    wide = _uhugeint_columns(relation)
    if not wide:
        return reader
    schema = reader.schema
    for i in wide:
        schema = schema.set(i, schema.field(i).with_type(pa.string()))

    def exact(batch: pa.RecordBatch) -> pa.RecordBatch:
        columns = [_uhugeint_text(c) if i in wide else c for i, c in enumerate(batch.columns)]
        return pa.RecordBatch.from_arrays(columns, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, (exact(batch) for batch in reader))


def _uhugeint_columns(relation: duckdb.DuckDBPyRelation) -> list[int]:
    return [i for i, kind in enumerate(relation.types) if str(kind).upper() == "UHUGEINT"]


def _uhugeint_text(array: pa.Array) -> pa.Array:
    """A DECIMAL(38, 0) array that holds UHUGEINT bits, as the unsigned numbers' text."""
    import numpy as np

    words = np.frombuffer(array.buffers()[1], dtype="<u8")[2 * array.offset : 2 * (array.offset + len(array))]
    texts = [
        str(high << 64 | low) for low, high in zip(words[0::2].tolist(), words[1::2].tolist(), strict=True)
    ]
    nulls = array.is_null().to_numpy(zero_copy_only=False) if array.null_count else None
    return pa.array(texts, type=pa.string(), mask=nulls)


def _one_line(exc: BaseException) -> str:
    """DuckDB's message on one line: its hint kept ('Did you mean "events"?'), the caret
    picture of the query that parser errors add dropped."""
    lines = []
    for line in str(exc).strip().splitlines():
        if line.startswith("LINE "):
            break
        if line.strip():
            lines.append(line.strip())
    return " ".join(lines) or type(exc).__name__
