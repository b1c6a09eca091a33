"""`vsm run`: the nightly job over every stream (or the ones named), and the overview page.

The run takes the writers' lock once (`--wait` seconds for another writer, else StoreBusy,
exit 7) and works in the writers' store (pipeline/publish.py). Each stream in turn: read its
settings, load what is new from its source (file, system or database:
`pipeline.streams.refresh`, the path `vsm ingest` takes), recompute its flow, write its
report, publish the analysts' file: the stream's new results appear there all at once when
its part ends. A stream that fails publishes nothing: its load may have committed in the
writers' store (each file, each page of a system commits on its own, and is not loaded twice
by the next run), but every later publish carries its rows over from the analysts' file as
they were, so analysts keep its last good results until a run of it succeeds. A failed
stream is recorded with its error's first line and the run goes on with the next; an
interrupt (Ctrl-C, SIGTERM) stops the whole run. At the end `reports/index.html` (read
from the analysts' file, as analysts see it) shows every stream's headline figures, last
run, status and a link to its report, and `reports/runs.json` keeps each stream's last
status for the next run's page (a run of some streams keeps the others' rows).

`--parallel N` runs up to N streams side by side: threads of this one process (DuckDB lets
one process write a store), each stream on a connection of its own to the work store, held
open once (`pipeline.publish.side_by_side`). A connection's transactions, temp tables (the
flow's `flow_*`, the load's `load_*`) and session settings (`SET TimeZone`: two streams in
different zones do not mix) are its own; the heavy SQL runs in DuckDB's threads, outside
Python's lock. Streams write different rows (each table's rows are keyed by stream), so their
transactions do not conflict. Publishing stays one at a time (a lock): a checkpoint, which is
the only write of the data file's live blocks (automatic ones are off for the run), then the
byte copy; the streams still running are marked unpublished, so the copy carries their rows
over from the analysts' file: analysts never see a running stream's new events beside its old
results. A stream's failure is its own; Ctrl-C or SIGTERM interrupts every stream's query,
waits for each to roll back, and the run exits 130. The summary keeps the streams' order.
The process's DuckDB memory limit is shared by the streams running at once.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import interrupts
from pipeline.errors import SettingsError, VsmError, first_line
from pipeline.settings import check_stream_name, list_streams, load_settings

if TYPE_CHECKING:
    from pipeline.publish import SharedWork

EXIT_STREAM_FAILED = 6  # README's exit-code table: at least one stream of `vsm run` failed
STATUS_FILE = "runs.json"

# (stream, what happens now): "starting", then each stage of the refresh
Progress = Callable[[str, str], None]


@dataclass
class StreamRun:
    """One stream's part of a run, as the summary table and the overview page show it."""

    stream: str
    status: str = "ok"  # ok | ok_with_rejects | no events | failed
    new_events: int = 0
    rejects: int = 0
    seconds: float = 0.0
    error: str = ""
    exit_code: int = 0  # the code `vsm ingest` would have exited with for this stream
    report: str = ""
    finished_at: str = ""  # ISO 8601, UTC

    @property
    def failed(self) -> bool:
        return self.status == "failed"


@dataclass
class NightlyResult:
    runs: list[StreamRun] = field(default_factory=list)
    overview: Path | None = None
    overview_error: str = ""

    @property
    def failed(self) -> list[StreamRun]:
        return [r for r in self.runs if r.failed]

    @property
    def exit_code(self) -> int:
        return EXIT_STREAM_FAILED if self.failed or self.overview_error else 0


def check_parallel(parallel: int) -> None:
    """Refuse a `--parallel` this build cannot honour, with the reason."""
    if parallel < 1:
        raise SettingsError(f"--parallel {parallel}: expected a whole number of streams at once, 1 or more")


