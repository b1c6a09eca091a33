"""The `vsm` command line: a thin layer over the `pipeline` library.

Each command parses its options, calls one library function, prints the result and exits.
Errors cross one boundary (`_boundary`): a typed VsmError becomes one `Error: ...` line and
its exit code; an interrupt (Ctrl-C, SIGTERM), in whatever form it arrives, one line and
exit 130; anything else is an internal error (exit 70). `--debug` shows tracebacks.
"""

from __future__ import annotations

import gc
import os
import sys
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from connectors.database import DATABASES
from connectors.systems import SYSTEMS
from pipeline import interrupts
from pipeline.errors import VsmError
from pipeline.quick_imports import collector_paused

T = TypeVar("T")
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="vsm",
    help="Value stream maps measured from event logs: load logs, compute flow, query results.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # never show locals: connectors hold credentials
    rich_markup_mode=None,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[Path, typer.Option("--db", help="The DuckDB store file.")]
WaitOption = Annotated[
    float,
    typer.Option("--wait", help="Seconds to wait for another run writing the same store before giving up."),
]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")]
StreamsDirOption = Annotated[
    Path, typer.Option("--streams-dir", help="Folder of the streams' settings files (<name>.toml).")
]
DEFAULT_DB = Path("vsm.duckdb")
REPORTS = Path("reports")  # per stream: the discovered model (BPMN, PNML) and the report
DEFAULT_STREAMS = Path("streams")


