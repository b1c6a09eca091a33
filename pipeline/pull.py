"""Pull a system stream's changes since its stored cursor (connectors/systems.py), to memory.

The whole window is fetched before anything is written: the load that follows writes the
events and the new cursor in one transaction (pipeline/ingest.py), so a pull that fails or
is killed midway leaves the store, cursor included, as it was.

The cursor is kept per stream in `source_cursors` with its scope (system, URL, query,
table): a stream whose settings now point elsewhere starts again from `[source] since`
(events already stored are recognised by their event id and not added twice).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import duckdb
import polars as pl

from connectors.base import LINE_COLUMN
from connectors.database import DATABASES
from connectors.systems import (
    CASE,
    CHANGED_AT,
    CHANGED_BY,
    STATUS,
    SYSTEMS,
    TEAM,
    PullContext,
    SystemClient,
    SystemConnector,
    parse_since,
    resolve_auth,
)
from pipeline.settings import Columns, StreamSettings
from pipeline.store import read_sql


@dataclass
class Cursor:
    kind: str
    scope: str
    value: str


@dataclass
class Pulled:
    connector: str
    raw: pl.DataFrame
    label: str  # the source as runs.source and messages name it
    cursor: Cursor | None  # to store with the events (None: a database stream without a cursor)
    window: str  # what was fetched, for the run's message
    cleanup: Callable[[], None] = lambda: None  # a database pull's temporary file, once loaded


def system_of(settings: StreamSettings) -> SystemConnector | None:
    return SYSTEMS.get(settings.source.kind)


def source_label(settings: StreamSettings) -> str:
    s = settings.source
    what = s.query or s.table
    return f"{s.kind} {s.url}" + (f" ({what})" if what else "")


def system_columns(settings: StreamSettings) -> Columns:
    """The column roles of a system source's rows: fixed, team only when the system has one."""
    system = SYSTEMS[settings.source.kind]
    has_team = system.team == "builtin" or bool(settings.columns.team)
    return Columns(
        case_id=CASE,
        activity=[STATUS],
        timestamp=CHANGED_AT,
        resource=CHANGED_BY,
        team=TEAM if has_team else "",
    )


def scope(settings: StreamSettings) -> str:
    s = settings.source
    return "\x1f".join((s.kind, s.url.rstrip("/"), s.query, s.table))


def stored_cursor(con: duckdb.DuckDBPyConnection | None, stream: str) -> Cursor | None:
    if con is None:
        return None
    try:
        row = con.execute(read_sql("store/source_cursor.sql"), {"stream": stream}).fetchall()
    except duckdb.CatalogException:  # a store from before migration 009, opened read-only
        return None
    return Cursor(*row[0]) if row else None


def context(con, settings: StreamSettings) -> tuple[PullContext, Cursor | None]:
    """The pull's context (no client yet): options, and where the window starts."""
    system = SYSTEMS[settings.source.kind]
    s = settings.source
    cursor = stored_cursor(con, settings.name)
    resumable = cursor is not None and cursor.scope == scope(settings)
    if resumable:
        start = datetime.fromisoformat(cursor.value) - system.overlap
    else:
        start = parse_since(s.since or "1970-01-01", settings.timezone)
    ctx = PullContext(
        system=system,
        url=s.url,
        query=s.query,
        table=s.table,
        user=s.user,
        team_field=settings.columns.team if system.team == "field" else "",
        start=start,
        first_run=not resumable,
        cursor=cursor.value if resumable else "",
    )
    return ctx, cursor


def pull_events(con, settings: StreamSettings, on_stage=lambda _: None) -> Pulled:
    """Every change of the stream's system since its cursor, as one raw frame (with `_line`,
    the row's place in the pull) and the cursor to store with it."""
    ctx, stored = context(con, settings)
    system = ctx.system
    secret = resolve_auth(settings.source.auth, system.name)
    ctx.on_stage = on_stage
    on_stage(f"pulling from {system.name} {settings.source.url}")
    frames, new_cursor = [], None
    user = system.auth_user.format(user=settings.source.user)
    with SystemClient(system, settings.source.url, user, secret) as client:
        ctx.client = client
        for page in system.pull(ctx):
            frames.append(page.events)
            new_cursor = page.cursor
    raw = pl.concat(frames, how="vertical") if frames else _empty(system)
    if not system_columns(settings).team:  # no team: no column detection could take for one
        raw = raw.drop(TEAM)
    raw = raw.with_columns(pl.int_range(1, raw.height + 1, dtype=pl.UInt64).alias(LINE_COLUMN))
    # a connector that yielded no page moved nothing: the cursor stays (or starts at since)
    value = new_cursor or (stored.value if stored and not ctx.first_run else ctx.start.isoformat())
    return Pulled(
        connector=system.name,
        raw=raw,
        label=source_label(settings),
        cursor=Cursor(system.name, scope(settings), value),
        window=system.plan(ctx)[-1],
    )


def _empty(system: SystemConnector) -> pl.DataFrame:
    from connectors.systems import events_frame

    return events_frame([], system)


def dry_run(con, settings: StreamSettings) -> list[str]:
    """What `vsm ingest NAME` would fetch (endpoints, window), without a request or a write."""
    if settings.source.kind in DATABASES:
        return database_dry_run(con, settings)
    ctx, cursor = context(con, settings)
    lines = [f"stream {settings.name!r} pulls from {source_label(settings)}"]
    if cursor is not None and ctx.first_run:
        lines.append("the stored cursor is for other [source] settings: starting again from [source] since")
    lines += ctx.system.plan(ctx)
    lines.append("nothing fetched or written (--dry-run)")
    return lines


# ---------------------------------------------------------------- database sources (issue 17)


def database_scope(settings: StreamSettings) -> str:
    s = settings.source
    return "\x1f".join((s.kind, s.url, s.query, s.cursor_column))


def pull_database(con, settings: StreamSettings, on_stage=lambda _: None) -> Pulled:
    """The rows of the stream's query (connectors/database.py) since its stored cursor, as a
    Parquet-backed batched frame the load reads through DuckDB; `cleanup` removes the file."""
    from connectors import database
    from connectors.parquet import read_parquet_batches
    from pipeline.ingest import BATCH_ROWS

    stored = stored_cursor(con, settings.name)
    value = stored.value if stored is not None and stored.scope == database_scope(settings) else None
    done, win = database.read(settings, value, on_stage)
    try:
        if done.rows:
            raw = read_parquet_batches(done.path, BATCH_ROWS)
        else:  # nothing new: the query's columns, no row
            raw = pl.read_parquet(done.path).with_columns(pl.lit(None, pl.UInt64).alias(LINE_COLUMN))
    except BaseException:
        done.cleanup()
        raise
    new = done.cursor or value
    return Pulled(
        connector=settings.source.kind,
        raw=raw,
        label=database.server_label(settings),
        cursor=Cursor(settings.source.kind, database_scope(settings), new) if new else None,
        window=win.describe(settings.source.cursor_column),
        cleanup=done.cleanup,
    )


def database_dry_run(con, settings: StreamSettings) -> list[str]:
    from connectors import database

    stored = stored_cursor(con, settings.name)
    value = stored.value if stored is not None and stored.scope == database_scope(settings) else None
    lines = [f"stream {settings.name!r} reads {database.server_label(settings)}"]
    if stored is not None and value is None:
        lines.append("the stored cursor is for other [source] settings: starting again from [source] since")
    return [*lines, *database.plan(settings, value), "nothing read or written (--dry-run)"]