def chosen_streams(names: list[str], streams_dir: Path) -> list[str]:
    """The streams to run: those named (each checked before any runs), or all in streams_dir."""
    known = list_streams(streams_dir)
    if not names:
        if not known:
            raise SettingsError(
                f"no streams in {streams_dir} (no <name>.toml there): "
                "`vsm discover <file> --stream <name>` sets one up"
            )
        return known
    chosen = []
    for name in names:
        check_stream_name(name)
        if name not in known:
            raise SettingsError(
                f"stream {name!r}: no settings at {Path(streams_dir) / (name + '.toml')} "
                f"(streams found: {', '.join(known) or 'none'})"
            )
        if name not in chosen:
            chosen.append(name)
    return chosen


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def run_stream(
    db: Path,
    name: str,
    streams_dir: Path,
    reports_dir: Path,
    png: bool,
    progress: Progress,
    debug: bool = False,
    say: Callable[[str], None] = lambda _note: None,
    full: bool = False,
    shared: SharedWork | None = None,
) -> StreamRun:
    """Load, recompute, report and publish one stream (the caller holds the writers' lock); its
    failure becomes the result's status and error (with `debug`, its traceback on stderr too).
    `shared`: the work store held open for streams run side by side."""
    from pipeline.publish import working_on
    from pipeline.streams import refresh

    interrupts.check()  # a stream that starts after an interrupt does not start
    run = StreamRun(name)
    started = time.monotonic()
    progress(name, "starting")
    try:
        settings = load_settings(name, streams_dir)
        with working_on(db, name, say, shared) as con:
            result = refresh(
                con,
                settings,
                reports_dir=reports_dir,
                png=png,
                on_stage=lambda stage: (interrupts.check(), progress(name, stage)),
                full=full,
                on_loaded=lambda load: _count_load(run, load),
            )
            interrupts.check()
            progress(name, "publishing")  # when the block ends
        if result.load is not None:
            run.status = "ok_with_rejects" if run.rejects else "ok"
        if result.flow is None:
            run.status = "no events"
        run.report = str(result.report) if result.report else ""
    except Exception as exc:  # noqa: BLE001 - one stream's failure must not stop the others
        if interrupts.received() or interrupts.caused_by_interrupt(exc):
            raise
        run.status = "failed"
        if debug:
            traceback.print_exc()
        if isinstance(exc, VsmError):
            run.error, run.exit_code = first_line(exc), exc.exit_code
        else:
            run.error = (
                f"internal error ({type(exc).__name__}: {first_line(exc)}); "
                "run again with --debug for the traceback"
            )
            run.exit_code = 70
    run.seconds = round(time.monotonic() - started, 1)
    run.finished_at = _now().isoformat()
    return run


def _count_load(run: StreamRun, load) -> None:
    """The load's counts, kept on the run as soon as the load commits: a stream that fails
    after its load (compute, report, publish) still says what it loaded into the work store."""
    run.new_events = load.events_loaded
    run.rejects = load.events_rejected


def run_streams(
    db: Path,
    names: list[str],
    *,
    streams_dir: Path,
    reports_dir: Path,
    png: bool = False,
    parallel: int = 1,
    wait: float = 0.0,
    progress: Progress = lambda _stream, _what: None,
    on_done: Callable[[StreamRun], None] = lambda _run: None,
    say: Callable[[str], None] = lambda _note: None,
    debug: bool = False,
    full: bool = False,
) -> NightlyResult:
    """Under the writers' lock (waiting up to `wait` seconds for another writer), run the
    streams one after another (up to `parallel` side by side), each published when it ends;
    then write the overview page."""
    from pipeline.publish import writer_lock

    check_parallel(parallel)
    chosen = chosen_streams(names, streams_dir)
    result = NightlyResult()
    with writer_lock(db, wait):
        if parallel > 1 and len(chosen) > 1:
            args = (Path(streams_dir), Path(reports_dir), png, progress, debug, say, full)
            result.runs = _side_by_side(Path(db), chosen, min(parallel, len(chosen)), args, on_done, say)
        else:
            for name in chosen:
                run = run_stream(
                    Path(db), name, Path(streams_dir), Path(reports_dir), png, progress, debug, say, full
                )
                result.runs.append(run)
                on_done(run)
        try:
            result.overview = write_overview(Path(db), Path(streams_dir), Path(reports_dir), result.runs)
        except (OSError, VsmError) as exc:
            result.overview_error = f"overview page not written: {first_line(exc)}"
    return result