def _boundary(debug: bool, action: Callable[[], T]) -> T:
    try:
        with interrupts.armed():
            result = action()
    except BaseException as exc:
        if interrupts.received() or interrupts.caused_by_interrupt(exc):
            _report_interrupt()
        if _out_of_memory(exc):  # a step without its own guard: still an expected condition
            from pipeline.memory import out_of_memory

            exc = out_of_memory("running the command")
        if isinstance(exc, VsmError):
            if debug:
                traceback.print_exc()
            err.print(f"Error: {exc}", markup=False, highlight=False)
            raise typer.Exit(exc.exit_code) from None
        if not isinstance(exc, Exception):
            raise  # SystemExit, typer's own exits
        if debug:  # the one place that turns a bug into a clean exit code
            traceback.print_exc()
        err.print(
            f"Error: internal error ({type(exc).__name__}: {exc}); run again with --debug for the traceback",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(EXIT_INTERNAL) from None
    if interrupts.received():  # swallowed on the way, but the run was interrupted all the same
        _report_interrupt()
    return result


def _out_of_memory(exc: BaseException) -> bool:
    duckdb = sys.modules.get("duckdb")  # not imported here: `vsm --help` stays fast
    return isinstance(exc, MemoryError) or (
        duckdb is not None and isinstance(exc, duckdb.OutOfMemoryException)
    )


def _report_interrupt() -> NoReturn:
    """One line, exit 130. Every step writes in one transaction, which the interrupt rolled
    back (or which had committed before it): the store holds what completed steps wrote."""
    err.print(
        f"Error: interrupted ({interrupts.received() or 'SIGINT'}); the step in progress was rolled back, "
        "the store keeps what the steps before it completed",
        markup=False,
        highlight=False,
    )
    raise typer.Exit(EXIT_INTERRUPTED) from None


@contextmanager
def _progress():
    """A spinner with the current stage and elapsed time, on stderr, gone when done; none
    when stderr is not a terminal (rich would leave an empty line in a nightly run's log)."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("starting", total=None)

        def stage(description: str) -> None:
            interrupts.check()  # an interrupt something swallowed stops the run here
            progress.update(task, description=description)

        yield stage


# ---------------------------------------------------------------- options shared by init/discover

CaseColumn = Annotated[str, typer.Option("--case-column", help="Source column holding the case id.")]
ActivityColumn = Annotated[
    list[str] | None,
    typer.Option("--activity-column", help="Source column holding the activity/status (repeat to combine)."),
]
TimestampColumn = Annotated[
    str, typer.Option("--timestamp-column", help="Source column holding the timestamp.")
]
LifecycleColumn = Annotated[str, typer.Option("--lifecycle-column", help="Column with start/complete.")]
ResourceColumn = Annotated[str, typer.Option("--resource-column", help="Column with the person.")]
TeamColumn = Annotated[str, typer.Option("--team-column", help="Column with the team / group.")]
StartColumn = Annotated[str, typer.Option("--start-column", help="Column with a start timestamp per row.")]
SequenceColumn = Annotated[
    str,
    typer.Option(
        "--sequence-column", help="Column of whole numbers ordering a case's events at one instant."
    ),
]
FormatOption = Annotated[
    str,
    typer.Option(
        "--format", help="auto, csv, parquet, jsonl, xes, ocel or excel (also inside .gz, .zst, .zip)."
    ),
]
TimestampFormat = Annotated[
    str, typer.Option("--timestamp-format", help="strftime format of the timestamps, e.g. '%d/%m/%Y %H:%M'.")
]
TimezoneOption = Annotated[
    str | None, typer.Option("--timezone", help="IANA zone for naive timestamps (default UTC).")
]
DelimiterOption = Annotated[str, typer.Option("--delimiter", help="CSV delimiter (default: detected).")]
EncodingOption = Annotated[str, typer.Option("--encoding", help="CSV encoding (default: detected).")]
ObjectType = Annotated[str, typer.Option("--object-type", help="OCEL: the object type that is the case.")]
MemberOption = Annotated[
    str,
    typer.Option("--member", help="A .zip holding several files: the one to read (default: its one log)."),
]
SheetOption = Annotated[str, typer.Option("--sheet", help="Excel: the sheet to read (default: the first).")]
PngOption = Annotated[
    bool,
    typer.Option(
        "--png/--no-png",
        help="Also write map.png, rendered by headless Chromium (about a second); --no-png for nightly runs.",
    ),
]
FullOption = Annotated[
    bool,
    typer.Option(
        "--full",
        help="Recompute every case; by default only the cases whose events changed since the last "
        "compute are (a full recompute also when the settings or the activities changed).",
    ),
]
CoverageOption = Annotated[
    float | None,
    typer.Option(
        "--coverage",
        min=0.01,
        max=1.0,
        help="Map the most visited steps covering this share of visits; fold the rest into 'other'.",
    ),
]


WindowOption = Annotated[
    str | None,
    typer.Option(
        "--window",
        help="The measurement window: 2026-03-01..2026-03-14, 2026-03, 2026-Q1, 2026, 'last 14d' or all "
        "(default: the settings' [flow] window, else all).",
    ),
]


UrlOption = Annotated[str, typer.Option("--url", help="System source: the instance's base URL.")]
QueryOption = Annotated[
    str, typer.Option("--query", help="System source: jira JQL; servicenow an encoded query on --table.")
]
TableOption = Annotated[str, typer.Option("--table", help="servicenow: the case table (default incident).")]
UserOption = Annotated[
    str, typer.Option("--user", help="System source: the account (jira, zendesk: e-mail; servicenow: user).")
]
AuthOption = Annotated[
    str,
    typer.Option("--auth", help="System source: env:NAME or file:PATH holding the token; never the token."),
]
SinceOption = Annotated[
    str, typer.Option("--since", help="System source: where the first pull starts (2025-01-01).")
]
CursorColumnOption = Annotated[
    str,
    typer.Option(
        "--cursor-column",
        help="Database source: the query's column whose newer values each run reads (timestamp or id).",
    ),
]


def _columns(case, activity, timestamp, lifecycle, resource, team, start, sequence=""):
    from pipeline.settings import Columns

    return Columns(
        case_id=case,
        activity=list(activity or []),
        timestamp=timestamp,
        lifecycle=lifecycle,
        resource=resource,
        team=team,
        start_timestamp=start,
        sequence=sequence,
    )


def _source_options(fmt, delimiter, encoding, object_type, timestamp_format, member="", sheet=""):
    from pipeline.settings import Source

    if delimiter == "\\t":
        delimiter = "\t"
    return Source(
        format=fmt,
        delimiter=delimiter,
        encoding=encoding,
        object_type=object_type,
        member=member,
        sheet=sheet,
        timestamp_format=timestamp_format,
    )


def _refuse_given(options: dict, why: str) -> None:
    """A SettingsError for the first option given (non-empty) that `why` leaves no use for."""
    from pipeline.errors import SettingsError

    for option, value in options.items():
        if value:
            shown = (
                "(hidden)" if option == "--auth" and not str(value).startswith(("env:", "file:")) else value
            )
            raise SettingsError(f"{option} {shown}: {why}; it has no use for it")


def _print_load(load) -> None:
    out.print(
        f"Loaded {load.source} into stream {load.stream!r} (run {load.run_id}, {load.connector})",
        markup=False,
        highlight=False,
    )
    out.print(f"  columns: {load.mapping}", markup=False, highlight=False)
    out.print(f"  timestamps: {load.timestamp_format}", markup=False, highlight=False)
    if load.timezone_note:
        out.print(f"  note: {load.timezone_note}", markup=False, highlight=False)
    if load.missing_note:
        out.print(f"  note: {load.missing_note}", markup=False, highlight=False)
    out.print(
        f"  events read {load.events_read:,}; new {load.events_loaded:,}; "
        f"already in the store {load.events_known:,}; rejected {load.events_rejected:,}"
        + (
            f"; {load.events_replaced:,} replaced by a newer version (same {', '.join(load.event_key)})"
            if load.events_replaced
            else ""
        ),
        markup=False,
        highlight=False,
    )
    for reason, count, line in load.reject_reasons:
        out.print(
            f"  rejected: {count:,} x {reason} (first at line {line}); see the rejects table",
            markup=False,
            highlight=False,
        )
    for line in getattr(load, "files", []):  # a file-drop stream: each matched file, loaded or skipped
        out.print(f"  file: {line}", markup=False, highlight=False)


def _days(seconds) -> str:
    return "n/a" if seconds is None else f"{seconds / 86400:.1f} d"


def _pct(share) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def _print_flow(flow) -> None:
    s = flow.summary
    say = lambda text: out.print(text, markup=False, highlight=False)  # noqa: E731
    say(
        f"Flow of stream {flow.stream!r}: {flow.log_shape} log"
        + (" (detected; set [flow] log_shape to change)" if flow.shape_detected else "")
    )
    say(
        f"  cases {s['cases']:,}: completed {s['completed_cases']:,}, open {s['open_cases']:,} "
        f"(as of {s['as_of']:%Y-%m-%d %H:%M} UTC); visits {flow.visits:,}"
    )
    if flow.window != "all":
        say(
            f"  window {flow.window} ({s['window_start']:%Y-%m-%d %H:%M} to "
            f"{s['window_end']:%Y-%m-%d %H:%M}): "
            "lead time, variants and FPY of the cases completed in it, step figures of the visits ended "
            "in it, WIP and throughput inside it"
        )
        if s["completed_cases"] < 30:
            say(f"  only {s['completed_cases']} cases completed in the window: its p85 is not stable")
    if flow.full:
        say(f"  computed in full ({flow.full_reason})")
    else:
        say(
            f"  computed incrementally: {flow.recomputed_cases:,} of {s['cases']:,} cases recomputed "
            "(--full for all)"
        )
    if s.get("stale_cases"):
        say(
            f"  {s['stale_cases']:,} open cases are stale (no event for over {_days(s['stale_after_s'])}; "
            "[flow] stale_after): counted apart from WIP and Little's Law"
        )
    say(
        f"  lead time p50 {_days(s['lead_time_p50_s'])}, p85 {_days(s['lead_time_p85_s'])}; "
        f"flow efficiency {_pct(s['flow_efficiency'])}; first-pass yield {_pct(s['first_pass_yield'])}"
    )
    wip = "n/a" if s["wip_avg"] is None else f"{s['wip_avg']:.1f}"
    tput = "n/a" if s["throughput_per_day"] is None else f"{s['throughput_per_day']:.2f}"
    say(f"  WIP avg {wip}; throughput {tput} per day; handoffs per case {s['handoffs_per_case'] or 0:.2f}")
    if flow.log_shape != "status":
        how = "inferred (set [flow] end_activities to change)" if flow.ends_inferred else "from settings"
        say(f"  end steps {how}: {', '.join(flow.end_steps) or 'none'}")
        for step in flow.automatic_closes:
            say(
                f"  {step!r} is an automatic close (it comes a fixed time after the step before): a "
                "case ends when it becomes ready for it, not when the close comes (quality finding "
                "automatic_close)"
            )
    else:
        say(f"  steps by {flow.step_by} ({flow.step_by_reason})")
        say(f"  cases end on entering: {', '.join(flow.end_steps) or 'none'} ([flow] end_activities)")
    if flow.entry_lanes:
        lanes = ", ".join(f"{step} {share:.0%}" for step, share in flow.entry_lanes)
        say(f"  cases start in {len(flow.entry_lanes)} entry lanes (share of completed cases): {lanes}")
    if flow.main_path:
        say(f"  main path: {' > '.join(flow.main_path)}")
    if flow.start_steps:
        say(f"  discovered start steps: {', '.join(flow.start_steps)}")
    if flow.folded_steps:
        say(f"  {len(flow.folded_steps)} rare steps drawn as 'other' ([discovery] coverage / --coverage)")
    for path in flow.model_files:
        say(f"  model: {path}")
    guessed = [g for g in flow.status_guesses]
    if guessed:
        say("  status classes guessed from the names (set [status_classes] to change):")
        for status, cls, kind, by in guessed:
            extra = f" ({kind})" if kind else ""
            say(f"    {status}: {cls}{extra}" + (" [no rule matched]" if by == "fallback" else ""))


def _refresh(
    stream: str,
    streams_dir: Path,
    db: Path,
    coverage: float | None,
    png: bool,
    wait: float,
    window: str | None = None,
    engine: str | None = None,
    **steps,
):
    with collector_paused():  # the run's modules (pipeline/quick_imports.py)
        from pipeline.publish import writing
        from pipeline.settings import load_settings
        from pipeline.streams import refresh, use_engine, use_window

    settings = load_settings(stream, streams_dir)
    if coverage is not None:
        settings.discovery.coverage = coverage
    use_window(settings, window)
    use_engine(settings, engine, steps.get("out_dir"))
    with writing(db, wait, stream, _say) as con, _progress() as stage:
        return refresh(con, settings, reports_dir=REPORTS, png=png, on_stage=stage, **steps)


def _say(note: str) -> None:
    """A note from the library (e.g. the store converted once), on stderr."""
    err.print(f"note: {note}", markup=False, highlight=False)


def _print_refresh(result) -> None:
    if result.load:
        _print_load(result.load)
    for note in getattr(result, "run_notes", []):
        out.print(f"  note: {note}", markup=False, highlight=False)
    if result.flow:
        _print_flow(result.flow)
    if result.report:
        out.print(f"Report: {result.report}", markup=False, highlight=False)


# ---------------------------------------------------------------- commands


@app.command()
def init(
    name: Annotated[str, typer.Argument(help="Name of the new value stream, e.g. claims.")],
    source: Annotated[
        Path,
        typer.Option(
            "--source",
            help=f"The event log file to map, or a system or database: {', '.join((*SYSTEMS, *DATABASES))} "
            "(with --url ...).",
        ),
    ],
    case_column: CaseColumn = "",
    activity_column: ActivityColumn = None,
    timestamp_column: TimestampColumn = "",
    lifecycle_column: LifecycleColumn = "",
    resource_column: ResourceColumn = "",
    team_column: TeamColumn = "",
    start_column: StartColumn = "",
    sequence_column: SequenceColumn = "",
    fmt: FormatOption = "auto",
    timestamp_format: TimestampFormat = "",
    timezone: TimezoneOption = None,
    delimiter: DelimiterOption = "",
    encoding: EncodingOption = "",
    object_type: ObjectType = "",
    member: MemberOption = "",
    sheet: SheetOption = "",
    url: UrlOption = "",
    query: QueryOption = "",
    table: TableOption = "",
    user: UserOption = "",
    auth: AuthOption = "",
    since: SinceOption = "",
    cursor_column: CursorColumnOption = "",
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing settings.")] = False,
    streams_dir: StreamsDirOption = DEFAULT_STREAMS,
    debug: DebugOption = False,
) -> None:
    """Write streams/<name>.toml from what the source shows (columns, timestamps); edit it by hand.
    For a system (--source jira --url ... --query ... --user ... --auth env:NAME) it writes the
    pull's settings without a request."""

    def run():
        from pipeline.settings import parse_timezone
        from pipeline.streams import init_stream, init_system_stream

        system = {"url": url, "query": query, "table": table, "user": user, "auth": auth, "since": since,
                  "cursor_column": cursor_column}  # fmt: skip
        file_only = {
            "--case-column": case_column, "--activity-column": activity_column,
            "--timestamp-column": timestamp_column, "--lifecycle-column": lifecycle_column,
            "--resource-column": resource_column, "--start-column": start_column,
            "--sequence-column": sequence_column, "--format": "" if fmt == "auto" else fmt,
            "--timestamp-format": timestamp_format, "--delimiter": delimiter, "--encoding": encoding,
            "--object-type": object_type, "--member": member, "--sheet": sheet,
        }  # fmt: skip
        columns = _columns(
            case_column,
            activity_column,
            timestamp_column,
            lifecycle_column,
            resource_column,
            team_column,
            start_column,
            sequence_column,
        )
        if str(source) in DATABASES:  # the query's columns: mapped as a file's, detected when not given
            reads = ("--format", "--delimiter", "--encoding", "--object-type", "--member", "--sheet")
            _refuse_given({k: file_only[k] for k in reads}, f"a {source} source reads no file")
            from pipeline.settings import Source

            result = init_system_stream(
                name,
                Source(kind=str(source), timestamp_format=timestamp_format, **system),
                columns=columns,
                timezone=parse_timezone(timezone or "UTC"),
                streams_dir=streams_dir,
                force=force,
            )
        elif str(source) in SYSTEMS:
            _refuse_given(file_only, f"a {source} source reads no file")
            from pipeline.settings import Source

            result = init_system_stream(
                name,
                Source(kind=str(source), **system),
                team=team_column,
                timezone=parse_timezone(timezone or "UTC"),
                streams_dir=streams_dir,
                force=force,
            )
        else:
            _refuse_given(
                {f"--{k.replace('_', '-')}": v for k, v in system.items()}, f"--source {source} is a file"
            )
            result = init_stream(
                name,
                source,
                columns=columns,
                source_options=_source_options(
                    fmt, delimiter, encoding, object_type, timestamp_format, member, sheet
                ),
                timezone=parse_timezone(timezone or "UTC"),
                streams_dir=streams_dir,
                force=force,
            )
        out.print(f"Wrote {result.path}", markup=False, highlight=False)
        if str(source) not in SYSTEMS and str(source) not in DATABASES:
            out.print(f"  columns: {result.mapping()}", markup=False, highlight=False)
        for note in result.notes:
            out.print(f"  note: {note}", markup=False, highlight=False)

    _boundary(debug, run)


@app.command()
def ingest(
    stream: Annotated[str, typer.Argument(help="The value stream (streams/<name>.toml).")],
    source: Annotated[
        Path | None, typer.Option("--source", help="Load this file instead of the settings' one.")
    ] = None,
    compute: Annotated[
        bool, typer.Option("--compute/--no-compute", help="Recompute the flow after loading.")
    ] = True,
    coverage: CoverageOption = None,
    full: FullOption = False,
    png: PngOption = True,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print what would be fetched (endpoints, window; the files a glob would load and skip); "
            "write nothing.",
        ),
    ] = False,
    db: DbOption = DEFAULT_DB,
    wait: WaitOption = 0.0,
    streams_dir: StreamsDirOption = DEFAULT_STREAMS,
    debug: DebugOption = False,
) -> None:
    """Load the stream's source (only events not stored yet; a system: what changed since its stored
    cursor), recompute its flow, write its report."""

    def run():
        if dry_run:
            from pipeline.publish import writers_view
            from pipeline.settings import load_settings
            from pipeline.streams import plan_ingest

            settings = load_settings(stream, streams_dir)
            with writers_view(db) as (store, note):
                lines = plan_ingest(store, settings, source)
            for line in lines + ([f"note: {note}"] if note else []):
                out.print(line, markup=False, highlight=False)
            return
        if coverage is not None and not compute:
            from pipeline.errors import SettingsError

            raise SettingsError(
                "--coverage shapes the map, which --no-compute does not draw: drop one of them"
            )
        if full and not compute:
            from pipeline.errors import SettingsError

            raise SettingsError("--full recomputes the flow, which --no-compute skips: drop one of them")
        _print_refresh(
            _refresh(
                stream,
                streams_dir,
                db,
                coverage,
                png,
                wait,
                load=True,
                source=source,
                compute=compute,
                full=full,
            )
        )

    _boundary(debug, run)


