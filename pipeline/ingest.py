"""Load an event-log source into the store: read, map columns, parse, check, insert.

One load is one transaction: it adds its new events, its rejects and its `runs` row
together, or (on any error) nothing at all. A file-drop stream ([source] path a glob,
pipeline/drops.py) makes one such load per new or changed file, each with its `source_files` row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from connectors.base import FIELD_COUNT_COLUMN, LINE_COLUMN, BatchedFrame
from connectors.database import DATABASES
from connectors.registry import read_source
from pipeline.columns import Mapping, detect_columns, source_columns
from pipeline.drops import is_glob, plan_drops, record_file
from pipeline.errors import (
    FileDropError,
    SettingsError,
    SourceError,
    TimestampFormatError,
    VsmError,
    first_line,
)
from pipeline.memory import memory_guard
from pipeline.nulls import null_values
from pipeline.settings import StreamSettings
from pipeline.store import query_frame, read_sql, sql_identifier, sql_literal
from pipeline.timestamps import naive_type, plan_timestamps

Stage = Callable[[str], None]
Raw = pl.DataFrame | BatchedFrame  # a source's raw rows: whole, or (large) in batches

# A source of more rows than this, where its connector can stream (Parquet), is loaded in
# batches of this many rows: memory stays bounded (a 100M-event log never sits in memory
# whole) and at 10M events the load's peak is a fraction of the whole frame's.
BATCH_ROWS = 2_000_000

# Beyond these sizes a row is refused (a reject naming row, column and size), not loaded: a
# mapped value (case id, activity, lifecycle, resource, team, timestamp, sequence) names
# something, appears in every visit, step and page of the report, and is never a megabyte
# long but in a broken export (an unclosed quote swallowing lines); and the text attributes
# of one row, kept as one JSON object, need a working copy of up to eight times their size
# in one piece while DuckDB writes that object (a 200 MB note asked for 2 GiB at once).
VALUE_MAX_BYTES = 1 << 20  # 1 MiB
ATTRIBUTES_MAX_BYTES = 64 << 20  # 64 MiB
# DuckDB's JSON writer also keeps each row's working copy (up to 12 times its text: six
# bytes a character, rounded up to a power of two) until the whole vector of up to 2048 rows
# is written: ten 30 MB notes in a row asked for 2.5 GB. So a row with more attribute text
# than LARGE_ATTRIBUTES_BYTES has its attributes written apart, in groups of rows holding at
# most LARGE_GROUP_BYTES (a larger row alone), and the working copies stay bounded.
LARGE_ATTRIBUTES_BYTES = 1 << 20  # 1 MiB
LARGE_GROUP_BYTES = 16 << 20  # 16 MiB
_TEXT_TYPES = (pl.String, pl.Categorical, pl.Binary)


@dataclass
class LoadResult:
    run_id: int
    stream: str
    source: str
    connector: str
    mapping: str
    timestamp_format: str
    timezone_note: str
    events_read: int
    events_loaded: int
    events_rejected: int
    events_known: int
    events_replaced: int = 0  # stored events replaced by this load's newer version ([columns] event_key)
    event_key: tuple[str, ...] = ()  # the roles of the event key ([columns] event_key; () = none)
    reject_reasons: list[tuple[str, int, int]] = field(default_factory=list)  # reason, count, first line
    missing_values: list[tuple[str, str, int]] = field(default_factory=list)  # column, token, values
    # a system source: the cursor stored with the events (pipeline/pull.py), and the window pulled
    cursor: object | None = None
    window: str = ""
    # a file-drop stream ([source] path a glob, pipeline/drops.py): the file this load stores
    # (its source_files row goes in with its events), and, for the whole run, each matched
    # file's line: loaded or skipped, and why
    source_file: object | None = None
    files: list[str] = field(default_factory=list)

    @property
    def missing_note(self) -> str:
        """Which missing-value tokens were read as missing where ('' when none)."""
        if not self.missing_values:
            return ""
        total = sum(n for _, _, n in self.missing_values)
        found = ", ".join(f"{token!r} in {column!r} ({n:,})" for column, token, n in self.missing_values)
        return f"{total:,} values were missing-value tokens, read as missing: {found}"

    @property
    def status(self) -> str:
        return "ok_with_rejects" if self.events_rejected else "ok"

    @property
    def replaced_note(self) -> str:
        """How many stored events this load replaced by a newer version ('' when none)."""
        if not self.events_replaced:
            return ""
        return (
            f"{self.events_replaced:,} stored events replaced by a newer version "
            f"(same {', '.join(self.event_key)})"
        )

    def message(self) -> str:
        return (
            f"connector {self.connector}; {self.mapping}; timestamps read as {self.timestamp_format}"
            + (f"; {self.timezone_note}" if self.timezone_note else "")
            + (f"; {self.missing_note}" if self.missing_note else "")
            + (f"; {self.replaced_note}" if self.replaced_note else "")
            + (f"; pulled {self.window}" if self.window else "")
        )


def read_events(settings: StreamSettings, source: Path | None = None) -> tuple[str, Raw]:
    """Read the stream's source with its connector: (connector name, raw rows)."""
    path = Path(source) if source else settings.source_path()
    with memory_guard(f"reading {path}", "split the log into smaller files"):
        connector, raw = read_source(
            path,
            settings.source.format,
            batch_rows=BATCH_ROWS,
            delimiter=settings.source.delimiter,
            encoding=settings.source.encoding,
            object_type=settings.source.object_type,
            member=settings.source.member,
            sheet=settings.source.sheet,
        )
    if raw.height == 0:
        raise SourceError(path, "contains no events")
    return connector.name, raw


def sample(raw: Raw) -> pl.DataFrame:
    """The rows that settings are detected from: all of them, or a batched source's first batch."""
    return raw.head if isinstance(raw, BatchedFrame) else raw


