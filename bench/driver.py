"""One measured `vsm discover`, run in its own process by bench/run.py.

    python bench/driver.py <log file> <stream> <result.json>

Runs the real CLI command (`vsm discover <log> --stream <stream> --no-png`) in this process, in the
current folder (its store, streams/ and reports/ land there), and records when each stage
starts: the library reports its stages through the `on_stage` callback that the CLI shows
as a spinner, and here a recorder takes the spinner's place. It also times each flow model
(each relation the runner materialises) and the parts of the report. Then it reads the figures the
benchmark checks (events, cases, visits, ...) from the store, outside the timings, and
writes everything as JSON, each stage and part with its CPU seconds beside its wall seconds
(`cpu_s`, `parts_cpu`: all threads of this process and the child processes it waited for,
`cpu_seconds`). Peak memory is measured by the parent (the
rusage of this process).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path

STARTED = time.perf_counter()

import duckdb  # noqa: E402

STAGES = {  # what the library's on_stage messages start -> the benchmark's stage name
    "reading": "read and detect",
    "checking rows": "load: stage, parse, check",
    "writing to the store": "load: insert",
    "mapping steps": "flow: events",
    "building visits": "flow: visits",
    "finding exits": "flow: cases",
    "measuring flow": "flow: result tables",
    "discovering the map": "discovery and map",
    "publishing results": "publish",
    "writing the report": "report",
}


def cpu_seconds() -> float:
    """CPU seconds of this process (every thread) and of the child processes it has waited for.

    A large XES log is parsed half in this process and half in a second one
    (connectors/xes.py), at the same time: `time.process_time` alone left the second half's
    parse (about 2.5 CPU-seconds per million events) out of the read's `cpu_s`."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class Recorder:
    def __init__(self) -> None:
        self.marks: list[tuple[str, float]] = []
        self.parts: dict[str, float] = {}
        # the CPU seconds (every thread of this process, DuckDB's too, and its children's)
        # beside each wall time: on a machine shared with other work the wall time says
        # little alone
        self.cpu_marks: list[float] = []
        self.parts_cpu: dict[str, float] = {}

    def stage(self, message: str) -> None:
        name = next((v for k, v in STAGES.items() if message.startswith(k)), message)
        self.marks.append((name, time.perf_counter()))
        self.cpu_marks.append(cpu_seconds())

    def timed(self, module, attribute: str, label) -> None:
        """Wrap module.attribute so that its calls add to parts[label(*args)]."""
        original = getattr(module, attribute, None)
        if original is None:
            return

        def wrapper(*args, **kwargs):
            t, cpu = time.perf_counter(), cpu_seconds()
            try:
                return original(*args, **kwargs)
            finally:
                key = label(*args)
                self.parts[key] = self.parts.get(key, 0.0) + time.perf_counter() - t
                self.parts_cpu[key] = self.parts_cpu.get(key, 0.0) + cpu_seconds() - cpu

        setattr(module, attribute, wrapper)

    def stages(self, end: float, end_cpu: float) -> list[dict]:
        out = []
        for i, (name, t) in enumerate(self.marks):
            nxt = self.marks[i + 1][1] if i + 1 < len(self.marks) else end
            cpu = self.cpu_marks[i + 1] if i + 1 < len(self.cpu_marks) else end_cpu
            out.append({"stage": name, "s": round(nxt - t, 4), "cpu_s": round(cpu - self.cpu_marks[i], 4)})
        return out