@app.command()
def discover(
    source: Annotated[Path, typer.Argument(help="The event log file.")],
    stream: Annotated[str, typer.Option("--stream", help="Name of the value stream.")],
    case_column: CaseColumn = "",
    activity_column: ActivityColumn = None,
    timestamp_column: TimestampColumn = "",
    lifecycle_column: LifecycleColumn = "",
    resource_column: ResourceColumn = "",
    team_column: TeamColumn = "",
    start_column: StartColumn = "",
    sequence_column: SequenceColumn = "",
    fmt: FormatOption = "auto",
    timestamp_format: TimestampFormat = "",
    timezone: TimezoneOption = None,
    delimiter: DelimiterOption = "",
    encoding: EncodingOption = "",
    object_type: ObjectType = "",
    member: MemberOption = "",
    sheet: SheetOption = "",
    coverage: CoverageOption = None,
    window: WindowOption = None,
    png: PngOption = True,
    db: DbOption = DEFAULT_DB,
    wait: WaitOption = 0.0,
    streams_dir: StreamsDirOption = DEFAULT_STREAMS,
    debug: DebugOption = False,
) -> None:
    """One shot for a new value stream: detect settings (written once), load the log, compute its flow,
    write its report (reports/<stream>/index.html). Once streams/<name>.toml exists, the run reads
    it: a column or source option that differs from it is refused (edit the file, or `vsm init
    --force`)."""

    def run():
        with collector_paused():  # the run's modules (pipeline/quick_imports.py)
            from pipeline.publish import writing
            from pipeline.settings import check_stream_name, parse_timezone
            from pipeline.streams import discover as one_shot

        check_stream_name(stream)  # before the store is created
        if timezone is not None:
            parse_timezone(timezone)
        with writing(db, wait, stream, _say) as con, _progress() as stage:
            result = one_shot(
                con,
                source,
                stream,
                columns=_columns(
                    case_column,
                    activity_column,
                    timestamp_column,
                    lifecycle_column,
                    resource_column,
                    team_column,
                    start_column,
                    sequence_column,
                ),
                source_options=_source_options(
                    fmt, delimiter, encoding, object_type, timestamp_format, member, sheet
                ),
                timezone=timezone,
                streams_dir=streams_dir,
                coverage=coverage,
                reports_dir=REPORTS,
                png=png,
                on_stage=stage,
                window=window,
            )
        if result.settings_written:
            out.print(f"Wrote settings {result.settings.path}", markup=False, highlight=False)
        for note in result.notes:
            out.print(f"  note: {note}", markup=False, highlight=False)
        _print_refresh(result)

    _boundary(debug, run)