def stage_sql(
    head: pl.DataFrame,
    mapping: Mapping,
    relation: str,
    tokens: list[str] | None = None,
    counted: list[str] | None = None,
) -> str:
    """The staged rows that load/load_checked.sql checks, as a query over `relation` (the raw
    rows: the source's columns, typed as in `head`, and `_line`): canonical names for the
    mapped columns, their text stripped of white space (load/staging.sql), an empty
    optional cell as a missing value, and the other columns packed as a JSON object. A
    missing-value token (`tokens`, bound as $null_values) in an optional column or a text
    attribute is a missing value too; in the case id, activity and timestamp it stays, for
    load_checked.sql to reject the row. The tokens found in the `counted` columns are listed
    per row (tokens_found: NULL for a row without any; a NULL item per column without one),
    for _found_tokens to count: in the same pass, not in a second one over the source. Each
    counted column is stripped and tested against the tokens once, in an inner projection,
    and its flag reused (a test costs about 25 ns a value, and DuckDB repeated it for each
    use: 1M events, Parquet 0.22 and CSV 0.40 CPU-seconds went to the tokens).

    Staged by DuckDB, not polars: one parallel pass that writes the checked rows directly,
    where polars built a staged copy of every row first, and a Parquet source DuckDB reads
    itself never passes through Python (10M events: Parquet staged and checked in 3.3 s, not
    5.5 s; CSV in the same time, with 1.3 GB less memory at its peak)."""
    c = mapping.columns
    used = set(mapping.used())
    columns = source_columns(head)
    others = [col for col in columns if col not in used]

    def text(name: str) -> str:
        return f"strip_text(CAST({sql_identifier(name)} AS VARCHAR))" if name else "CAST(NULL AS VARCHAR)"

    # each counted column's stripped text and token flag, named in the inner projections
    flags = {col: (f"_vsm_text_{i}", f"_vsm_token_{i}") for i, col in enumerate(counted or []) if tokens}

    def optional(
        name: str,
    ) -> str:  # an empty cell is a missing value, not a resource named ''
        if not name:
            return "CAST(NULL AS VARCHAR)"
        if name in flags:
            t, k = flags[name]
            return f"CASE WHEN {k} OR {t} = '' THEN NULL ELSE {t} END"
        return f"null_token({text(name)}, $null_values)" if tokens else f"nullif({text(name)}, '')"

    if len(c.activity) == 1:
        activity = text(c.activity[0])
    else:  # status + sub-status, e.g. "Accepted / In Progress"; a missing part is left out
        activity = "concat_ws(' / ', " + ", ".join(text(a) for a in c.activity) + ")"
    sizes = _size_checks(head, mapping, others)
    if others:
        # built here only for a row with little attribute text; a larger one's are NULL here
        # and written apart (_write_large_attributes), a too large one's never
        packed = attributes_sql(head, mapping, tokens, {col: k for col, (_, k) in flags.items()})
        attributes = f"CASE WHEN {sizes.attributes_small} THEN {packed} END"
    else:
        attributes = "CAST(NULL AS JSON)"
    if FIELD_COUNT_COLUMN in head.columns:  # CSV: a record whose field count differs from the header's
        expected = len(columns)
        found = sql_identifier(FIELD_COUNT_COLUMN)
        field_problem = (
            f"CASE WHEN {found} <> {expected} THEN "
            f"'expected {expected} fields (as in the header), found ' || CAST({found} AS VARCHAR) END"
        )
    else:
        field_problem = "CAST(NULL AS VARCHAR)"
    start = sql_identifier(c.start_timestamp) if c.start_timestamp else "CAST(NULL AS VARCHAR)"
    sequence = text(c.sequence) if c.sequence else "CAST(NULL AS VARCHAR)"
    found = "CAST(NULL AS STRUCT(column_name VARCHAR, token VARCHAR)[])"
    if flags:
        found = (
            f"CASE WHEN {' OR '.join(k for _, k in flags.values())} THEN ["
            + ", ".join(
                f"CASE WHEN {k} THEN {{'column_name': {sql_literal(col)}, 'token': {t}}} END"
                for col, (t, k) in flags.items()
            )
            + "] END"
        )
        stripped = ", ".join(f"{text(col)} AS {t}" for col, (t, _) in flags.items())
        tested = ", ".join(f"is_token({t}, $null_values) AS {k}" for t, k in flags.values())
        relation = f"(SELECT *, {tested} FROM (SELECT *, {stripped} FROM {relation}))"
    return (
        f"SELECT CAST({sql_identifier(LINE_COLUMN)} AS UBIGINT) AS _line, {text(c.case_id)} AS case_id, "
        f"{activity} AS activity, lower({optional(c.lifecycle)}) AS lifecycle, "
        f"{optional(c.resource)} AS resource, {optional(c.team)} AS team, {attributes} AS attributes, "
        f"{field_problem} AS field_problem, {sql_identifier(c.timestamp)} AS ts_raw, {start} AS start_raw, "
        f"{sequence} AS sequence_raw, {sizes.problem} AS size_problem, {sizes.column} AS size_column, "
        f"{sizes.value} AS size_value, {found} AS tokens_found "
        f"FROM {relation}"
    )


def attributes_sql(
    head: pl.DataFrame, mapping: Mapping, tokens: list[str] | None, flags: dict[str, str] | None = None
) -> str:
    """The row's attributes (its source columns no role is mapped to), as a JSON object
    (NULL when there are none), over raw rows typed as in `head`; `flags` names, for a text
    column, the column already telling whether its value is a token (stage_sql)."""
    used = set(mapping.used())
    others = [col for col in source_columns(head) if col not in used]
    if not others:
        return "CAST(NULL AS JSON)"

    def attribute(name: str) -> str:
        value = _json_value(name, head.schema[name])
        if tokens and head.schema[name] in (pl.String, pl.Categorical):
            # an empty text stays what the source wrote: only a written token stands in for none
            text = f"strip_text(CAST({sql_identifier(name)} AS VARCHAR))"
            token = (flags or {}).get(name) or f"is_token({text}, $null_values)"
            return f"CASE WHEN {token} THEN NULL ELSE {value} END"
        return value

    return "json_object(" + ", ".join(f"{sql_literal(o)}, {attribute(o)}" for o in others) + ")"


def text_attributes(head: pl.DataFrame, mapping: Mapping) -> list[str]:
    """The attribute columns holding text: those measured against the size caps."""
    used = set(mapping.used())
    return [col for col in source_columns(head) if col not in used and head.schema[col] in _TEXT_TYPES]


@dataclass(frozen=True)
class _SizeChecks:
    """SQL expressions over the raw rows for the values too large to load (VALUE_MAX_BYTES,
    ATTRIBUTES_MAX_BYTES): the reason (NULL when the row fits), the column, the start of the
    value, and whether the row's attributes are small enough to write with the others."""

    problem: str
    column: str
    value: str
    attributes_small: str


