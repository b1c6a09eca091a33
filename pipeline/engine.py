"""Where the flow's models run: the engine interface, and DuckDB's engine (issue 22).

The runner (pipeline/models.py) hands an engine plain SELECTs (macros expanded) to
materialise as named relations; the flow's Python steps (step map, status classes, start and
end rule, discovery) read relations as Arrow and register their outputs; `publish` writes a
stream's results, its run and its incremental state into the store, all or nothing.
Engine-specific optimisations live in the engine: DuckDB holds a registered dictionary
column (activities, steps, status classes) as an ENUM of its names in text order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import duckdb
import pyarrow as pa

from pipeline.history import append_snapshot
from pipeline.store import read_sql, sql_literal, table_columns

# More names than this are held as text, not as an ENUM (enum_type).
ENUM_MAX_NAMES = 100_000

# Result columns that hold a resource's or team's number in the flow (flow_owner_names).
OWNER_COLUMNS = ("resource", "team", "from_team", "to_team")

# Result tables whose rows of a case depend on that case's events only (and on the global
# decisions an incremental compute keeps): it rewrites the rows of the recomputed cases alone.
CASE_TABLES = ("visits", "status_periods")


@dataclass(frozen=True)
class RunRecord:
    """The `runs` row of a compute."""

    stream: str
    message: str
    started_at: datetime
    events: int = 0  # events the flow read


@dataclass(frozen=True)
class StateRecord:
    """What the next incremental compute needs (pipeline/incremental.py), written with the
    results; `only_changed_cases`: an incremental compute, whose CASE_TABLES rows change for
    the recomputed cases only (flow_recompute; the others, flow_kept_cases, stay)."""

    decisions: str  # JSON
    as_of: datetime
    result: str  # JSON (incremental.result_json)
    only_changed_cases: bool
    cases: bool = True  # False (a Spark compute): no per-case state; the stream's is cleared


class Engine(Protocol):
    name: str  # "duckdb" | "spark"

    def set_timezone(self, timezone: str) -> None:
        """The session zone days are bucketed in (a validated IANA name)."""

    def register(self, name: str, table: pa.Table) -> None:
        """A Python-made input relation."""

    def materialise(self, name: str, sql: str, params: dict, view: bool = False) -> int | None:
        """Create relation `name` from a model's SELECT; its rows, or None for a view or when
        the engine does not count them as it builds (Spark: Runner.rows counts on demand)."""

    def read_arrow(self, sql_or_relation: str, params: dict | None = None) -> pa.Table: ...

    def drop(self, name: str) -> None: ...

    def publish(
        self, stream: str, results: dict[str, str], run: RunRecord, state: StateRecord | None
    ) -> str | None:
        """Replace the stream's rows of each result table (table -> relation) with the
        relation's, record the run and the state: all or nothing. No results: a runs row only.
        Returns the map's SVG the snapshot keeps (pipeline/history.py), None without results."""


def enum_type(names: list) -> str:
    """The SQL type DuckDB holds a set of names in: an ENUM of the names in text order (so
    comparisons, min/max and ORDER BY go as with the text). VARCHAR when there is none (every
    activity dropped) or more than ENUM_MAX_NAMES: the type is spelled out in SQL (50,000
    names take 0.35 s), and a column of that many activities is rather a mapping mistake.
    Names ride through every window and sort of the flow: as small numbers they sort and hash
    several times cheaper than as text (10M events: the flow 17.9 s -> 14.2 s), and they read
    as text wherever text is needed (string functions, published columns)."""
    values = sorted({n for n in names if n is not None})  # code-point order is UTF-8 byte order
    if not values or len(values) > ENUM_MAX_NAMES:
        return "VARCHAR"
    return "ENUM(" + ", ".join(sql_literal(v) for v in values) + ")"


def _ident(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"not a relation name: {name!r}")
    return name