@app.command()
def compute(
    stream: Annotated[str, typer.Argument(help="The value stream (streams/<name>.toml).")],
    coverage: CoverageOption = None,
    full: FullOption = False,
    window: WindowOption = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="Where the flow's models run: duckdb (embedded) or spark ([engine] spark_master; always "
            "a full compute). Default: the settings' [engine] name, else duckdb. The results are "
            "published into the store either way.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="spark only: also keep the results as Parquet tables partitioned by stream in this "
            "folder (<out>/<table>/stream=<stream>/); default [engine] out.",
        ),
    ] = None,
    png: PngOption = True,
    db: DbOption = DEFAULT_DB,
    wait: WaitOption = 0.0,
    streams_dir: StreamsDirOption = DEFAULT_STREAMS,
    debug: DebugOption = False,
) -> None:
    """Recompute the stream's flow results and report from the store (after editing its settings)."""

    def run():
        _print_refresh(
            _refresh(
                stream,
                streams_dir,
                db,
                coverage,
                png,
                wait,
                window,
                load=False,
                full=full,
                engine=engine,
                out_dir=out,
            )
        )

    _boundary(debug, run)


@app.command()
def report(
    stream: Annotated[str, typer.Argument(help="The value stream (streams/<name>.toml).")],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder of the reports: writes <out>/<stream>/index.html.")
    ] = REPORTS,
    window: Annotated[
        str | None,
        typer.Option(
            "--window",
            help="Report only if the stored results are of this window (see `vsm compute --window`); "
            "refused otherwise.",
        ),
    ] = None,
    png: PngOption = True,
    db: DbOption = DEFAULT_DB,
    streams_dir: StreamsDirOption = DEFAULT_STREAMS,
    debug: DebugOption = False,
) -> None:
    """Write the stream's report from the store: <out>/<stream>/index.html, map.svg and map.png."""

    def run():
        from pipeline.report import check_stored_window, report_time, write_report
        from pipeline.settings import load_settings
        from pipeline.store import open_store

        settings = load_settings(stream, streams_dir)
        with open_store(db, read_only=True) as con:
            if window is not None:
                check_stored_window(con, stream, window, settings.timezone)
            page = write_report(con, stream, out_dir, settings, report_time(), png=png)
        out.print(f"Wrote {page}", markup=False, highlight=False)

    _boundary(debug, run)


