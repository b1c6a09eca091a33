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

Big queries still spill to the store's own `<store>.tmp/`: that folder is DuckDB's buffer
manager's, not a query's file access, and works with external access off (checked with
a sort of 3M rows under a 60 MB limit on DuckDB 2.0.1). `allowed_directories` stays
empty: an analyst reads no file at all.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl

from pipeline.errors import VsmError
from pipeline.store import open_store, query_frame


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
    check_statement(query)
    con = open_for_analysts(db)
    try:
        return query_frame(con, query)
    except duckdb.PermissionException as exc:
        raise QueryError(f"query refused: {_one_line(exc)} ({WHY})") from exc
    except duckdb.Error as exc:
        if "configuration has been locked" in str(exc):
            raise QueryError(f"query refused: {_one_line(exc)} ({WHY})") from exc
        raise QueryError(f"query failed: {_one_line(exc)}") from exc
    finally:
        con.close()


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