def _side_by_side(
    db: Path, chosen: list[str], workers: int, args: tuple, on_done: Callable[[StreamRun], None], say
) -> list[StreamRun]:
    """Run the streams on `workers` threads over the work store held open once; `on_done` as
    each ends (in this, the main, thread); the runs in the streams' order. An interrupt
    (a signal arrives in this thread) stops every stream and is raised once all have stopped."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor
    from concurrent.futures import wait as wait_for

    from pipeline.publish import side_by_side

    runs: dict[str, StreamRun] = {}
    with side_by_side(db, say) as shared:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vsm-stream")
        futures = {pool.submit(run_stream, db, name, *args, shared=shared): name for name in chosen}
        pending = set(futures)
        try:
            while pending:
                # a timeout, so that the signal handler runs here between waits
                done, pending = wait_for(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: chosen.index(futures[f])):
                    run = future.result()  # raises a worker's interrupt
                    runs[run.stream] = run
                    on_done(run)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            _stop_all(set(futures))
            raise
        pool.shutdown(wait=True)
    return [runs[name] for name in chosen]


def _stop_all(futures: set) -> None:
    """Interrupt every stream's query until every worker has ended (each rolls back as it
    stops); further signals meanwhile change nothing."""
    from concurrent.futures import wait as wait_for

    pending = {f for f in futures if not f.done()}
    while pending:
        interrupts.interrupt_queries()  # a query started after the signal is stopped too
        try:
            _done, pending = wait_for(pending, timeout=0.2)
        except KeyboardInterrupt:
            continue


# ---------------------------------------------------------------- the overview page


def _replace_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _last_status(reports_dir: Path, runs: list[StreamRun]) -> dict[str, dict]:
    """Each stream's last run: this run's, or the one kept from an earlier run."""
    path = reports_dir / STATUS_FILE
    kept: dict[str, dict] = {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            kept = {k: v for k, v in loaded.items() if isinstance(v, dict)}
    except (OSError, ValueError):
        kept = {}  # none yet, or unreadable: this run's rows only
    for run in runs:
        kept[run.stream] = asdict(run)
    reports_dir.mkdir(parents=True, exist_ok=True)
    _replace_atomically(path, json.dumps(kept, indent=1, sort_keys=True) + "\n")
    return kept


def _summaries(db: Path) -> dict[str, dict]:
    from pipeline.store import open_store, query_frame, read_sql

    if not db.exists():
        return {}
    with open_store(db, read_only=True) as con:
        frame = query_frame(con, read_sql("report/overview_streams.sql"))
    return {row["stream"]: row for row in frame.iter_rows(named=True)}


def write_overview(db: Path, streams_dir: Path, reports_dir: Path, runs: list[StreamRun]) -> Path:
    """Write `reports_dir/index.html` (aside, then renamed into place): one row per stream."""
    from pipeline.report_page import CSP, CSS, Html, duration, pct, table
    from pipeline.svg import esc

    status = _last_status(reports_dir, runs)
    figures = _summaries(db)
    names = sorted(set(list_streams(streams_dir)) | set(status) | set(figures))
    rows = []
    for name in names:
        s, last = figures.get(name, {}), status.get(name, {})
        page = reports_dir / name / "index.html"
        link = Html(f'<a href="{esc(name)}/index.html">{esc(name)}</a>') if page.exists() else name
        wip, tput = s.get("wip_avg"), s.get("throughput_per_day")
        rows.append(
            [
                link,
                last.get("status", "not run by vsm run"),
                (last.get("finished_at") or "n/a").replace("T", " ").replace("+00:00", " UTC"),
                s.get("last_load") or "n/a",
                duration(s.get("lead_time_p50_s")),
                duration(s.get("lead_time_p85_s")),
                "n/a" if wip is None else f"{wip:,.1f}",
                "n/a" if tput is None else f"{tput:,.2f}",
                pct(s.get("first_pass_yield")),
                "n/a" if s.get("open_cases") is None else f"{s['open_cases']:,}",
                last.get("error", ""),
            ]
        )
    failed = sum(1 for name in names if status.get(name, {}).get("status") == "failed")
    written = _now()
    body = (
        f'<header><h1>Value streams</h1><p class="note">{len(names)} stream{"s" if len(names) != 1 else ""}; '
        f"{failed} failed in their last run; page written {written:%Y-%m-%d %H:%M} UTC by vsm run.</p>"
        "</header>"
        + '<section id="streams"><h2>Streams</h2><p class="intro">Headline figures from each stream\'s '
        "last recompute (stream_summary); lead times of completed cases, WIP averaged over the window, "
        "throughput in completed cases per day. A failed stream keeps the figures of its last good run."
        "</p>"
        + table(
            [
                "stream",
                "status",
                "last run",
                "last load",
                "lead time p50",
                "lead time p85",
                "WIP",
                "throughput / day",
                "first-pass yield",
                "open cases",
                "error",
            ],
            rows,
            {4: "num", 5: "num", 6: "num", 7: "num", 8: "num", 9: "num", 10: "why"},
            empty="no streams yet",
        )
        + "</section>"
    )
    html = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<link rel="icon" href="data:,">'
        f"<title>Value streams: overview</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )
    page = reports_dir / "index.html"
    _replace_atomically(page, html)
    return page