@app.command()
def history(
    stream: Annotated[str, typer.Argument(help="The value stream.")],
    figure: Annotated[
        str | None,
        typer.Option(
            "--figure",
            help="One figure instead of the headline ones: a column of stream_summary or step_metrics "
            "(e.g. queue_time_p50_s, one row per step).",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="The latest N snapshots (default 20).")] = 20,
    db: DbOption = DEFAULT_DB,
    debug: DebugOption = False,
) -> None:
    """List the stream's snapshots, newest first: when each compute ran, its window and run, and its
    headline figures (metric_history)."""

    def run():
        from pipeline.errors import SettingsError
        from pipeline.history import history_table, shown
        from pipeline.store import open_store

        if not Path(db).exists():
            raise SettingsError(f"stream {stream!r}: no store at {db} (vsm streams lists the streams)")
        with open_store(db, read_only=True) as con:
            frame = history_table(con, stream, figure, limit)
        if frame.is_empty():
            out.print(f"No snapshots of stream {stream!r} yet: `vsm compute {stream}` makes one.")
        else:
            _print_columns(shown(frame))

    _boundary(debug, run)


def _print_columns(frame) -> None:
    """A frame of text: a table in a terminal, plain aligned columns otherwise (a log file, a
    pipe: no box drawing, no value cut or wrapped)."""
    if out.is_terminal:
        _print_table(frame, frame.height)
        return
    lines = [list(frame.columns), *[list(r) for r in frame.iter_rows()]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(frame.columns))]
    for line in lines:
        out.print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip(), markup=False,
                  highlight=False)  # fmt: skip


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A SQL query over the results tables.")],
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV (all rows unless --limit).")] = False,
    json: Annotated[
        bool, typer.Option("--json", help="Print a JSON array of rows (all rows unless --limit).")
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=0,
            help="Rows shown in table output (default 100); with --csv / --json, rows printed.",
        ),
    ] = None,
    db: DbOption = DEFAULT_DB,
    debug: DebugOption = False,
) -> None:
    """Run a read-only SQL query on the store (table output, or --csv / --json)."""

    def run():
        from pipeline.errors import SettingsError
        from pipeline.query import run_query

        if csv and json:
            raise SettingsError("--csv and --json: choose one output")
        frame = run_query(db, query)
        if (csv or json) and limit is not None:
            frame = frame.head(limit)
        if csv:
            sys.stdout.write(frame.write_csv())
        elif json:
            sys.stdout.write(frame.write_json() + "\n")
        else:
            _print_table(frame, 100 if limit is None else limit)

    _boundary(debug, run)