def _size_checks(head: pl.DataFrame, mapping: Mapping, others: list[str]) -> _SizeChecks:
    """Only text columns are measured (a number or a date is never large); a byte count is
    kept with every DuckDB string, so the checks cost next to nothing per row."""
    c = mapping.columns
    roles = [
        ("a case id", c.case_id),
        *(("an activity", a) for a in c.activity),
        ("a timestamp", c.timestamp),
        ("a start timestamp", c.start_timestamp),
        ("a lifecycle", c.lifecycle),
        ("a resource", c.resource),
        ("a team", c.team),
        ("a sequence", c.sequence),
    ]
    roles = [(what, col) for what, col in roles if col and head.schema[col] in _TEXT_TYPES]
    texts = [col for col in others if head.schema[col] in _TEXT_TYPES]

    def size(
        col: str,
    ) -> str:  # bytes: strlen counts them (a character may take up to four)
        if head.schema[col] == pl.Binary:
            return f"coalesce(octet_length({sql_identifier(col)}), 0)"
        return f"coalesce(strlen(CAST({sql_identifier(col)} AS VARCHAR)), 0)"

    def start(col: str) -> str:
        return f"left(CAST({sql_identifier(col)} AS VARCHAR), 40) || '...'"

    def largest_of(texts: list[str], then) -> str:  # the largest attribute's `then(col)`
        if len(texts) == 1:
            return then(texts[0])
        most = f"greatest({', '.join(size(col) for col in texts)})"
        return "CASE " + " ".join(f"WHEN {size(col)} = {most} THEN {then(col)}" for col in texts) + " END"

    def allowed(cap: int) -> str:
        return f"at most {cap >> 20} MiB ({cap:,} bytes) allowed"

    problems, columns, values = [], [], []
    for what, col in roles:
        when = f"WHEN {size(col)} > {VALUE_MAX_BYTES} THEN "
        problems.append(
            f"{when}'value too large: ' || format('{{:,}}', {size(col)}) || ' bytes in ' || "
            f"quoted({sql_literal(col)}) || ', {allowed(VALUE_MAX_BYTES)} for "
            f"{what} (the whole row is kept in rejects.raw)'"
        )
        columns.append(when + sql_literal(col))
        values.append(when + start(col))
    small = "true"
    if texts:
        total = " + ".join(size(col) for col in texts)
        small = f"({total}) <= {LARGE_ATTRIBUTES_BYTES}"
        when = f"WHEN ({total}) > {ATTRIBUTES_MAX_BYTES} THEN "
        problems.append(
            f"{when}'attributes too large: ' || format('{{:,}}', {total}) || ' bytes in the columns kept "
            f"as attributes (largest: ' || quoted({largest_of(texts, sql_literal)}) || '), "
            f"{allowed(ATTRIBUTES_MAX_BYTES)} in one row (the whole row is kept in rejects.raw)'"
        )
        columns.append(when + largest_of(texts, sql_literal))
        values.append(when + largest_of(texts, start))
    if not problems:
        return _SizeChecks(
            "CAST(NULL AS VARCHAR)",
            "CAST(NULL AS VARCHAR)",
            "CAST(NULL AS VARCHAR)",
            small,
        )
    return _SizeChecks(*(f"CASE {' '.join(parts)} END" for parts in (problems, columns, values)), small)


def _json_value(name: str, dtype: pl.DataType) -> str:
    """A source column as a JSON attribute value, written as polars writes it: NaN and
    infinities (not JSON) as null, also inside a list of numbers; an instant with a time
    zone as UTC text in ISO form ('2011-10-31T14:25:02.728+00:00'), not in the session's."""
    column = sql_identifier(name)
    if dtype.is_float():
        return f"CASE WHEN isfinite({column}) THEN {column} END"
    if isinstance(dtype, pl.List) and dtype.inner.is_float():
        return f"list_transform({column}, lambda v: CASE WHEN isfinite(v) THEN v END)"
    if isinstance(dtype, pl.Datetime) and dtype.time_zone:  # as UTC, as polars writes it
        return f"time_text(timezone('UTC', {column}), 'T') || '+00:00'"
    if isinstance(dtype, pl.Datetime):
        return f"time_text({column}, ' ')"
    if dtype == pl.Binary:
        return f"CAST({column} AS VARCHAR)"
    return column


def timezone_note(naive: int, tz: str) -> str:
    if not naive:
        return ""
    return f"{naive:,} timestamp values have no UTC offset and were read as {tz} local time"


def ingest(
    con: duckdb.DuckDBPyConnection,
    settings: StreamSettings,
    *,
    source: Path | None = None,
    read: tuple[str, Raw] | None = None,
    on_stage: Stage = lambda _: None,
) -> LoadResult:
    """Load the stream's source (or `source`) into the store, atomically.

    `read` passes a (connector, raw frame) already read from that source, so that a
    one-shot `vsm discover` reads the file once.
    """
    started = datetime.now(UTC)
    pulled = None
    if settings.source.kind != "file":  # a system: pull what changed since the stored cursor
        from pipeline.pull import pull_events, system_columns

        if source is not None:
            raise SettingsError(
                f"stream {settings.name!r} pulls from {settings.source.kind} ([source] kind); "
                "it loads no file: drop --source"
            )
        if settings.source.kind in DATABASES:  # the query's own columns, mapped as a file's
            from pipeline.pull import pull_database

            pulled = pull_database(con, settings, on_stage)
            given = settings.columns
        else:
            pulled = pull_events(con, settings, on_stage)
            given = system_columns(settings)
        path, read = pulled.label, (pulled.connector, pulled.raw)
    else:
        path = Path(source) if source else settings.source_path()
        if source is None and read is None and is_glob(settings.source.path):
            return ingest_drops(con, settings, path, on_stage)
        given = settings.columns
    if read is None:
        on_stage(f"reading {path}")
        read = read_events(settings, path)
    try:
        return _load(con, settings, path, read, given, pulled, started, on_stage)
    finally:
        if pulled is not None:
            pulled.cleanup()  # a database pull's temporary file