class DuckDBEngine:
    """Today's engine: models as temp tables (views) on the store's connection."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self._made: set[str] = set()  # relations this engine made and has not dropped

    def set_timezone(self, timezone: str) -> None:
        self.con.execute(f"SET TimeZone = '{timezone}'")

    def register(self, name: str, table: pa.Table) -> None:
        """A temp table of the Arrow table; a dictionary column becomes an ENUM of its
        dictionary's names (all of them, used or not: two columns with one dictionary, such
        as activities and statuses, get one type and join as numbers)."""
        columns = []
        for field in table.schema:
            if pa.types.is_dictionary(field.type):
                column = table.column(field.name)
                names = column.chunk(0).dictionary.to_pylist() if column.num_chunks else []
                columns.append(
                    f'CAST(CAST("{field.name}" AS VARCHAR) AS {enum_type(names)}) AS "{field.name}"'
                )
            else:
                columns.append(f'"{field.name}"')
        self.con.register(f"{_ident(name)}_in", table)
        try:
            self._create(
                name, f"CREATE TEMP TABLE {name} AS SELECT {', '.join(columns)} FROM {name}_in", None
            )
        finally:
            self.con.unregister(f"{name}_in")

    def register_parquet(self, name: str, folder: Path) -> None:
        """A temp view of the Parquet files in `folder` (as Spark writes a relation: its
        part-*.parquet files), read as they are when the view is read."""
        files = str(folder / "*.parquet").replace("'", "''")
        read = f"read_parquet('{files}', hive_partitioning = false)"  # no column from a k=v folder
        self._create(name, f"CREATE TEMP VIEW {_ident(name)} AS SELECT * FROM {read}", None)

    def materialise(self, name: str, sql: str, params: dict, view: bool = False) -> int | None:
        if view:  # a pass-through (no parameters: a view keeps none)
            self._create(name, f"CREATE TEMP VIEW {_ident(name)} AS {sql}", None)
            return None
        created = self._create(name, f"CREATE TEMP TABLE {_ident(name)} AS {sql}", params or None)
        return created.fetchall()[0][0]

    def _create(self, name: str, statement: str, params: dict | None) -> duckdb.DuckDBPyConnection:
        """Run the CREATE of relation `name`, the one of that name before it dropped first (its
        memory freed before the new one is built). Dropped only when there is one: the one this
        engine made, or one found in the way (made before this engine on the connection); a
        compute makes about 60 relations, and a DROP that finds nothing costs about 1 ms."""
        if name in self._made:
            self.drop(name)
        try:
            result = self.con.execute(statement, params)
        except duckdb.CatalogException as exc:
            if "already exists" not in str(exc):
                raise
            self.drop(name)
            result = self.con.execute(statement, params)
        self._made.add(name)
        return result

    def read_arrow(self, sql_or_relation: str, params: dict | None = None) -> pa.Table:
        sql = (
            f"SELECT * FROM {sql_or_relation}"
            if re.fullmatch(r"[a-z_][a-z0-9_]*", sql_or_relation)
            else sql_or_relation
        )
        return self.con.sql(sql, params=params or None).to_arrow_table()

    def drop(self, name: str) -> None:
        """The temp table or view `name`, if there is one. Two DROP IF EXISTS, not a look in
        the catalogue: information_schema takes about 4 ms a question on the store, and a
        compute drops about 90 relations (0.33 s of every compute, however small)."""
        relation = f"temp.main.{_ident(name)}"
        try:
            self.con.execute(f"DROP TABLE IF EXISTS {relation}")
        except duckdb.CatalogException:  # a view of that name
            self.con.execute(f"DROP VIEW IF EXISTS {relation}")
        self._made.discard(name)

    def publish(
        self, stream: str, results: dict[str, str], run: RunRecord, state: StateRecord | None
    ) -> str | None:
        """The run's finished_at is when its results were written, just before they commit
        (the SQL now() would be the transaction's start, the same instant for both). The
        compute's snapshot (pipeline/history.py) is appended in the same transaction."""
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            run_id = con.execute("SELECT nextval('run_id_seq')").fetchall()[0][0]
            columns = table_columns(con)
            for table, relation in results.items():
                self._replace_rows(
                    stream,
                    table,
                    relation,
                    state is not None and state.only_changed_cases,
                    columns.get(table, []),
                )
            if state is not None:
                self._run_statements(
                    read_sql(
                        "flow_publish/save_state.sql" if state.cases else "flow_publish/forget_cases.sql"
                    ),
                    {
                        "stream": stream,
                        "decisions": state.decisions,
                        "as_of": state.as_of,
                        "run_id": run_id,
                        "result": state.result,
                    },
                )
            finished_at = datetime.now(UTC)
            drawn = None
            if results:  # metric_history, map_history
                drawn = append_snapshot(con, stream, run_id, finished_at, columns)
            con.execute(
                read_sql("flow_publish/insert_run.sql"),
                {
                    "run_id": run_id,
                    "stream": stream,
                    "message": run.message,
                    "events": run.events,
                    "started": run.started_at or finished_at,
                    "finished": finished_at,
                },
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return drawn

    def _replace_rows(
        self, stream: str, table: str, relation: str, only_changed_cases: bool, columns: list[tuple[str, str]]
    ) -> None:
        """The stream's rows of `table` (its `columns`, table_columns) from `relation`: its
        columns by name, the flow's case, resource and team numbers (events.sql) back to their
        texts."""
        con = self.con
        select = contract_select(
            con, table, relation, quote='"', stream="$stream", columns=[c for c, _ in columns]
        )
        if only_changed_cases and table in CASE_TABLES:  # the kept cases' rows are as they were
            con.execute(
                f"DELETE FROM {_ident(table)} WHERE stream = $stream "
                "AND case_id NOT IN (SELECT case_id FROM flow_kept_cases)",
                {"stream": stream},
            )
            select += " SEMI JOIN flow_recompute AS r ON r.case_no = t.case_id"
        else:
            con.execute(f"DELETE FROM {_ident(table)} WHERE stream = $stream", {"stream": stream})
        con.execute(f"INSERT INTO {table} {select}", {"stream": stream})

    def _run_statements(self, sql: str, params: dict) -> None:
        for statement in (s for s in sql.split(";\n") if s.strip() and not _only_comments(s)):
            used = {k: v for k, v in params.items() if f"${k}" in statement}
            self.con.execute(statement, used or None)


def contract_select(
    con: duckdb.DuckDBPyConnection,
    table: str,
    relation: str,
    quote: str,
    stream: str | None,
    columns: list[str] | None = None,
) -> str:
    """The SELECT of a result table's rows (its columns by name, as the store's `table` has
    them) from the flow's `relation`, the case, resource and team numbers (events.sql) back to
    their texts through flow_case_names and flow_owner_names. `quote` quotes identifiers ('"'
    on DuckDB, '`' on Spark); `stream` is the stream column's expression, None to leave it out.
    `columns`: the table's columns when the caller has them (store.table_columns)."""
    if columns is None:
        columns = [c for c, _ in table_columns(con).get(table, [])]
    q = quote
    select, joins = [], ""
    for c in columns:
        if c == "stream":
            if stream is not None:
                select.append(f"{stream} AS stream")
        elif c == "case_id":
            select.append("k.case_id AS case_id")
            joins += " LEFT JOIN flow_case_names AS k ON k.case_no = t.case_id"
        elif c in OWNER_COLUMNS:
            select.append(f"{q}o_{c}{q}.name AS {q}{c}{q}")
            joins += f" LEFT JOIN flow_owner_names AS {q}o_{c}{q} ON {q}o_{c}{q}.owner_no = t.{q}{c}{q}"
        else:
            select.append(f"t.{q}{c}{q}")
    name = relation if quote == "`" else _ident(relation)
    return f"SELECT {', '.join(select)} FROM {name} AS t{joins}"


def _only_comments(statement: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in statement.splitlines())