@app.command()
def export(
    query: Annotated[
        str,
        typer.Argument(
            help='A SQL query over the results tables, e.g. "FROM step_metrics"; or a stream\'s name '
            "(one word) to write all its result tables into the --out folder."
        ),
    ],
    out_file: Annotated[
        Path,
        typer.Option(
            "--out",
            help="For a query, the file to write; its ending names the format: .csv, .json, .jsonl, "
            ".parquet. For a stream, the folder to write <table>.parquet or <table>.csv into.",
        ),
    ],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="For a stream: parquet (the default) or csv, one file per table."),
    ] = None,
    db: DbOption = DEFAULT_DB,
    streams_dir: StreamsDirOption = DEFAULT_STREAMS,
    debug: DebugOption = False,
) -> None:
    """Write a read-only SQL query's result to a file (CSV, JSON, JSON Lines or Parquet), or every
    result table of a stream to a folder (Parquet or CSV)."""

    def run():
        from pipeline.exports import export as export_files

        for path, rows in export_files(db, query, out_file, fmt, streams_dir):
            out.print(f"Wrote {rows:,} rows to {path}", markup=False, highlight=False)

    _boundary(debug, run)


@app.command()
def streams(
    db: DbOption = DEFAULT_DB,
    streams_dir: StreamsDirOption = DEFAULT_STREAMS,
    debug: DebugOption = False,
) -> None:
    """List the value streams: settings, events and cases stored, last load."""

    def run():
        from pipeline.store import open_store
        from pipeline.streams import stream_overview

        if Path(db).exists():
            with open_store(db, read_only=True) as con:
                frame = stream_overview(con, streams_dir)
        else:
            frame = stream_overview(None, streams_dir)
        if frame.is_empty():
            out.print("No value streams yet: `vsm discover <file> --stream <name>` sets one up.")
        else:
            _print_table(frame, 1000)

    _boundary(debug, run)


@app.command()
def compare(
    stream: Annotated[str, typer.Argument(help="The value stream (streams/<name>.toml).")],
    before: Annotated[
        str,
        typer.Option(
            "--before",
            help="The window before the change: 2026-03-01..2026-03-14, 2026-03, 2026-Q1, 2026, "
            "'last 14d' or all.",
        ),
    ] = "",
    after: Annotated[str, typer.Option("--after", help="The window after the change (the same forms).")] = "",
    other: Annotated[
        str, typer.Option("--other", help="Another stream to compare this one with, both over --window.")
    ] = "",
    window: Annotated[
        str, typer.Option("--window", help="With --other: the window both streams are measured over.")
    ] = "",
    before_snapshot: Annotated[
        int | None,
        typer.Option(
            "--before-snapshot", help="A compute's run id whose snapshot (metric_history) is the before."
        ),
    ] = None,
    after_snapshot: Annotated[
        int | None, typer.Option("--after-snapshot", help="A compute's run id whose snapshot is the after.")
    ] = None,
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out", help="Folder of the reports: writes <out>/<stream>/compare-<before>-<after>.html."
        ),
    ] = REPORTS,
    db: DbOption = DEFAULT_DB,
    wait: WaitOption = 0.0,
    streams_dir: StreamsDirOption = DEFAULT_STREAMS,
    debug: DebugOption = False,
) -> None:
    """Compare the stream before and after a change (two windows), with another stream, or two
    snapshots: every headline and step figure, its change and whether it is beyond noise; writes
    the comparisons table and reports/<stream>/compare-<before>-<after>.html."""

    def run():
        from pipeline.compare_run import Request, run_compare
        from pipeline.publish import unpublished, writing
        from pipeline.report import report_time
        from pipeline.settings import load_settings

        request = Request(before, after, other, window, before_snapshot, after_snapshot)
        request.form()  # a usage error before the store is touched
        settings = load_settings(stream, streams_dir)
        with writing(db, wait, None, _say) as con:
            result = run_compare(con, settings, request, out_dir, report_time())
        if stream in unpublished(db):
            _say(
                f"stream {stream!r} has work not yet published (a run of it failed): "
                "its comparison rows reach "
                f"{db} once a run of it succeeds"
            )
        _print_compare(result)

    _boundary(debug, run)


def _print_compare(result) -> None:
    from pipeline.compare_page import sentence

    c = result.comparison
    say = lambda text: out.print(text, markup=False, highlight=False)  # noqa: E731
    say(f"Compared {c.stream}: before {c.page_labels[0]}, after {c.page_labels[1]}")
    rows = c.rows.to_dicts()
    for row in rows:
        if not row["step"]:
            say(f"  {sentence(row)}")
    beyond = sum(1 for r in rows if r["step"] and r["significant"])
    steps = f"  steps: {beyond} step figures changed beyond noise"
    for word, names in (("appeared", c.appeared), ("disappeared", c.disappeared)):
        if names:
            more = f" and {len(names) - 8} more" if len(names) > 8 else ""
            steps += f"; {word}: {', '.join(names[:8])}{more}"
    say(steps)
    say(f"Page: {result.page}")