def ingest_drops(con, settings: StreamSettings, pattern: Path, on_stage: Stage) -> LoadResult:
    """Load the new and changed files a glob `[source] path` matches, in name order, each in
    its own transaction with its `source_files` row (pipeline/drops.py); skip the others,
    saying why. A file that fails stops the run there, naming it and what was loaded before it.
    The result adds up the files' loads (run_id: the last one's)."""
    on_stage(f"looking for files matching {pattern}")
    plan = plan_drops(con, settings.name, pattern)
    to_load = [d for d in plan if d.action == "load"]
    results: list[LoadResult] = []
    for i, drop in enumerate(to_load):
        on_stage(f"reading {drop.path} (file {i + 1} of {len(to_load)})")
        try:
            read = read_events(settings, drop.path)
            result = _load(
                con, settings, drop.path, read, settings.columns, None, datetime.now(UTC), on_stage, drop
            )
        except VsmError as error:
            done = ", ".join(f"{r.source} (run {r.run_id})" for r in results) or "none"
            rest = len(to_load) - i - 1
            later = f"{rest} later file{'s' if rest != 1 else ''}"
            raise FileDropError(
                f"{error} [file {i + 1} of {len(to_load)} to load from {pattern}; loaded before it: {done}; "
                f"{later} not tried: the next run starts again at this file]",
                error.exit_code,
            ) from error
        del read
        results.append(result)
    files = [d.line() for d in plan]
    if not results:  # nothing new or changed: a runs row says so
        from types import SimpleNamespace

        skipped = SimpleNamespace(label=str(pattern), connector="file drop", cursor=None, window="")
        result = _nothing_read(
            con,
            settings,
            skipped,
            datetime.now(UTC),
            mapping=f"no file new or changed ({len(plan)} matched, all skipped)",
        )
        result.files = files
        return result
    last = results[-1]
    total = LoadResult(
        run_id=last.run_id,
        stream=settings.name,
        source=str(pattern),
        connector=last.connector,
        mapping=last.mapping,
        timestamp_format=last.timestamp_format,
        timezone_note="; ".join(r.timezone_note for r in results if r.timezone_note),
        events_read=sum(r.events_read for r in results),
        events_loaded=sum(r.events_loaded for r in results),
        events_rejected=sum(r.events_rejected for r in results),
        events_known=sum(r.events_known for r in results),
        events_replaced=sum(r.events_replaced for r in results),
        event_key=last.event_key,
        # which file's line: a reason names its file
        reject_reasons=[
            (f"{reason} (in {Path(r.source).name})", n, line)
            for r in results
            for reason, n, line in r.reject_reasons
        ],
        missing_values=[x for r in results for x in r.missing_values],
        files=files,
    )
    return total


def _load(con, settings, path, read, given, pulled, started, on_stage, drop=None) -> LoadResult:
    connector, raw = read
    if pulled is not None and raw.height == 0 and settings.source.kind in DATABASES:
        return _nothing_read(con, settings, pulled, started)
    head = sample(raw)  # a batched source is planned from its first batch
    mapping = detect_columns(head, given, source=str(path))
    c = mapping.columns
    try:
        ts_plan = plan_timestamps(
            head[c.timestamp],
            column=c.timestamp,
            user_format=settings.source.timestamp_format,
        )
        start_plan = (
            plan_timestamps(
                head[c.start_timestamp],
                column=c.start_timestamp,
                user_format=settings.source.timestamp_format,
            )
            if c.start_timestamp
            else None
        )
    except TimestampFormatError as exc:
        raise TimestampFormatError(f"{path}: {exc}") from exc
    result = LoadResult(
        run_id=0,
        stream=settings.name,
        source=str(path),
        connector=connector,
        mapping=mapping.describe(),
        timestamp_format=ts_plan.description,
        timezone_note=timezone_note(
            sum(p.naive_values for p in (ts_plan, start_plan) if p), settings.timezone
        ),
        events_read=raw.height,
        events_loaded=0,
        events_rejected=0,
        events_known=0,
        event_key=tuple(settings.columns.event_key),
    )
    if pulled is not None:
        result.cursor, result.window = pulled.cursor, pulled.window
    result.source_file = drop
    on_stage("checking rows")
    _write(con, settings, raw, ts_plan, start_plan, mapping, result, started, on_stage)
    return result


def _write(con, settings, raw, ts_plan, start_plan, mapping, result, started, on_stage) -> None:
    c = mapping.columns
    params = {"stream": settings.name, "source": result.source}
    batched = isinstance(raw, BatchedFrame)
    relation = raw.relation if batched else ""
    head = sample(raw)
    query = read_sql("load/load_checked.sql")
    query = query.replace("{ts_expr}", ts_plan.sql("ts_raw"))
    query = query.replace(
        "{start_expr}",
        start_plan.sql("start_raw") if start_plan else "CAST(NULL AS TIMESTAMPTZ)",
    )
    # last: the staging names source columns, whose names may hold anything
    tokens = null_values(settings.source.null_values)
    counted = _token_columns(head, mapping) if tokens else []
    query = query.replace("{staged}", stage_sql(head, mapping, relation or "load_raw", tokens, counted))
    counts: dict[tuple[str, str], int] = {}
    checks = {
        "null_values": tokens,
        "sequence_column": c.sequence,
        "ts_expected": ts_plan.description,
        "start_expected": start_plan.description if start_plan else "",
        "case_column": c.case_id,
        "activity_column": " + ".join(c.activity),
        "ts_column": c.timestamp,
        "start_column": c.start_timestamp,
    }
    plans = [p for p in (ts_plan, start_plan) if p]
    large = _LargeAttributes(attributes_sql(head, mapping, tokens), text_attributes(head, mapping), tokens)
    # The checked rows are built outside the transaction: they are this connection's temp
    # tables, not the store, and appended inside one, every batch costs memory beyond
    # DuckDB's limit (measured: twice the rows' size), which a 100M-event load cannot afford.
    # The store changes (events, rejects, runs) are one transaction below.
    if _first_load(con, raw, settings.name) and not _tokens_likely(head, counted, tokens):
        # straight into events, no temp table of every row
        plain = "reason IS NULL AND tokens_found IS NULL" + (
            " AND attributes IS NOT NULL" if _has_attributes(head, mapping) else ""
        )
        checked = query.rstrip().removesuffix(";")  # a subquery of the statements that read it
        first = _FirstLoad(raw, checked, checks, plain, plans, counts, settings.timezone, large)
        on_stage("writing to the store")
        if not relation:  # one frame: the checked rows' query reads it as load_raw
            con.register("load_raw", raw.to_arrow(compat_level=pl.CompatLevel.newest()))
        try:
            with memory_guard("writing the load to the store", "split the log into smaller files"):
                _insert(con, params, raw.height, result, started, first)
        finally:
            if not relation:
                con.unregister("load_raw")
            con.execute("RESET disabled_optimizers")  # if _first_events stopped before it did
            _end_load(con)
        return
    con.execute(f"SET TimeZone = '{settings.timezone}'")  # validated IANA name
    try:
        with memory_guard("checking the load", "split the log into smaller files"):
            _check(
                con,
                raw,
                query,
                checks,
                plans,
                counts,
                result,
                settings.timezone,
                large,
            )
            con.execute(read_sql("load/copy_numbers.sql"))
        con.execute("SET TimeZone = 'UTC'")
        result.missing_values = _missing_values(counts)
        on_stage("writing to the store")
        with memory_guard("writing the load to the store"):
            _insert(con, params, raw.height, result, started)
    finally:  # _check_batch lets go of its registered frames itself
        _end_load(con)