def instrument(rec: Recorder) -> None:
    import pipeline.cli as cli
    import pipeline.flow as flow
    import pipeline.ingest as ingest
    import pipeline.streams as streams

    @contextmanager
    def progress():
        yield rec.stage

    cli._progress = progress
    try:  # each model the runner materialises (pipeline/models.py, pipeline/engine.py)
        from pipeline.engine import DuckDBEngine

        rec.timed(DuckDBEngine, "materialise", lambda engine, name, *a, **k: f"sql: {name}")
    except ImportError:  # a checkout from before the runner (VSM_BENCH_PROJECT)
        rec.timed(flow, "_run", lambda con, name, *a: f"sql: {name}")
    rec.timed(flow, "discover_map", lambda *a: "discovery: inductive miner and map")
    rec.timed(streams, "read_events", lambda *a: "read: connector")
    rec.timed(streams, "init_stream", lambda *a, **k: "read: detect settings")
    rec.timed(ingest, "plan_timestamps", lambda *a: "read: plan timestamps")
    try:
        import pipeline.report as report
    except ImportError:
        return
    rec.timed(report, "gather", lambda *a: "report: queries")
    rec.timed(report, "map_svg", lambda *a: "report: map")
    rec.timed(report, "svg_to_png", lambda *a: "report: png (chromium)")
    rec.timed(report, "render_html", lambda *a: "report: html")


def figures(db: Path, stream: str) -> dict:
    """What the store holds for the stream: the counts the benchmark checks."""
    con = duckdb.connect(str(db), read_only=True)
    try:

        def one(sql: str):
            return con.execute(sql, [stream]).fetchall()[0][0]

        return {
            "events": one("SELECT count(*) FROM events WHERE stream = ?"),
            "rejects": one("SELECT count(*) FROM rejects WHERE stream = ?"),
            "cases": one("SELECT count(*) FROM cases WHERE stream = ?"),
            "completed_cases": one("SELECT count(*) FROM cases WHERE stream = ? AND NOT is_open"),
            # work sessions, one per start as the generator counts them (back-to-back sessions
            # of one step are one visit: docs/metrics.md)
            "visits": one("SELECT coalesce(sum(sessions), 0) FROM visits WHERE stream = ?"),
            "transitions": one("SELECT count(*) FROM transitions WHERE stream = ?"),
            "transition_count": one("SELECT coalesce(sum(count), 0) FROM transitions WHERE stream = ?"),
            "variants": one("SELECT count(*) FROM variants WHERE stream = ?"),
            "handoff_pairs": one("SELECT count(*) FROM handoffs WHERE stream = ?"),
            "wip_days": one("SELECT count(*) FROM wip_daily WHERE stream = ?"),
            "map_steps": one("SELECT count(*) FROM map_steps WHERE stream = ?"),
            "log_shape": one("SELECT log_shape FROM stream_summary WHERE stream = ?"),
        }
    finally:
        con.close()


def main(argv: list[str]) -> int:
    source, stream, out = Path(argv[0]), argv[1], Path(argv[2])
    rec = Recorder()
    rec.marks.append(("python start and imports", STARTED))
    rec.cpu_marks.append(0.0)  # the process's CPU time counts from its start
    import pipeline.cli as cli

    instrument(rec)
    rec.marks.append(("open store", time.perf_counter()))
    rec.cpu_marks.append(cpu_seconds())
    # standalone_mode=False: click returns the exit code of the CLI's error boundary
    # --no-png, the nightly form: bench/run.py times map.png apart, after this process ends
    code = cli.app(["discover", str(source), "--stream", stream, "--no-png"], standalone_mode=False) or 0
    end, end_cpu = time.perf_counter(), cpu_seconds()
    error = f"vsm discover exited with {code}" if code else None
    result = {
        "source": str(source),
        "total_s": round(end - STARTED, 4),
        "stages": rec.stages(end, end_cpu),
        "parts": {k: round(v, 4) for k, v in rec.parts.items()},
        "parts_cpu": {k: round(v, 4) for k, v in rec.parts_cpu.items()},
        "error": error,
        "figures": figures(Path("vsm.duckdb"), stream) if error is None else {},
    }
    out.write_text(json.dumps(result, indent=1, default=str))
    cli.prepare_exit()  # as `vsm` itself ends (pipeline/cli.py main)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
