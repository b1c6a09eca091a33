"""The DuckDB store: open a database file and bring its schema up to date.

The schema lives in `sql/migrations/NNN_name.sql`; each file is applied once, in order,
and recorded in `schema_migrations`; the ones an open finds pending go in one transaction.

Memory: DuckDB keeps intermediate tables in memory up to its limit and spills the rest to
`<store>.tmp/` beside the file. The limit is `VSM_MEMORY_LIMIT` (a DuckDB size such as
`4GB`), else 30% of this machine's memory: a nightly run shares its server, and a log of
a hundred million events then computes out of core instead of exhausting memory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb
import polars as pl

from pipeline import interrupts
from pipeline.errors import StoreError, first_line
from pipeline.processes import use_store_temp

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
MIGRATIONS_DIR = SQL_DIR / "migrations"
DEFAULT_DB = Path("vsm.duckdb")

_MIGRATION_NAME = re.compile(r"(\d{3})_([a-z0-9_]+)\.sql")


def read_sql(relative: str) -> str:
    """Text of a SQL file under `sql/` (e.g. 'load/insert_events.sql')."""
    return (SQL_DIR / relative).read_text(encoding="utf-8")


def sql_literal(text: str) -> str:
    """`text` as an SQL string literal (a single quote in it doubled)."""
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """`name` as a quoted SQL identifier, whatever characters it holds (a double quote in it
    doubled)."""
    return '"' + name.replace('"', '""') + '"'


def query_frame(
    con: duckdb.DuckDBPyConnection, query: str, params: dict | list | None = None
) -> pl.DataFrame:
    """Run a query and return its result as a polars DataFrame."""
    return con.sql(query, params=params).pl()


def migrations() -> list[tuple[int, str, Path]]:
    """(version, name, path) of every migration file, in order."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        m = _MIGRATION_NAME.fullmatch(path.name)
        if not m:
            raise StoreError(f"{path}: migration files must be named NNN_name.sql")
        found.append((int(m.group(1)), m.group(2), path))
    return found


# Never fetch an extension: the store uses only the ones built into DuckDB, and a server
# running the nightly load may have no network. DuckDB replays the write-ahead log before
# its built-in functions are loaded; a logged statement that evaluates one again (an
# `ALTER ... USING chr(...)`, as migration 004 was written before it was made to replay
# without them) then has DuckDB download the extension, which offline fails and left a
# killed first run's store unopenable. Not allowed to install, it loads the built-in one.
_CONFIG = {"autoinstall_known_extensions": False}

# A new store is written in this storage version, which DuckDB 1.4 and 1.5 read too; DuckDB
# keeps a file in the version it was created in when it reopens, writes and checkpoints it.
# The analysts' file is a byte copy of the writers' store (pipeline/publish.py), so it is one
# the previous DuckDB release opens.
STORAGE_VERSION = "v1.4.0"