def _end_load(con) -> None:
    """However a load ended: the session back in UTC, its temp tables gone."""
    con.execute("SET TimeZone = 'UTC'")
    for table in ("load_checked", "load_reject_raw", *LOAD_TABLES):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _missing_values(counts: dict) -> list[tuple[str, str, int]]:
    """The missing-value tokens counted ((column, token) -> values), most frequent first."""
    return sorted(
        ((column, token, n) for (column, token), n in counts.items()), key=lambda x: (-x[2], x[0], x[1])
    )


def _first_load(con, raw: Raw, stream: str) -> bool:
    """Whether this load can write its rows straight into `events` (_first_events): the
    stream has no events yet (nothing to recognise or replace), and the source is read in one
    statement (a relation DuckDB reads itself, or one frame). A source read in several
    batches checks them into load_checked one at a time, outside the transaction."""
    if isinstance(raw, BatchedFrame) and not raw.relation:
        return False
    return not stream_has_events(con, stream)


def stream_has_events(con, stream: str) -> bool:
    """Whether the store holds any event of `stream` (it stops at the first)."""
    found = con.execute(
        "SELECT count(*) FROM (SELECT 1 FROM events WHERE stream = $stream LIMIT 1)", {"stream": stream}
    )
    return bool(found.fetchall()[0][0])


# The first rows of the source looked at for missing-value tokens (_tokens_likely).
TOKEN_SAMPLE_ROWS = 10_000


def _tokens_likely(head: pl.DataFrame, counted: list[str], tokens: list[str]) -> bool:
    """Whether the first rows hold a missing-value token in a counted column: then many rows
    likely do (an export writes 'NULL' for every empty value of a column), each of which a
    first load would check again in its second pass (_first_events: 10M events with a token
    in each, 6% more CPU and 10% more memory than checking them once into load_checked), so
    the load takes the other path. Tokens only further on are still loaded and counted right."""
    wanted = [t for t in tokens if t]  # an empty value is no token (is_token)
    if not counted or not wanted:
        return False
    rows = head.head(TOKEN_SAMPLE_ROWS)
    found = rows.select(
        pl.any_horizontal(pl.col(c).cast(pl.String).str.strip_chars().is_in(wanted).any() for c in counted)
    )
    return bool(found.item())


def _has_attributes(head: pl.DataFrame, mapping: Mapping) -> bool:
    """Whether the rows carry attributes (source columns no role is mapped to): then a row's
    are NULL in the checked rows only when they are written apart (large ones)."""
    used = set(mapping.used())
    return any(col not in used for col in source_columns(head))


@dataclass(frozen=True)
class _FirstLoad:
    """What a first load (_first_events) checks and writes: the raw rows, the checked rows'
    query and its parameters, which checked rows are plain (written straight into events),
    the timestamp plans (naive values), the token counts to fill, the stream's timezone and
    how to write large attributes."""

    raw: Raw
    query: str
    checks: dict
    plain: str
    plans: list
    counts: dict
    tz: str
    large: _LargeAttributes


def _first_events(con, params: dict, first: _FirstLoad, result: LoadResult) -> int:
    """Inside the load's transaction, the first load of a stream: write its plain rows (clean,
    no missing-value token, attributes written with the others) straight from the source into
    `events` (load/insert_checked_events.sql), then, only if some row was left out, check the
    others into load_checked in a second pass and add its clean ones
    (load/insert_first_events.sql); number the repeated events (load/first_copy_numbers.sql),
    if the added events' content hashes show that any may repeat (_repeats).
    load_checked holds what the rest of the load reads (rejects, tokens), as after `_check`;
    when the first pass added every row there is none (nothing to reject: `_insert`).
    How many events were added."""
    raw = first.raw
    relation = raw.relation if isinstance(raw, BatchedFrame) else ""  # else: `load_raw` (_write)
    con.execute(read_sql("load/staging.sql"))
    con.execute("CREATE OR REPLACE TEMP TABLE load_reject_raw (_line UBIGINT, raw VARCHAR)")
    con.execute(f"SET TimeZone = '{first.tz}'")  # validated IANA name: naive times read in it
    insert = read_sql("load/insert_checked_events.sql").replace("{plain}", first.plain)
    insert = insert.replace("{checked}", first.query)
    # Which rows are plain is known only once they are checked: pushed below the checks (as
    # DuckDB's optimizer does with a filter), the test would check every row twice.
    con.execute(f"SET disabled_optimizers = '{NO_FILTER_PUSHDOWN}'")
    inserted = _read_through(con, insert, first.checks | params, Path(result.source)).fetchall()[0][0]
    if inserted < raw.height:  # some row was left out: the second pass. Else no load_checked at all
        others = f"SELECT * FROM ({first.query}) AS c WHERE NOT ({first.plain})"
        _check_relation(con, others, first.checks, Path(result.source))
    con.execute("RESET disabled_optimizers")
    if inserted < raw.height:
        if relation:
            _write_large_attributes(con, _deferred_rows(con, relation, first.large), first.large)
        else:
            _write_large_attributes(con, raw, first.large)
        _found_tokens(con, first.counts)
    con.execute("SET TimeZone = 'UTC'")  # raw rows and times come out as read
    if relation:
        result.timezone_note = timezone_note(
            _naive_in(con, relation, first.plans, sample(raw).schema), first.tz
        )
    if inserted < raw.height:
        if relation:
            _keep_reject_raw(con, relation)
        else:
            bad = query_frame(con, "SELECT _line FROM load_checked WHERE reason IS NOT NULL")["_line"]
            if not bad.is_empty():
                lines = raw[LINE_COLUMN].cast(pl.UInt64)
                _add_reject_raw(con, raw.filter(lines.is_in(bad.implode())))
        inserted += con.execute(read_sql("load/insert_first_events.sql"), params | {"base": 0}).fetchall()[0][
            0
        ]
    run = {"stream": params["stream"], "run_id": params["run_id"]}
    if _repeats(con.execute(read_sql("load/first_content_hashes.sql"), run).fetchnumpy()["content_hash"]):
        con.execute(read_sql("load/first_copy_numbers.sql"), run)
    result.missing_values = _missing_values(first.counts)
    return inserted