@app.command()
def simulate(
    stream: Annotated[str, typer.Argument(help="The value stream (streams/<name>.toml).")],
    scenario: Annotated[
        str,
        typer.Argument(
            help="scenarios/<stream>/<name>.toml, or current (the current state: the validation)."
        ),
    ] = "current",
    horizon: Annotated[float, typer.Option("--horizon", help="Days simulated per replication.")] = 90.0,
    replications: Annotated[
        int, typer.Option("--replications", help="Replications (30 or more); replication i uses seed + i.")
    ] = 30,
    seed: Annotated[int, typer.Option("--seed", help="The first replication's random seed.")] = 1,
    workers: Annotated[
        int, typer.Option("--workers", help="Processes running replications side by side (same figures).")
    ] = 1,
    scenarios_dir: Annotated[
        Path, typer.Option("--scenarios-dir", help="Folder of the scenarios (<stream>/<name>.toml).")
    ] = Path("scenarios"),
    out_dir: Annotated[
        Path,
        typer.Option("--out", help="Folder of the reports: writes <out>/<stream>/simulate-<scenario>.html."),
    ] = REPORTS,
    db: DbOption = DEFAULT_DB,
    wait: WaitOption = 0.0,
    streams_dir: StreamsDirOption = DEFAULT_STREAMS,
    debug: DebugOption = False,
) -> None:
    """Simulate a future state: the current-state model learned from the stream's flow, checked
    against its observed lead times, then the scenario's changes; writes the simulations table
    and reports/<stream>/simulate-<scenario>.html (the future-state map)."""

    def run():
        from pipeline.publish import writing
        from pipeline.report import report_time
        from pipeline.settings import load_settings
        from pipeline.simulate import (
            check_run_options,
            simulate_stream,
            write_page,
            write_simulation,
        )
        from pipeline.simulate_page import render_simulate_page
        from pipeline.store import open_store

        check_run_options(horizon, replications, workers)  # a usage error before the store is touched
        settings = load_settings(stream, streams_dir)
        # Simulated on the analysts' file (open_store refuses a missing one, exit 4), read-only:
        # other writers are not held up meanwhile; only writing the rows takes the writers' lock.
        with open_store(db, read_only=True) as con:
            result = simulate_stream(
                con,
                stream,
                settings.timezone,
                scenario,
                scenarios_dir,
                horizon,
                replications,
                seed,
                workers,
            )
            now = report_time()
            html = render_simulate_page(con, result, now)
        with writing(db, wait, None, _say) as con:
            write_simulation(con, result, now)
        write_page(result, html, out_dir)
        _print_simulation(result)

    _boundary(debug, run)


def _print_simulation(result) -> None:
    from datetime import UTC

    from pipeline.vsm_map import fmt_amount, fmt_duration

    say = lambda text: out.print(text, markup=False, highlight=False)  # noqa: E731
    v = result.validation
    p = lambda s: "n/a" if s is None else fmt_duration(s)  # noqa: E731
    say(
        f"Validation of {result.stream}: lead time p50 observed {p(v.observed_p50_s)}, simulated "
        f"{p(v.simulated_p50_s)}; p85 observed {p(v.observed_p85_s)}, simulated {p(v.simulated_p85_s)}; "
        f"distance {v.emd_relative:.2f} of the median (threshold 0.25)"
    )
    if result.current_from is not None:
        when = result.current_from.astimezone(UTC)
        say(f"  (reused: the current state simulated {when:%Y-%m-%d %H:%M:%S} UTC, of the same model, "
            "horizon, replications and seed)")  # fmt: skip
    if not v.passed:
        say(f"  NOT PREDICTIONS: the model does not reproduce the stream; most wrong: {v.wrong_why}")
    say(f"Scenario {result.scenario.name}: " + ("; ".join(result.scenario.changes()) or "no changes"))
    for r in result.rows.to_dicts():
        if r["step"]:
            continue
        fmt = fmt_duration if r["figure"].endswith("_s") else fmt_amount
        if result.scenario.name == "current":
            say(f"  {r['figure']}: observed {fmt(r['observed'])}, simulated {fmt(r['p50'])} "
                f"({fmt(r['p10'])} to {fmt(r['p90'])})")  # fmt: skip
        else:
            change = "" if r["change"] is None else f", {r['change']:+.0%}"
            say(f"  {r['figure']}: observed {fmt(r['observed'])}; model {fmt(r['current_p50'])} -> "
                f"{fmt(r['p50'])} ({fmt(r['p10'])} to {fmt(r['p90'])}){change}")  # fmt: skip
    say(f"Page: {result.page}")


LogFormatOption = Annotated[
    str,
    typer.Option(
        "--log-format",
        help="text: a progress line per stage (a spinner in a terminal) and a summary table; "
        "json: one JSON object per line on stdout.",
    ),
]


@app.command(name="run")
def run_all(
    names: Annotated[
        list[str] | None, typer.Argument(help="The streams to run (default: every streams/<name>.toml).")
    ] = None,
    parallel: Annotated[
        int,
        typer.Option(
            "--parallel", help="Up to N streams run side by side (threads of this process; default 1)."
        ),
    ] = 1,
    log_format: LogFormatOption = "text",
    full: FullOption = False,
    png: PngOption = True,
    db: DbOption = DEFAULT_DB,
    wait: WaitOption = 0.0,
    streams_dir: StreamsDirOption = DEFAULT_STREAMS,
    debug: DebugOption = False,
) -> None:
    """The nightly job: for each stream, load what is new, recompute, write its report; then the
    overview page reports/index.html and a summary. A failing stream does not stop the others;
    exit 6 when any failed."""

    def run():
        from pipeline.errors import SettingsError
        from pipeline.nightly import run_streams

        if log_format not in ("text", "json"):
            raise SettingsError(f"--log-format {log_format}: expected text or json")
        if log_format == "json":
            return _run_json(names or [], parallel, png, db, wait, streams_dir, debug, full)
        with _progress() as stage:
            result = run_streams(
                db,
                names or [],
                streams_dir=streams_dir,
                reports_dir=REPORTS,
                png=png,
                parallel=parallel,
                wait=wait,
                progress=(progress := _run_progress(stage)),
                on_done=lambda run: (progress(run.stream, ""), _print_stream_done(run)),
                say=_say,
                debug=debug,
                full=full,
            )
        _print_run_summary(result)
        return result.exit_code

    code = _boundary(debug, run)
    if code:
        raise typer.Exit(code)