def open_store(path: Path | str = DEFAULT_DB, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the store and apply pending migrations."""
    path = Path(path)
    if read_only and not path.exists():
        raise StoreError(f"{path}: no store here yet (run `vsm ingest` or `vsm discover` first)")
    config = _CONFIG if path.exists() else _CONFIG | {"storage_compatibility_version": STORAGE_VERSION}
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.Error as exc:
        if "while replaying WAL" in str(exc):
            wal = Path(f"{path}.wal")
            raise StoreError(
                f"{path}: its write-ahead log {wal} cannot be replayed ({first_line(exc)}); keep both "
                f"files and restore the store from a backup, or move {wal.name} away to lose the work "
                "not yet checkpointed"
            ) from exc
        raise StoreError(f"{path}: cannot open the DuckDB store: {first_line(exc)}") from exc
    if read_only and not _has_schema(con):
        con.close()
        raise StoreError(
            f"{path}: no store here yet (the file holds no tables: the first run stopped before "
            "setting it up); run `vsm ingest` or `vsm discover`"
        )
    use_store_temp(path)  # this process's temp folders go under <store>.tmp; stale ones there go
    interrupts.watch(con)  # Ctrl-C / SIGTERM interrupt its query
    con.execute("SET TimeZone = 'UTC'")
    limit_memory(con)
    if not read_only and apply_migrations(con):
        # The new schema goes into the database file now, not only into its write-ahead log:
        # a first run killed after this still finds its tables in the file.
        con.execute("CHECKPOINT")
    return con


def _has_schema(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = 'schema_migrations'"
    ).fetchall()
    return found[0][0] > 0


MEMORY_ENV = "VSM_MEMORY_LIMIT"
_SIZE = re.compile(r"\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", re.IGNORECASE)


def memory_limit() -> str:
    """DuckDB's memory limit for this process: $VSM_MEMORY_LIMIT, else 30% of physical memory."""
    given = os.environ.get(MEMORY_ENV, "").strip()
    if given:
        if not _SIZE.fullmatch(given):
            raise StoreError(f"{MEMORY_ENV}={given!r}: expected a size such as 4GB or 512MB")
        return given.replace(" ", "")
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return ""  # unknown: DuckDB's own default (80%)
    return f"{max(total * 3 // 10 // 2**20, 256)}MiB"


def limit_memory(con: duckdb.DuckDBPyConnection) -> None:
    limit = memory_limit()
    if limit:
        con.execute(f"SET memory_limit = '{limit}'")  # checked above: digits and a unit
        # Keep the memory DuckDB's blocks take up to that limit instead of handing it back
        # to the system after each query and having every page of it faulted in again by
        # the next one (zeroed by the kernel each time). The process's peak stays what it
        # was (the buffer pool never holds more than the limit anyway) and the store's
        # close releases it. 10M events: about 650,000 fewer page faults, system time
        # 7.4 s -> 4.3 s (means of 3 interleaved runs).
        con.execute(f"SET block_allocator_memory = '{limit}'")
    # No query here relies on the order rows were inserted in (every order is an ORDER BY);
    # without that promise DuckDB builds and spills large tables with less memory.
    con.execute("SET preserve_insertion_order = false")


def applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    return {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}


def table_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    """Every table and view of the store's main schema: its (column, type) in order. One
    question to information_schema (about 4 ms on the store) for what a publish asks of twenty
    tables."""
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_catalog = current_database() "
        "ORDER BY table_name, ordinal_position"
    ).fetchall():
        columns.setdefault(table, []).append((column, data_type))
    return columns


def replace_rows(
    con: duckdb.DuckDBPyConnection, table: str, delete_sql: str, params: dict, frame: pl.DataFrame
) -> None:
    """In one transaction, delete the rows `delete_sql` (bound to `params`) names and insert
    `frame`'s rows into `table` by column name: a command's own rows written again whole
    (`vsm compare`'s comparison, `vsm simulate`'s scenario)."""
    name = f"{table}_rows_in"
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(delete_sql, params)
        con.register(name, frame.to_arrow())
        con.execute(f"INSERT INTO {sql_identifier(table)} BY NAME SELECT * FROM {name}")
        con.unregister(name)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def apply_migrations(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every migration not yet recorded, all in one transaction with the creation of
    schema_migrations; return the versions applied now. One commit, not one per migration: a
    new store takes all of them (each commit writes and flushes the write-ahead log; a new
    store's 19 commits were most of its open), and a failing one leaves the store as it was
    before any of them. The pending files run as one script and are recorded by one INSERT:
    a statement per file and one per record cost about a millisecond each (a new store: 0.053
    -> 0.028 s, median of 6). A failing script is run again file by file, rolled back, to
    name the file that fails."""
    con.execute("BEGIN TRANSACTION")
    pending: list[tuple[int, str, Path]] = []
    try:
        done = applied_versions(con)
        pending = [(v, n, p) for v, n, p in migrations() if v not in done]
        if pending:
            # `;` between the files: a file whose last statement has none stays whole
            con.execute("\n;\n".join(p.read_text(encoding="utf-8") for _, _, p in pending))
            con.execute(
                "INSERT INTO schema_migrations SELECT unnest($versions), unnest($names), now()",
                {"versions": [v for v, _, _ in pending], "names": [n for _, n, _ in pending]},
            )
        con.execute("COMMIT")
    except duckdb.Error as exc:
        con.execute("ROLLBACK")
        if not pending:
            raise
        raise StoreError(f"migration {_failing_migration(con, pending).name} failed: {exc}") from exc
    return [v for v, _, _ in pending]


def _failing_migration(con: duckdb.DuckDBPyConnection, pending: list[tuple[int, str, Path]]) -> Path:
    """The first of the pending migrations that fails when they run one by one (in a
    transaction rolled back: nothing stays); the last one if none does alone."""
    con.execute("BEGIN TRANSACTION")
    try:
        for _, _, path in pending:
            try:
                con.execute(path.read_text(encoding="utf-8"))
            except duckdb.Error:
                return path
        return pending[-1][2]
    finally:
        con.execute("ROLLBACK")