def _repeats(content_hashes) -> bool:
    """Whether some content hash occurs twice: some event may repeat another (or two contents
    share a hash), and load/first_copy_numbers.sql must number the run's events. When none
    does, no event repeats and every copy_no is 1 as inserted: the numbering's grouping of
    every event by content (10M events: 1.5 CPU-seconds) is left out for a count of the
    distinct hashes (load/first_content_hashes.sql: 0.45 s)."""
    return pl.Series(content_hashes).n_unique() < len(content_hashes)


def _check(
    con,
    raw: Raw,
    query: str,
    checks: dict,
    plans,
    counts: dict,
    result: LoadResult,
    tz: str,
    large,
):
    """Stage, parse and check every raw row into load_checked, and the whole raw rows of the
    rejects into load_reject_raw: one statement over a source DuckDB reads itself, else batch
    by batch. Notes the naive timestamps (result.timezone_note) where the plan could not."""
    batched = isinstance(raw, BatchedFrame)
    relation = raw.relation if batched else ""
    con.execute(read_sql("load/staging.sql"))
    con.execute("CREATE OR REPLACE TEMP TABLE load_reject_raw (_line UBIGINT, raw VARCHAR)")
    if relation:  # DuckDB reads the source itself, in one statement
        _check_relation(con, query, checks, Path(result.source))
        _write_large_attributes(con, _deferred_rows(con, relation, large), large)
        _found_tokens(con, counts)
        con.execute("SET TimeZone = 'UTC'")  # raw rows and times come out as read
        result.timezone_note = timezone_note(_naive_in(con, relation, plans, sample(raw).schema), tz)
        _keep_reject_raw(con, relation)
        return
    naive = 0
    for i, frame in enumerate(raw.batches() if batched else [raw]):
        _check_batch(con, query, checks, frame, first=i == 0)
        _write_large_attributes(con, frame, large)
        if batched:
            naive += sum(p.naive_in(frame[p.column]) for p in plans)
    _found_tokens(con, counts)
    if batched:
        result.timezone_note = timezone_note(naive, tz)
        _release_arrow_memory()


@dataclass(frozen=True)
class _LargeAttributes:
    """How to write the attributes of the rows whose are written apart: the JSON object's SQL
    over raw rows, the text columns measured, and the missing-value tokens it binds."""

    sql: str
    texts: list[str]
    tokens: list[str]


def _deferred_rows(con, relation: str, large: _LargeAttributes) -> pl.DataFrame | None:
    """The raw rows (read again through `relation`) of the loadable rows of load_checked whose
    attributes were left to write apart: with attribute columns, no other row lacks them."""
    if not large.texts:
        return None
    pending = "SELECT _line FROM load_checked WHERE reason IS NULL AND attributes IS NULL"
    if not con.execute(f"SELECT count(*) FROM ({pending})").fetchall()[0][0]:
        return None
    return con.sql(f"SELECT * FROM {relation} WHERE _line IN ({pending})").pl()


def _write_large_attributes(con, rows: pl.DataFrame | None, large: _LargeAttributes) -> None:
    """Write into load_checked the attributes of those of `rows` (raw rows) that hold more
    attribute text than LARGE_ATTRIBUTES_BYTES (and no more than ATTRIBUTES_MAX_BYTES: those
    are rejects), a group of rows of at most LARGE_GROUP_BYTES of it at a time."""
    if rows is None or rows.is_empty() or not large.texts:
        return
    sizes = rows.select(pl.sum_horizontal(_text_bytes(rows, col) for col in large.texts).alias("n"))["n"]
    pick = (sizes > LARGE_ATTRIBUTES_BYTES) & (sizes <= ATTRIBUTES_MAX_BYTES)
    if not pick.any():
        return
    rows, start, held = rows.filter(pick), 0, 0
    for i, n in enumerate(sizes.filter(pick).to_list()):
        if i > start and held + n > LARGE_GROUP_BYTES:
            _update_attributes(con, rows.slice(start, i - start), large)
            start, held = i, 0
        held += n
    _update_attributes(con, rows.slice(start), large)


def _text_bytes(rows: pl.DataFrame, col: str) -> pl.Expr:
    if rows.schema[col] == pl.Binary:
        return pl.col(col).bin.size().fill_null(0)
    return pl.col(col).cast(pl.String).str.len_bytes().fill_null(0)


def _update_attributes(con, rows: pl.DataFrame, large: _LargeAttributes) -> None:
    con.register("load_large", rows.to_arrow(compat_level=pl.CompatLevel.newest()))
    try:
        con.execute(
            "UPDATE load_checked SET attributes = s.attributes, "
            "version_hash = hash(s.attributes, load_checked.sequence) FROM "
            f"(SELECT CAST({sql_identifier(LINE_COLUMN)} AS UBIGINT) AS _line, {large.sql} AS attributes "
            "FROM load_large) AS s WHERE load_checked._line = s._line AND load_checked.reason IS NULL",
            {"null_values": large.tokens} if "$null_values" in large.sql else None,
        )
    finally:
        con.unregister("load_large")