def _now_text() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run_progress(stage: Callable[[str], None]) -> Callable[[str, str], None]:
    """A terminal's spinner shows each running stream and its stage (`what` "" once it ended);
    under a scheduler, one plain line each."""
    import threading

    running: dict[str, str] = {}  # streams side by side (--parallel) report from their threads
    lock = threading.Lock()

    def progress(stream: str, what: str) -> None:
        if err.is_terminal:
            with lock:
                if what:
                    running[stream] = what
                else:
                    running.pop(stream, None)
                shown = " | ".join(f"{s}: {w}" for s, w in running.items())
            stage(shown or "finishing")
        elif what:
            interrupts.check()
            err.print(f"{_now_text()} {stream}: {what}", markup=False, highlight=False)

    return progress


def _print_stream_done(run) -> None:
    held = (
        " (loaded, not published until a run of the stream succeeds)"
        if run.status == "failed" and run.new_events
        else ""
    )
    said = f"{run.stream}: {run.status}, {run.new_events:,} new events{held} ({run.seconds:.1f} s)"
    if not err.is_terminal:
        said = f"{_now_text()} {said}"
    err.print(said + (f": {run.error}" if run.error else ""), markup=False, highlight=False)


def _run_rows(result) -> list[list[str]]:
    return [
        [r.stream, r.status, f"{r.new_events:,}", f"{r.rejects:,}", f"{r.seconds:.1f}", r.error]
        for r in result.runs
    ]


def _print_run_summary(result) -> None:
    headers = ["stream", "status", "new events", "rejects", "seconds", "error"]
    if out.is_terminal:
        table = Table(show_lines=False)
        for name in headers:
            table.add_column(
                Text(name), justify="right" if name in ("new events", "rejects", "seconds") else "left"
            )
        for row in _run_rows(result):
            table.add_row(*[Text(v) for v in row])
        out.print(table, markup=False, highlight=False)
    else:  # plain columns for a log file: no box drawing
        rows = [headers, *_run_rows(result)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(headers) - 1)]
        for row in rows:
            line = "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)) + "  " + row[-1]
            out.print(line.rstrip(), markup=False, highlight=False)
    failed = len(result.failed)
    out.print(
        f"{len(result.runs)} stream{'' if len(result.runs) == 1 else 's'} run, {failed} failed"
        + (f"; overview: {result.overview}" if result.overview else "")
        + (f"; {result.overview_error}" if result.overview_error else ""),
        markup=False,
        highlight=False,
    )


def _run_json(names, parallel, png, db, wait, streams_dir, debug, full=False) -> int:
    import json
    import threading

    from pipeline.nightly import run_streams

    lock = threading.Lock()  # streams side by side (--parallel) emit from their threads

    def emit(record: dict) -> None:
        line = json.dumps({"time": _now_text(), **record}) + "\n"
        with lock:
            sys.stdout.write(line)
            sys.stdout.flush()

    def progress(stream: str, what: str) -> None:
        interrupts.check()
        emit({"event": "stage", "stream": stream, "stage": what})

    def done(run) -> None:
        record = {k: v for k, v in vars(run).items() if k != "finished_at"}
        emit({"event": "stream", **record})

    result = run_streams(
        db,
        names,
        streams_dir=streams_dir,
        reports_dir=REPORTS,
        png=png,
        parallel=parallel,
        wait=wait,
        progress=progress,
        on_done=done,
        say=lambda note: emit({"event": "note", "note": note}),
        debug=debug,
        full=full,
    )
    emit(
        {
            "event": "summary",
            "streams": len(result.runs),
            "failed": [r.stream for r in result.failed],
            "overview": str(result.overview) if result.overview else None,
            "overview_error": result.overview_error or None,
            "exit_code": result.exit_code,
        }
    )
    return result.exit_code


def _print_table(frame, limit: int) -> None:
    # Text(), not str: values from data must never be read as rich markup.
    table = Table(show_lines=False)
    for name in frame.columns:
        table.add_column(Text(name))
    for row in frame.head(limit).iter_rows():
        table.add_row(*[Text("" if v is None else str(v)) for v in row])
    out.print(table, markup=False, highlight=False)
    if frame.height > limit:
        out.print(f"({frame.height - limit:,} more rows; use --csv or --json for all)", highlight=False)


def main() -> None:
    """The `vsm` process: the command, then a quick exit; SIGINT / SIGTERM end it with exit
    130 and one line, at any moment (pipeline/interrupts.py). The handlers stay for the
    process's last moments (its exit waits for a background import, see
    pipeline/discovery.py): a caller that goes on afterwards puts back its own."""
    interrupts.install()
    try:
        app()
    except SystemExit as done:
        code = done.code
    else:
        code = 0
    finally:
        prepare_exit()
    if interrupts.received() and code != EXIT_INTERRUPTED:  # came after the command's work, or before it
        err.print(
            f"Error: interrupted ({interrupts.received()}); the command had finished its work",
            markup=False,
            highlight=False,
        )
        code = EXIT_INTERRUPTED
    if code == EXIT_INTERRUPTED:
        # Now, not after the pm4py import a background thread may still be running (seconds:
        # the interpreter's exit waits for it). The store is closed, temporary folders are
        # removed and children ended by the blocks the interrupt went through; only output
        # buffers are left to flush.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    sys.exit(code)


def prepare_exit() -> None:
    """Spare the ending process the garbage collector's last passes over everything imported.

    At exit Python collects cycles over every object still alive: with pm4py loaded (pandas,
    scipy, matplotlib behind it) the process took 0.40 s to end after its last statement,
    longer than discovery itself, and 0.06 s with them frozen (medians of 5). Frozen
    objects are left out of those passes. Nothing is lost: the store was
    closed by its `with` block, open files are closed and flushed by reference counting
    and by Python's own shutdown as before, and atexit handlers still run; only finalizers
    of objects kept alive by a reference cycle (which Python never promises to run at exit)
    are skipped."""
    gc.freeze()
