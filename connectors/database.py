"""Database sources (issue 17): a stream read with a SQL query from PostgreSQL or SQLite.

Not an HTTP system (`connectors/systems.py`): the rows are the query's own columns, so they go
through the same column detection and `[columns]` settings as a file; but like a system the
stream has a stored cursor (`source_cursors`, migration 009), written with the events in
the load's transaction (`pipeline/ingest.py`), and a pull that fails loads nothing.

A read:
- the query is checked to be one SELECT (or WITH ... SELECT) before anything is sent
  (`check_query`: comments, string literals and quoted names are skipped, then one statement,
  starting with SELECT/WITH, without a data-changing keyword);
- PostgreSQL: a read-only transaction, `SET LOCAL statement_timeout`, the session's time zone
  set to the stream's (so a `timestamp without time zone` column compares with the cursor
  as local time in it; `timestamptz` as is); SQLite: the file opened read-only;
- incremental with `[source] cursor_column`: `SELECT * FROM (query) AS vsm_source WHERE
  cursor >= start`, start (a bound parameter) = the stored cursor minus `cursor_overlap`
  (default 1h) for a timestamp cursor, or `> stored` for an integer (id) cursor; the first
  run starts at `[source] since` (no filter when since is empty);
- ADBC hands record batches, streamed to a temporary Parquet file (bounded memory: a table
  larger than memory loads), and the load reads that file through DuckDB. The highest
  cursor value is taken batch by batch.

Failures (server down, wrong password, unknown table or column, connection lost mid-read,
timeout) are one `SystemSourceError` line naming the stream, the server (never the
password) and the cause. The password comes from `[source] auth` (env:NAME / file:PATH), is
put into the connection URI only in memory, and is scrubbed from any driver message.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from pipeline.errors import SettingsError, SystemSourceError


@dataclass(frozen=True)
class Database:
    name: str  # [source] kind
    description: str
    schemes: tuple[str, ...]  # what [source] url starts with
    options: tuple[str, ...]  # the [source] keys it takes
    required: tuple[str, ...]
    url_example: str


DATABASE_KEYS = ("cursor_column", "cursor_overlap", "statement_timeout")
DATABASES: dict[str, Database] = {
    d.name: d
    for d in (
        Database(
            "postgres",
            "PostgreSQL: the rows of a SELECT (read-only transaction, statement timeout), streamed",
            schemes=("postgresql", "postgres"),
            options=("url", "auth", "query", "since", *DATABASE_KEYS),
            required=("url", "query"),
            url_example="postgresql://vsm_reader@db.internal:5432/claims",
        ),
        Database(
            "sqlite",
            "SQLite: the rows of a SELECT on a database file (opened read-only), streamed",
            schemes=("sqlite",),
            options=("url", "query", "since", "cursor_column", "cursor_overlap"),
            required=("url", "query"),
            url_example="sqlite:///path/to/claims.db",
        ),
    )
}
DEFAULT_OVERLAP = "1h"
DEFAULT_TIMEOUT = "30m"
BATCH_BYTES = 16 << 20  # PostgreSQL: about this much per record batch (bounded memory)


# ---------------------------------------------------------------- settings


def duration(text: str, key: str) -> timedelta:
    """'90s', '30m', '1h', '2d' as a timedelta (the settings' one duration syntax)."""
    from pipeline.settings import parse_duration

    return timedelta(seconds=parse_duration(text, f"[source] {key}"))


def check_url(db: Database, url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in db.schemes:
        raise SettingsError(
            f"[source] url = {_safe_url(url)!r}: expected a {db.name} URL, e.g. {db.url_example}"
        )
    if db.name == "sqlite":
        if not sqlite_path(url):
            raise SettingsError(f"[source] url = {url!r}: no file path; expected e.g. {db.url_example}")
        return
    parts = urlsplit(url)
    if parts.password is not None or "password=" in parts.query.lower():
        raise SettingsError(
            f"[source] url = {_safe_url(url)!r}: holds a password; put it in [source] auth "
            "(env:NAME or file:PATH) and leave it out of the URL"
        )
    if not parts.hostname:
        raise SettingsError(f"[source] url = {url!r}: no server; expected e.g. {db.url_example}")


def _safe_url(url: str) -> str:
    """The URL with any password replaced: what an error may show."""
    return re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1***@", re.sub(r"(?i)(password=)[^&]*", r"\1***", url))


def sqlite_path(url: str) -> str:
    """The file of a sqlite URL, as SQLAlchemy reads one: sqlite:///claims.db is relative (to
    the folder that holds streams/), sqlite:////data/claims.db absolute."""
    return url[len("sqlite:///") :] if url.lower().startswith("sqlite:///") else ""


def sqlite_file(settings) -> Path:
    path = Path(sqlite_path(settings.source.url)).expanduser()
    if path.is_absolute() or settings.path is None:
        return path
    return Path(settings.path).resolve().parent.parent / path


_STRIP = re.compile(
    r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\$([A-Za-z_]\w*|)\$.*?\$\1\$|`[^`]*`|\[[^\]]*\]",
    re.S,
)
# What may hide inside one SELECT and change data: a data-changing CTE (WITH d AS (DELETE ...)),
# SELECT ... INTO a new table, a row lock. Any other statement needs a ';' or another first word.
_WRITES = ("insert", "update", "delete", "merge", "into", "truncate")


def check_query(query: str) -> str:
    """The query without a trailing ';', or SettingsError unless it is one SELECT (WITH ...
    SELECT): a second statement, a data-changing CTE or SELECT INTO is refused before it is
    sent (the read-only transaction refuses them again on the server)."""
    body = query.strip()
    # literals and comments blanked out, in place: what is left is the statement's own text
    bare = _STRIP.sub(lambda m: " " * len(m.group(0)), body)
    if bare.rstrip().endswith(";"):  # one trailing ';' (a comment may follow it) ends the statement
        end = len(bare.rstrip()) - 1
        body, bare = body[:end].rstrip(), bare[:end].rstrip()
    if "'" in bare or '"' in bare or "/*" in bare:
        raise SettingsError(f"[source] query: an unterminated quote or comment in {_short(query)!r}")
    words = re.findall(r"[a-z_]+", bare.lower())
    if not words:
        raise SettingsError("[source] query is empty: expected a SELECT (or WITH ... SELECT)")
    if ";" in bare:
        raise SettingsError(
            f"[source] query = {_short(query)!r}: more than one statement; expected one SELECT"
        )
    first = re.match(r"\s*\(*\s*([a-z]+)", bare.lower())
    if not first or first.group(1) not in ("select", "with", "values", "table"):
        raise SettingsError(
            f"[source] query = {_short(query)!r}: not a SELECT (it starts with "
            f"{(first.group(1) if first else bare.split()[0]).upper()}); the source is only read"
        )
    found = sorted(set(words) & set(_WRITES))
    if found:
        raise SettingsError(
            f"[source] query = {_short(query)!r}: holds {', '.join(w.upper() for w in found)}; expected one "
            "SELECT that only reads (quote a column of that name)"
        )
    return body


def _short(text: str, limit: int = 80) -> str:
    one = " ".join(text.split())
    return one[:limit] + ("..." if len(one) > limit else "")


# ---------------------------------------------------------------- the read


@dataclass
class Window:
    """Where this read starts: a bound parameter and how the cursor is compared."""

    start: datetime | int | None  # None: no filter (first run without since, or no cursor column)
    how: str  # for the run's message

    def describe(self, column: str) -> str:
        if not column:
            return "every row of the query (no [source] cursor_column)"
        if self.start is None:
            return f"every row ({column} from the beginning: [source] since is empty); {self.how}"
        shown = (
            self.start.strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(self.start, datetime) else self.start
        )
        op = ">" if isinstance(self.start, int) else ">="
        return f"rows with {column} {op} {shown} ({self.how})"


def window(settings, stored: str | None) -> Window:
    """The read's start: from the stored cursor (minus the overlap for a timestamp), or since."""
    from connectors.systems import parse_since

    s = settings.source
    if not s.cursor_column:
        return Window(None, "no cursor")
    if stored is not None:
        if re.fullmatch(r"-?\d+", stored):
            return Window(int(stored), "after the stored cursor, an id")
        overlap = duration(s.cursor_overlap or DEFAULT_OVERLAP, "cursor_overlap")
        return Window(
            datetime.fromisoformat(stored) - overlap,
            f"the stored cursor minus the overlap of {s.cursor_overlap or DEFAULT_OVERLAP}",
        )
    if s.since:
        return Window(parse_since(s.since, settings.timezone), "[source] since")
    return Window(None, "first run")


def server_label(settings) -> str:
    """The server (or file) as messages name it: never a password."""
    s = settings.source
    if s.kind == "sqlite":
        return f"sqlite {sqlite_file(settings)}"
    parts = urlsplit(s.url)
    user = f"{parts.username}@" if parts.username else ""
    return f"postgres {user}{parts.hostname}:{parts.port or 5432}{parts.path}"


def sql_of(settings, win: Window, placeholder: str) -> str:
    """The statement sent: the query, wrapped with the cursor's filter when there is one."""
    s = settings.source
    query = check_query(s.query)
    if not s.cursor_column:
        return query
    column = '"' + s.cursor_column.replace('"', '""') + '"'
    inner = f"SELECT * FROM ({query}\n) AS vsm_source"
    if win.start is None:
        return inner
    if isinstance(win.start, int):
        return f"{inner} WHERE vsm_source.{column} > {placeholder}"
    if s.kind == "sqlite":  # text timestamps: compared as instants, 'T' or ' ' between date and time
        return f"{inner} WHERE julianday(vsm_source.{column}) >= julianday({placeholder})"
    return f"{inner} WHERE vsm_source.{column} >= CAST({placeholder} AS TIMESTAMPTZ)"


def parameter(settings, win: Window) -> list:
    if win.start is None:
        return []
    if isinstance(win.start, int):
        return [win.start]
    if settings.source.kind == "sqlite":  # a naive text timestamp is local time in the stream's zone
        return [win.start.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M:%S")]
    return [win.start.isoformat()]


def plan(settings, stored: str | None) -> list[str]:
    win = window(settings, stored)
    lines = [f"{server_label(settings)}: {sql_of(settings, win, '$1')}".replace("\n", " ")]
    if settings.source.kind == "postgres":
        timeout = settings.source.statement_timeout or DEFAULT_TIMEOUT
        lines.append(f"in a read-only transaction, statement timeout {timeout}")
    lines.append(win.describe(settings.source.cursor_column))
    return lines


@dataclass
class Read:
    path: Path  # the Parquet file holding the rows read
    rows: int
    cursor: str | None  # the highest cursor value read (None: no row or no cursor column)
    cleanup: Callable[[], None]


def read(settings, stored: str | None, on_stage=lambda _: None) -> tuple[Read, Window]:
    """Run the stream's query and stream its rows to a temporary Parquet file."""
    win = window(settings, stored)
    folder = Path(tempfile.mkdtemp(prefix="vsm-db-"))
    cleanup = lambda: shutil.rmtree(folder, ignore_errors=True)  # noqa: E731
    try:
        if settings.source.kind == "postgres":
            result = _read_postgres(settings, win, folder / "rows.parquet", on_stage)
        else:
            result = _read_sqlite(settings, win, folder / "rows.parquet", on_stage)
    except BaseException:
        cleanup()
        raise
    path, rows, top = result
    return Read(path, rows, top, cleanup), win


def _fail(settings, cause: str, secret: str = "") -> SystemSourceError:
    if secret:
        cause = cause.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return SystemSourceError(
        settings.source.kind,
        f"stream {settings.name!r} at {server_label(settings)[len(settings.source.kind) + 1 :]}",
        cause,
    )


def _driver_cause(error: BaseException) -> str:
    """libpq's own complaint in one line: 'FATAL:  password authentication failed ...'."""
    text = " ".join(str(error).split())
    text = re.sub(r"^[A-Z_]+: ", "", text)
    text = re.sub(r"^\[libpq\] (Execution error \[\w+\]: )?", "", text)
    text = re.sub(r"^Failed to (prepare|execute) query: ", "", text)
    text = re.split(r" (?:CONTEXT:|LINE \d+:|Query was:)|\.? SQLSTATE: ", text)[0]  # the cause, not the echo
    return text.strip() or type(error).__name__


def _read_postgres(settings, win: Window, out: Path, on_stage) -> tuple[Path, int, str | None]:
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as pg
    import pyarrow as pa

    from connectors.systems import resolve_auth

    s = settings.source
    secret = resolve_auth(s.auth, "postgres").reveal() if s.auth else ""
    parts = urlsplit(s.url)
    uri = s.url
    if secret:
        netloc = (
            f"{quote(parts.username or '', safe='')}:{quote(secret, safe='')}@{parts.netloc.split('@')[-1]}"
        )
        uri = parts._replace(scheme="postgresql", netloc=netloc).geturl()
    timeout = duration(s.statement_timeout or DEFAULT_TIMEOUT, "statement_timeout")
    sql = sql_of(settings, win, "$1")
    on_stage(f"reading {server_label(settings)}")
    try:
        with pg.connect(uri) as con, con.cursor() as cur:
            cur.execute("SET TRANSACTION READ ONLY")
            cur.execute(f"SET LOCAL statement_timeout = {int(timeout.total_seconds() * 1000)}")
            cur.execute(f"SET LOCAL TIME ZONE '{settings.timezone}'")  # a validated IANA name
            cur.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(BATCH_BYTES)})
            params = parameter(settings, win)
            cur.execute(sql, parameters=params or None)
            result = _stream(cur.fetch_record_batch(), out, settings, on_stage)
            con.rollback()  # read only: nothing to keep
            return result
    except (adbc_driver_manager.Error, pa.ArrowException, OSError) as error:  # Arrow's: mid-read
        raise _fail(settings, _driver_cause(error), secret) from None


def _read_sqlite(settings, win: Window, out: Path, on_stage) -> tuple[Path, int, str | None]:
    import adbc_driver_manager
    import adbc_driver_sqlite.dbapi as sqlite
    import pyarrow as pa

    path = sqlite_file(settings)
    if not path.is_file():
        raise _fail(settings, "no such database file")
    sql = sql_of(settings, win, "?")
    on_stage(f"reading {server_label(settings)}")
    try:
        with sqlite.connect(f"file:{quote(str(path))}?mode=ro") as con, con.cursor() as cur:
            params = parameter(settings, win)
            cur.execute(sql, parameters=params or None)
            return _stream(cur.fetch_record_batch(), out, settings, on_stage)
    except (adbc_driver_manager.Error, pa.ArrowException, OSError) as error:
        raise _fail(settings, _driver_cause(error)) from None


def _stream(reader, out: Path, settings, on_stage) -> tuple[Path, int, str | None]:
    """Write the reader's batches to `out` (Parquet), one at a time; the rows, the top cursor."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from connectors.base import RESERVED_COLUMNS

    schema = _plain(reader.schema)
    clash = [n for n in schema.names if n in RESERVED_COLUMNS]
    if clash:
        raise _fail(
            settings, f"the query has a column named {clash[0]!r}, which is reserved; rename it (AS ...)"
        )
    column = settings.source.cursor_column
    if column and column not in schema.names:
        raise _fail(
            settings,
            f"[source] cursor_column = {column!r} is not among the query's columns "
            f"({', '.join(schema.names)})",
        )
    rows, top = 0, None
    with pq.ParquetWriter(out, schema) as writer:
        for batch in reader:
            batch = pa.RecordBatch.from_arrays([_plain_array(a) for a in batch.columns], schema=schema)
            writer.write_batch(batch)
            rows += batch.num_rows
            if column:
                top = _higher(top, _top(batch.column(schema.get_field_index(column)), settings))
            on_stage(f"{settings.source.kind}: {rows:,} rows read")
    return out, rows, _cursor_text(top)


def _plain(schema):
    import pyarrow as pa

    return pa.schema([pa.field(f.name, _plain_type(f.type)) for f in schema])


def _plain_type(kind):
    import pyarrow as pa

    if isinstance(kind, pa.ExtensionType):  # numeric, json, ...: the driver's text
        return kind.storage_type
    return kind


def _plain_array(array):
    import pyarrow as pa

    return array.storage if isinstance(array.type, pa.ExtensionType) else array


def _top(array, settings):
    """The batch's highest cursor value: an int, or an aware datetime (UTC)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_integer(kind):
        value = pc.max(array).as_py()
        return int(value) if value is not None else None
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        value = pc.max(array).as_py()
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        import polars as pl

        parsed = pl.Series(array.to_pylist(), dtype=pl.String).str.to_datetime(strict=False, time_unit="us")
        value = parsed.max()
    else:
        raise _fail(
            settings,
            f"[source] cursor_column = {settings.source.cursor_column!r} is {kind}: "
            "expected a timestamp or an integer id",
        )
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:  # timestamp without time zone: local time in the stream's zone
        value = value.replace(tzinfo=ZoneInfo(settings.timezone))
    return value.astimezone(UTC)


def _higher(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _cursor_text(top) -> str | None:
    if top is None:
        return None
    return str(top) if isinstance(top, int) else top.isoformat()