def _check_relation(con, query: str, checks: dict, path: Path) -> None:
    """Stage, parse and check a source DuckDB reads itself into load_checked."""
    _read_through(con, "CREATE OR REPLACE TEMP TABLE load_checked AS " + query, checks, path)


def _read_through(con, statement: str, params: dict, path: Path) -> duckdb.DuckDBPyConnection:
    """Run a statement that reads the source `path` (through its relation). A file that
    breaks off past the part read for detection (a damaged page) is a SourceError."""
    try:
        return con.execute(statement, params)
    except duckdb.Error as error:
        message = first_line(error)
        if "Failed to read file" not in message:
            raise
        detail = message.split(": ", 2)[-1]
        raise SourceError(path, f"cannot be read to its end (damaged or truncated?): {detail}") from error


def _naive_in(con, relation: str, plans, schema: pl.Schema) -> int:
    """How many timestamp values of the source (read through `relation`, its columns typed
    as in `schema`) have no offset and are read in the stream's timezone: a typed column by
    its type (timestamps.naive_type), its values counted in SQL; a text column streamed
    through in batches, its values judged as the plan reads them."""
    naive = 0
    for plan in plans:
        column = sql_identifier(plan.column)
        if plan.kind == "native":
            if naive_type(schema[plan.column]):
                naive += con.execute(f"SELECT count({column}) FROM {relation}").fetchall()[0][0]
            continue
        reader = con.sql(f"SELECT {column} FROM {relation}").to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            naive += plan.naive_in(pl.Series(batch.column(0)))
    return naive


def _release_arrow_memory() -> None:
    """Hand the memory of the batches read back to the system: pyarrow's pool keeps what it
    freed (about 1.5 GB after a 10M-event file), which the flow that follows could use."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


# The optimizer a first load's statements run without (_first_events).
NO_FILTER_PUSHDOWN = "filter_pushdown"

# The temp tables of the insert step (load/fresh_events.sql, replace_events.sql).
LOAD_TABLES = ("load_fresh", "load_replaced")

# Each role's column in load_checked and in events (they are named alike), for the event key.
KEY_COLUMNS = {
    "case_id": "case_id",
    "activity": "activity",
    "timestamp": "ts",
    "lifecycle": "lifecycle",
    "resource": "resource",
    "team": "team",
    "start_timestamp": "start_ts",
    "sequence": "sequence",
}


def _replace_events(con, params: dict, event_key: tuple[str, ...], base: int) -> int | None:
    """Inside the load's transaction: delete the stored events of which this load holds a
    newer version (load/replace_events.sql: same event key, paired by ordinal among the
    changed ones), for load/insert_events.sql to add the newer one; and store the
    version_hash of events this load has unchanged where it was missing (events loaded
    before migration 008). How many were replaced; None when the stream has no events yet
    (nothing to compare with: load/insert_first_events.sql adds every row). `base`: the
    stream's largest event_id (0: none)."""
    stream = {"stream": params["stream"]}
    if not base and not stream_has_events(con, params["stream"]):
        return None
    con.execute(read_sql("load/fresh_events.sql"), stream)
    con.execute("CREATE OR REPLACE TEMP TABLE load_replaced (event_id BIGINT, _line UBIGINT)")
    if con.execute("SELECT count(*) FROM load_fresh WHERE stored_id IS NOT NULL").fetchall()[0][0]:
        con.execute(read_sql("load/unchanged_events.sql"), stream)
        con.execute(read_sql("load/refresh_versions.sql"), stream)
    changed = con.execute("SELECT count(*) FROM load_fresh WHERE NOT unchanged").fetchall()[0][0]
    if not event_key or not changed:
        return 0
    columns = [KEY_COLUMNS[role] for role in event_key]
    query = read_sql("load/replace_events.sql")
    query = query.replace("{key_match}", " AND ".join(f"f.{c} IS NOT DISTINCT FROM s.{c}" for c in columns))
    query = query.replace("{key}", ", ".join(columns))
    con.execute(query, stream)
    replaced = con.execute("SELECT count(*) FROM load_replaced").fetchall()[0][0]
    if replaced:
        con.execute(read_sql("load/delete_replaced.sql"), stream)
    return replaced


