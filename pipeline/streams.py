"""Setting up a value stream: detect its settings from a source, write them, and the
one-shot `discover` path (detect, load, and later: compute, map, report)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import polars as pl

from pipeline.columns import Mapping, detect_columns
from pipeline.discovery import preload
from pipeline.drops import check_pattern, is_glob, matched_files
from pipeline.errors import SettingsError
from pipeline.flow import FlowResult, compute_flow
from pipeline.ingest import LoadResult, Raw, Stage, ingest, read_events, sample, stream_has_events
from pipeline.settings import (
    DEFAULT_STREAMS_DIR,
    Columns,
    Source,
    StreamSettings,
    check_stream_name,
    check_window,
    list_streams,
    load_settings,
    read_settings,
    settings_path,
    write_settings,
)
from pipeline.store import query_frame, read_sql

# XES lifecycle transitions (standard extension). A lifecycle column holding other values
# is a sub-status (e.g. BPIC 2013: Accepted + "In Progress"), combined into the activity.
STANDARD_LIFECYCLE = {
    "schedule",
    "assign",
    "reassign",
    "start",
    "suspend",
    "resume",
    "complete",
    "withdraw",
    "ate_abort",
    "pi_abort",
    "autoskip",
    "manualskip",
    "unknown",
    "abort",
}


@dataclass
class InitResult:
    settings: StreamSettings
    path: Path
    notes: list[str] = field(default_factory=list)
    alternatives: dict[str, list[str]] = field(default_factory=dict)  # role -> other candidates

    def mapping(self) -> str:
        """The columns used for each role, and what else was possible."""
        return Mapping(self.settings.columns, self.alternatives).describe()


def _relative_to_project(source: Path, streams_dir: Path) -> str:
    """How the settings file names the source: relative to the project folder when inside it."""
    project = Path(streams_dir).resolve().parent
    resolved = Path(source).resolve()
    try:
        return str(resolved.relative_to(project))
    except ValueError:
        return str(resolved)


def detect_settings(
    name: str,
    source: Path,
    raw: pl.DataFrame,
    *,
    columns: Columns | None = None,
    source_options: Source | None = None,
    timezone: str = "UTC",
    streams_dir: Path = DEFAULT_STREAMS_DIR,
) -> tuple[StreamSettings, list[str], dict[str, list[str]]]:
    """Settings for a new stream from what its source shows; notes say what was inferred, and
    the alternatives (role -> other candidate columns) what else was possible."""
    check_stream_name(name)
    given = columns or Columns()
    mapping = detect_columns(raw, given, source=str(source))
    cols = mapping.columns
    notes = []
    if cols.lifecycle and not given.activity and not given.lifecycle:
        # the distinct values lower-cased, not every value (10M events: 0.1 s, not 0.4 s)
        values = raw[cols.lifecycle].cast(pl.String).drop_nulls().unique().str.to_lowercase().unique()
        nonstandard = [v for v in values.to_list() if v not in STANDARD_LIFECYCLE]
        if values.len() and len(nonstandard) > values.len() / 2:
            notes.append(
                f"column {cols.lifecycle!r} holds sub-statuses ({', '.join(sorted(nonstandard)[:4])}, ...), "
                f"not start/complete: activity = {cols.activity[0]!r} + {cols.lifecycle!r}"
            )
            cols.activity = [*cols.activity, cols.lifecycle]
            cols.lifecycle = ""
    options = source_options or Source()
    settings = StreamSettings(
        name=name,
        source=Source(
            path=_relative_to_project(source, streams_dir),
            format=options.format or "auto",
            delimiter=options.delimiter,
            encoding=options.encoding,
            object_type=options.object_type,
            member=options.member,
            sheet=options.sheet,
            timestamp_format=options.timestamp_format,
        ),
        columns=cols,
        timezone=timezone,
    )
    settings.path = settings_path(name, streams_dir)
    return settings, notes, mapping.alternatives


def init_stream(
    name: str,
    source: Path,
    *,
    columns: Columns | None = None,
    source_options: Source | None = None,
    timezone: str = "UTC",
    streams_dir: Path = DEFAULT_STREAMS_DIR,
    force: bool = False,
    read: tuple[str, Raw] | None = None,
) -> InitResult:
    """Detect and write `streams/<name>.toml`. Refuses to overwrite unless `force`."""
    path = settings_path(name, streams_dir)
    if path.exists() and not force:
        raise SettingsError(f"{path} exists already; edit it, or pass --force to write it anew")
    probe = StreamSettings(name=name, source=source_options or Source())
    probe.source.path = str(source)
    sample_file, drop_note = Path(source), []
    if is_glob(source):  # a file drop: the columns are detected from the first file it matches
        check_pattern(str(source), "--source")
        sample_file = matched_files(Path(source))[0]
        drop_note = [
            f"path is the glob {source}: columns detected from its first file, {sample_file}; each "
            "ingest loads the files new or changed since the last run"
        ]
    if read is None:
        read = read_events(probe, sample_file)
    settings, notes, alternatives = detect_settings(
        name,
        Path(source),
        sample(read[1]),
        columns=columns,
        source_options=source_options,
        timezone=timezone,
        streams_dir=streams_dir,
    )
    write_settings(settings, path)
    return InitResult(settings, path, drop_note + notes, alternatives)


# discover's options on a stream whose settings exist: (settings table, key) -> the option.
# An option given with a value the settings file does not hold is refused, not ignored
# (check_options_agree). A new column or source option adds its row here.
OPTION_KEYS: dict[tuple[str, str], str] = {
    ("columns", "case_id"): "--case-column",
    ("columns", "activity"): "--activity-column",
    ("columns", "timestamp"): "--timestamp-column",
    ("columns", "lifecycle"): "--lifecycle-column",
    ("columns", "resource"): "--resource-column",
    ("columns", "team"): "--team-column",
    ("columns", "start_timestamp"): "--start-column",
    ("columns", "sequence"): "--sequence-column",
    ("source", "format"): "--format",
    ("source", "delimiter"): "--delimiter",
    ("source", "encoding"): "--encoding",
    ("source", "object_type"): "--object-type",
    ("source", "timestamp_format"): "--timestamp-format",
    ("source", "member"): "--member",
    ("source", "sheet"): "--sheet",
    ("stream", "timezone"): "--timezone",
}


def _shown(value) -> str:
    if isinstance(value, list):
        return repr(value[0]) if len(value) == 1 else repr(value)
    return repr(value)


def check_options_agree(
    settings: StreamSettings,
    columns: Columns | None,
    source_options: Source | None,
    timezone: str | None,
) -> None:
    """Refuse options that differ from the stream's settings file, which a run reads instead
    of them: one line naming each differing option and how to change the settings. An option
    not given (empty; "auto" for the format) or given with the stored value is fine."""
    given = {"columns": columns or Columns(), "source": source_options or Source()}
    defaults = {"columns": Columns(), "source": Source()}
    stored = {"columns": settings.columns, "source": settings.source}
    differences = []
    for (table, key), option in OPTION_KEYS.items():
        if table == "stream":
            value, have = timezone, settings.timezone
            if value is None:
                continue
        else:
            value, have = getattr(given[table], key), getattr(stored[table], key)
            if value == getattr(defaults[table], key):
                continue
        if value != have:
            differences.append(f"[{table}] {key} = {_shown(have)}; {option} {_shown(value)} differs")
    if differences:
        path = settings.path or settings_path(settings.name)
        raise SettingsError(
            f"{path} exists with " + "; ".join(differences) + ": edit the file, or write it anew with "
            f"`vsm init {settings.name} --source FILE --force ...`"
        )


def init_system_stream(
    name: str,
    source: Source,
    *,
    team: str = "",
    columns: Columns | None = None,
    timezone: str = "UTC",
    streams_dir: Path = DEFAULT_STREAMS_DIR,
    force: bool = False,
) -> InitResult:
    """Write `streams/<name>.toml` for a stream pulled from a system or read from a database
    (`source.kind`): no request is made; the settings are validated as any settings file is.
    `columns`: a database source's [columns] (its query's columns, detected when empty)."""
    path = settings_path(name, streams_dir)
    if path.exists() and not force:
        raise SettingsError(f"{path} exists already; edit it, or pass --force to write it anew")
    settings = StreamSettings(
        name=name, source=source, columns=columns or Columns(team=team), timezone=timezone
    )
    write_settings(settings, path)
    notes = [
        f"`vsm ingest {name}` pulls from {source.kind}; "
        f"`vsm ingest {name} --dry-run` shows what it would fetch"
    ]
    return InitResult(settings, path, notes)


def plan_ingest(db: Path, settings: StreamSettings, source: Path | None = None) -> list[str]:
    """What `vsm ingest` would do, without reading or writing: a system stream's endpoints and
    window (from its stored cursor), or the file it would read."""
    if settings.source.kind == "file":
        path = Path(source) if source else settings.source_path()
        if source is None and is_glob(settings.source.path):
            return _plan_drops(db, settings, path)
        return [
            f"stream {settings.name!r} reads {path} (format {settings.source.format}): only events not "
            "stored yet are added, then the flow is recomputed",
            "nothing read or written (--dry-run)",
        ]
    if source is not None:
        raise SettingsError(
            f"stream {settings.name!r} pulls from {settings.source.kind} ([source] kind); it loads no "
            "file: drop --source"
        )
    from pipeline.pull import dry_run
    from pipeline.store import open_store

    if not Path(db).exists():
        return dry_run(None, settings)
    with open_store(db, read_only=True) as con:
        return dry_run(con, settings)


def _plan_drops(db: Path, settings: StreamSettings, pattern: Path) -> list[str]:
    """The files a glob `[source] path` matches, each to load or skip and why (against the
    store's source_files, read only; every file is new when there is no store yet)."""
    from pipeline.drops import plan_drops
    from pipeline.store import open_store

    if Path(db).exists():
        with open_store(db, read_only=True) as con:
            plan = plan_drops(con, settings.name, pattern)
    else:
        plan = plan_drops(None, settings.name, pattern)
    loads = sum(d.action == "load" for d in plan)
    return [
        f"stream {settings.name!r} reads the files matching {pattern} (format {settings.source.format}): "
        f"{len(plan)} matched, {loads} to load, {len(plan) - loads} to skip; in name order, each in its "
        "own transaction",
        *(d.line() for d in plan),
        "nothing read or written (--dry-run)",
    ]


def _system_label(settings: StreamSettings) -> str:
    from pipeline.pull import source_label

    return source_label(settings)


@dataclass
class DiscoverResult:
    settings: StreamSettings
    settings_written: bool
    notes: list[str]
    load: LoadResult
    flow: FlowResult | None = None
    report: Path | None = None


def discover(
    con: duckdb.DuckDBPyConnection,
    source: Path,
    name: str,
    *,
    columns: Columns | None = None,
    source_options: Source | None = None,
    timezone: str | None = None,
    streams_dir: Path = DEFAULT_STREAMS_DIR,
    on_stage: Stage = lambda _: None,
    compute: bool = True,
    coverage: float | None = None,
    reports_dir: Path | None = None,
    png: bool = True,
    window: str | None = None,
) -> DiscoverResult:
    """The one-shot path: settings (existing, or detected and written), load, compute the flow.

    `coverage` overrides the map's [discovery] coverage for this run, `window` its [flow]
    window (use_window); `reports_dir` receives
    <stream>/ with the discovered BPMN / PNML model and the report (none when not given)."""
    path = settings_path(name, streams_dir)
    notes: list[str] = []
    source_options = source_options or Source()
    if path.exists():
        settings = read_settings(path)
        if settings.source.kind != "file":
            raise SettingsError(
                f"stream {name!r} pulls from {settings.source.kind} ({path}: [source] kind); it loads no "
                f"file: run `vsm ingest {name}`"
            )
        check_options_agree(settings, columns, source_options, timezone)
        if Path(settings.source_path()).resolve() != Path(source).resolve():
            notes.append(f"stream {name!r} was set up with {settings.source.path}; loading {source} into it")
        on_stage(f"reading {source}")
        read = read_events(settings, Path(source))
        written = False
    else:
        probe = StreamSettings(name=name, source=source_options)
        on_stage(f"reading {source}")
        read = read_events(probe, Path(source))
        result = init_stream(
            name,
            source,
            columns=columns,
            source_options=source_options,
            timezone=timezone or "UTC",
            streams_dir=streams_dir,
            read=read,
        )
        settings, notes, written = result.settings, result.notes, True
    use_window(settings, window)  # refused before the load, not after it
    if compute:
        preload()  # pm4py's import (for discovery, last) overlaps the load's single-threaded parts
    load = ingest(con, settings, source=Path(source), read=read, on_stage=on_stage)
    del read  # the raw rows are in the store now: free them (gigabytes at 10M events) before the flow
    if coverage is not None:
        settings.discovery.coverage = coverage
    rest = refresh(
        con, settings, load=False, compute=compute, reports_dir=reports_dir, png=png, on_stage=on_stage
    )
    return DiscoverResult(settings, written, notes, load, rest.flow, rest.report)


def use_window(settings: StreamSettings, window: str | None) -> None:
    """`--window` for this run, over the settings' [flow] window (checked here, before any
    load or compute, and named as --window in its errors); None keeps the settings'."""
    if window is None:
        return
    check_window(window, settings.timezone, "--window")
    settings.window, settings.window_key = window, "--window"


def use_engine(settings: StreamSettings, engine: str | None, out_dir: Path | None = None) -> None:
    """`--engine` over [engine] name (None keeps the settings'); `--out` only where Parquet
    results are written (spark), checked before the store is opened."""
    from pipeline.settings import ENGINES, EngineSettings

    if engine is not None:
        if engine not in ENGINES:
            raise SettingsError(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")
        if engine != settings.engine.name:  # the settings' spark_* keys are the spark engine's
            settings.engine = (
                EngineSettings(name=engine) if engine == "duckdb" else replace(settings.engine, name=engine)
            )
    if out_dir is not None and settings.engine.name != "spark":
        raise SettingsError(
            f"--out {out_dir}: Parquet results are written by the spark engine (--engine spark); a "
            f"{settings.engine.name} compute keeps its results in the store (vsm export writes them out)"
        )


@dataclass
class RefreshResult:
    load: LoadResult | None
    flow: FlowResult | None
    report: Path | None
    run_notes: list[str] = field(default_factory=list)  # what the run chose not to do, and why


def refresh(
    con: duckdb.DuckDBPyConnection,
    settings: StreamSettings,
    *,
    load: bool = True,
    source: Path | None = None,
    compute: bool = True,
    reports_dir: Path | None = None,
    png: bool = True,
    on_stage: Stage = lambda _: None,
    full: bool = False,
    on_loaded: Callable[[LoadResult], None] = lambda _: None,
    out_dir: Path | None = None,
) -> RefreshResult:
    """The nightly path: load what is new, recompute the flow, write the model and the report.

    The compute is incremental (the cases whose events changed) unless `full`.
    Each step publishes atomically; a failure stops the run before the next step. `on_loaded`
    hears the load's result as soon as it commits, so a later step's failure does not lose it.
    The compute runs on [engine] (settings.engine; `out_dir`: the spark engine's Parquet results)."""
    if compute and load:
        preload()  # as in discover(): pm4py's import overlaps the load
    loaded = ingest(con, settings, source=source, on_stage=on_stage) if load else None
    if loaded is not None:
        on_loaded(loaded)
    run_notes = []
    pulled = loaded is not None and (loaded.cursor is not None or loaded.events_read == 0)
    if compute and pulled and not stream_has_events(con, settings.name):
        # a system stream whose query has matched nothing yet: a pull, not a failure
        compute = False
        run_notes.append(
            f"no events for stream {settings.name!r} yet ({loaded.source} matched none): "
            "the flow is computed once a pull brings some"
        )
    model_dir = reports_dir / settings.name if reports_dir else None
    flow = (
        compute_flow(con, settings, model_dir=model_dir, on_stage=on_stage, full=full, out_dir=out_dir)
        if compute
        else None
    )
    page = None
    if flow is not None and reports_dir is not None:
        from pipeline.report import report_time, write_report  # the report's code loads only when used

        on_stage("writing the report")
        # the map the compute drew for its snapshot is the store's map now: not drawn twice
        page = write_report(
            con, settings.name, reports_dir, settings, report_time(), png=png, drawn=flow.map_svg
        )
    return RefreshResult(loaded, flow, page, run_notes)


def stream_overview(
    con: duckdb.DuckDBPyConnection | None, streams_dir: Path = DEFAULT_STREAMS_DIR
) -> pl.DataFrame:
    """One row per stream known by settings or by the store: source, events, cases, last load."""
    names = set(list_streams(streams_dir))
    stored = pl.DataFrame(
        schema={
            "stream": pl.String,
            "events": pl.Int64,
            "cases": pl.Int64,
            "rejected": pl.Int64,
            "last_load": pl.String,
        }
    )
    if con is not None:
        stored = query_frame(con, read_sql("store/stream_overview.sql"))
        names |= set(stored["stream"].to_list())
    rows = []
    for name in sorted(names):
        try:
            found = load_settings(name, streams_dir)
            source = found.source.path if found.source.kind == "file" else _system_label(found)
        except SettingsError:
            source = "(no settings file)"
        rows.append({"stream": name, "source": source})
    listing = pl.DataFrame(rows, schema={"stream": pl.String, "source": pl.String})
    return listing.join(stored, on="stream", how="left").with_columns(
        pl.col("events", "cases", "rejected").fill_null(0)
    )