def _insert(
    con, params: dict, rows: int, result: LoadResult, started: datetime, first: _FirstLoad | None = None
) -> None:
    """Add the checked rows to the store: new events (replacing older versions of keyed
    events), rejects and the `runs` row, together. `first`: a stream's first load, whose
    rows are checked and written here (_first_events), not in load_checked beforehand."""
    con.execute("BEGIN TRANSACTION")
    try:
        run_id = con.execute("SELECT nextval('run_id_seq')").fetchall()[0][0]
        result.run_id = run_id
        params["run_id"] = run_id
        if first is not None:
            inserted = _first_events(con, params, first, result)
        else:
            # new events are numbered after the stream's largest event_id (load/insert_events.sql)
            base = con.execute(
                "SELECT coalesce(max(event_id), 0) FROM events WHERE stream = $stream",
                {"stream": params["stream"]},
            ).fetchall()[0][0]
            replaced = _replace_events(con, params, result.event_key, base)
            insert = "load/insert_first_events.sql" if replaced is None else "load/insert_events.sql"
            result.events_replaced = replaced or 0
            inserted = con.execute(read_sql(insert), params | {"base": base}).fetchall()[0][0]
        # a replacing row is always inserted (load/replace_events.sql pairs no other)
        result.events_loaded = inserted - result.events_replaced
        if first is not None and inserted == rows:
            # a first load that added every row rejected none, and made no load_checked
            # (_first_events): nothing to count or keep
            bad_lines = 0
        else:
            bad_lines = con.execute("SELECT count(*) FROM load_checked WHERE reason IS NOT NULL").fetchall()[
                0
            ][0]
            con.execute(read_sql("load/insert_rejects.sql"), params)
            result.reject_reasons = [
                (r[0], r[1], r[2])
                for r in con.execute(
                    "SELECT regexp_replace(reason, ':.*', ''), count(*), min(_line) FROM load_checked "
                    "WHERE reason IS NOT NULL GROUP BY 1 ORDER BY 2 DESC"
                ).fetchall()
            ]
        result.events_rejected = bad_lines
        clean = rows - bad_lines
        result.events_known = clean - inserted
        con.execute(
            "INSERT INTO runs (run_id, stream, kind, source, started_at, finished_at, status, events_read, "
            "events_loaded, events_rejected, events_known, message, events_replaced) "
            "VALUES ($run_id, $stream, 'ingest', $source, $started, $finished, $status, "
            "$read, $loaded, $rejected, $known, $message, $replaced)",
            params
            | {
                "started": started,
                # after the events and rejects are in: now() would be the transaction's start
                "finished": datetime.now(UTC),
                "status": result.status,
                "read": result.events_read,
                "loaded": result.events_loaded,
                "rejected": result.events_rejected,
                "known": result.events_known,
                "message": result.message(),
                "replaced": result.events_replaced,
            },
        )
        if result.cursor is not None:  # a system source: its cursor moves with its events
            _store_cursor(con, params, result.cursor)
        if result.source_file is not None:  # a dropped file: recorded with its events
            record_file(con, params["stream"], run_id, result.source_file)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _nothing_read(
    con, settings: StreamSettings, pulled, started: datetime, mapping: str = "no row read"
) -> LoadResult:
    """A database read that returned no row (nothing new since the cursor): a `runs` row says
    so, the cursor is stored (kept) with it; no column or format to detect from no row."""
    result = LoadResult(
        run_id=0,
        stream=settings.name,
        source=pulled.label,
        connector=pulled.connector,
        mapping=mapping,
        timestamp_format="nothing",
        timezone_note="",
        events_read=0,
        events_loaded=0,
        events_rejected=0,
        events_known=0,
        cursor=pulled.cursor,
        window=pulled.window,
    )
    params = {"stream": settings.name, "source": result.source}
    con.execute("BEGIN TRANSACTION")
    try:
        result.run_id = params["run_id"] = con.execute("SELECT nextval('run_id_seq')").fetchall()[0][0]
        con.execute(
            "INSERT INTO runs (run_id, stream, kind, source, started_at, finished_at, status, events_read, "
            "events_loaded, events_rejected, events_known, message, events_replaced) "
            "VALUES ($run_id, $stream, 'ingest', $source, $started, $finished, 'ok', 0, 0, 0, 0, "
            "$message, 0)",
            params | {"started": started, "finished": datetime.now(UTC), "message": result.message()},
        )
        if result.cursor is not None:
            _store_cursor(con, params, result.cursor)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return result


def _store_cursor(con, params: dict, cursor) -> None:
    con.execute(
        read_sql("load/upsert_cursor.sql"),
        {
            "stream": params["stream"],
            "kind": cursor.kind,
            "scope": cursor.scope,
            "cursor": cursor.value,
            "run_id": params["run_id"],
            "updated_at": datetime.now(UTC),
        },
    )


def _token_columns(head: pl.DataFrame, mapping: Mapping) -> list[str]:
    """The text columns in which missing-value tokens are read as missing and counted: the
    optional roles (lifecycle, resource, team, start timestamp, sequence) and the attributes.
    (In the case id, activity or timestamp a token rejects the row, and the rejects count it.)"""
    c = mapping.columns
    required = {c.case_id, *c.activity, c.timestamp}
    return [
        col
        for col in source_columns(head)
        if col not in required and head.schema[col] in (pl.String, pl.Categorical)
    ]


def _found_tokens(con, counts: dict) -> None:
    """Add to `counts` ((column, token) -> values) the missing-value tokens the rows of
    load_checked were found to hold (stage_sql's tokens_found)."""
    for column, token, n in con.execute(
        "SELECT f.column_name, f.token, count(*) FROM "
        "(SELECT unnest(tokens_found) AS f FROM load_checked WHERE tokens_found IS NOT NULL) "
        "WHERE f IS NOT NULL GROUP BY ALL"
    ).fetchall():
        counts[(column, token)] = counts.get((column, token), 0) + n


def _check_batch(
    con,
    query: str,
    checks: dict,
    raw: pl.DataFrame,
    *,
    first: bool,
) -> None:
    """Stage, parse and check one batch of raw rows into load_checked, and keep the whole raw
    row of each row that cannot load (for `rejects`) in load_reject_raw.

    Arrow string views (CompatLevel.newest) hand polars' strings to DuckDB without a copy."""
    con.register("load_raw", raw.to_arrow(compat_level=pl.CompatLevel.newest()))
    try:
        con.execute(
            ("CREATE OR REPLACE TEMP TABLE load_checked AS " if first else "INSERT INTO load_checked ")
            + query,
            checks,
        )
    finally:
        con.unregister("load_raw")
    lines = raw[LINE_COLUMN].cast(pl.UInt64)
    bad_lines = query_frame(
        con,
        "SELECT _line FROM load_checked WHERE reason IS NOT NULL AND _line BETWEEN $lo AND $hi",
        {"lo": lines.min(), "hi": lines.max()},
    )["_line"]
    if not bad_lines.is_empty():
        _add_reject_raw(con, raw.filter(lines.is_in(bad_lines.implode())))


def _keep_reject_raw(con, relation: str) -> None:
    """Keep the whole raw rows of the rows that cannot load, read again through `relation`
    (a source DuckDB reads itself), a batch of them at a time, and written through polars
    exactly as a batched load writes them."""
    bad = con.execute("SELECT count(*) FROM load_checked WHERE reason IS NOT NULL").fetchall()[0][0]
    for offset in range(0, bad, BATCH_ROWS):
        lines = (
            "SELECT _line FROM load_checked WHERE reason IS NOT NULL "
            f"ORDER BY _line LIMIT {BATCH_ROWS} OFFSET {offset}"
        )
        _add_reject_raw(con, con.sql(f"SELECT * FROM {relation} WHERE _line IN ({lines})").pl())


def _add_reject_raw(con, bad: pl.DataFrame) -> None:
    """Add raw rows that cannot load to load_reject_raw: line, and the whole row as JSON."""
    reject_raw = bad.select(
        pl.col(LINE_COLUMN).cast(pl.UInt64).alias("_line"),
        pl.struct([col for col in bad.columns if col != LINE_COLUMN]).struct.json_encode().alias("raw"),
    )
    con.register("load_reject_batch", reject_raw.to_arrow())
    try:
        con.execute("INSERT INTO load_reject_raw SELECT _line, raw FROM load_reject_batch")
    finally:
        con.unregister("load_reject_batch")
