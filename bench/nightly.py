"""The nightly case of `make bench`: a stream of `BENCH_NIGHTLY_SCALE` events (default 10M)
receives 1% new events; `vsm run` (load the night's file + recompute + publish + report)
against a full recompute of the same stream, and analysts' query latency during the run.

The claims log (bench/generate.py, Parquet) is split by event time: the first 99% of its
events are the base file, the last 1% the night's drop, so the night's events finish visits
and cases that were open and bring new cases, as a real night does (the split is cached
beside the log). The stream's `[source] path` is the glob `drops/claims-*.parquet`, so each
run loads only the file that is new. All steps run the real CLI, each in a fresh process:

(a) setup: `vsm init` + `vsm ingest` of the base file (timed, not part of the ratio);
(b) the project folder (store, settings, drops) is copied for the baseline;
(c) the night's file is dropped and `vsm run claims --log-format json` runs, timed: its
    stages are timed from its JSON lines as they arrive;
(d) baseline, in the copy: the same file loaded (`vsm ingest --no-compute`, not timed), then
    `vsm compute claims --full` timed (plain `vsm compute` where the CLI has no `--full`,
    and the output says so: before incremental compute it is a full recompute anyway).
ratio = (c) / (d), target at most 0.15. Both (c) and (d) write the stream's report
(`--no-png`): `vsm run` always does, as the nightly job must, and `vsm compute` does too, so
the ratio compares the same work but for the load and the incremental recompute.

Analysts: a separate process opens the analysts' file (`vsm.duckdb`, as `--db`) read-only
with plain DuckDB, a new connection for each round, and runs two queries (the stream's step
metrics, and a GROUP BY over its visits), then pauses `BENCH_NIGHTLY_PAUSE_S` (0.1 s); first
`BENCH_NIGHTLY_IDLE_S` seconds (10) with no run going, then during (c), from its first stage
after it has opened the store (see start_once_open) to its end. p50, p95,
max latency of a round and its failures (a lock error while a run holds the file) are
reported, and the p50 and p95 ratios during / idle.

Results (the figures of both stores are checked equal: events, cases, visits, headline
figures) are printed and written as JSON to `$VSM_BENCH_OUT` (a folder, or beside a .json
file; default bench/results/), `nightly-<time>.json`.

    python bench/nightly.py                      # 10M events
    BENCH_NIGHTLY_SCALE=1M python bench/nightly.py
    python bench/nightly.py analyst DB STREAM OUT STOP   # the analysts' loop (used by the above)
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
import run  # noqa: E402  (its machine())

PROJECT = HERE.parent
PYTHON = sys.executable
STREAM = "claims"
NEW_SHARE = 0.01
TARGET_RATIO = 0.15
ANALYST_QUERIES = (
    "SELECT step, visits, queue_time_p50_s, process_time_p50_s, first_pass_yield, wip_avg "
    "FROM step_metrics WHERE stream = $stream ORDER BY visits DESC",
    "SELECT step, count(*) AS visits, avg(queue_time_s) AS queue_mean_s, sum(is_rework::INT) AS rework "
    "FROM visits WHERE stream = $stream GROUP BY step ORDER BY visits DESC",
)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ the data


def split(log: generate.Log) -> tuple[Path, Path, dict]:
    """The base file (first 99% of events by time) and the night's file (the last 1%), cached
    beside the log; with what the night brings (events, new cases, cases it continues)."""
    import polars as pl

    stem = log.parquet.with_suffix("")
    base, night, meta = (
        Path(f"{stem}-base.parquet"),
        Path(f"{stem}-night.parquet"),
        Path(f"{stem}-night.json"),
    )
    if not (base.exists() and night.exists() and meta.exists()):
        say(f"splitting {log.parquet.name}: first {1 - NEW_SHARE:.0%} of events by time, then the night's")
        frame = pl.read_parquet(log.parquet).sort("timestamp", maintain_order=True)
        cut = frame.height - round(frame.height * NEW_SHARE)
        before, after = frame.head(cut), frame.tail(frame.height - cut)
        known = set(before["case_id"].unique().to_list())
        cases = after["case_id"].unique()
        continued = int(cases.is_in(list(known)).sum())
        for part, path in ((before, base), (after, night)):
            part.write_parquet(path.with_suffix(".partial"), compression="zstd")
            os.replace(path.with_suffix(".partial"), path)
        facts = {
            "base_events": before.height,
            "night_events": after.height,
            "night_cases": cases.len(),
            "night_cases_continued": continued,
            "night_cases_new": cases.len() - continued,
        }
        meta.write_text(json.dumps(facts, indent=1) + "\n")
    return base, night, json.loads(meta.read_text())


def place(file: Path, target: Path) -> None:
    """`file` as `target` (a hard link: no copy of a large file; a copy across file systems)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(file, target)
    except OSError:
        shutil.copy2(file, target)


# ------------------------------------------------------------------------------ running vsm


def vsm(args: list[str], cwd: Path, on_line=lambda line: None) -> dict:
    """`vsm ARGS` in a fresh process in `cwd`: wall time, peak resident set, exit code, and the
    JSON lines it printed, each with the seconds since the start at which it arrived (and
    handed to `on_line` then)."""
    env = {**os.environ, "PYTHONPATH": os.environ.get("VSM_BENCH_PROJECT") or str(PROJECT)}
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: no stall on a full pipe
        child = subprocess.Popen(
            [PYTHON, "-m", "pipeline", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=errors
        )
        lines = []
        for raw in child.stdout:
            at = time.perf_counter() - started
            try:
                lines.append({"at_s": round(at, 3), **json.loads(raw)})
            except ValueError:
                continue  # the text output of other commands
            on_line(lines[-1])
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code:
        say(f"  vsm {' '.join(args)}: exit {code}\n{stderr[-2000:]}")
    return {
        "command": "vsm " + " ".join(args),
        "wall_s": round(wall, 3),
        "peak_bytes": usage.ru_maxrss * 1024,
        "exit_code": code,
        "error": stderr.strip().splitlines()[-1] if code and stderr.strip() else "",
        "lines": lines,
    }


def stages(run: dict, folder: Path) -> list[dict]:
    """The seconds of each stage of `vsm run`'s one stream, from its JSON lines' arrival (paths
    in the stage names shown relative to the project `folder`)."""
    marks = [
        (line["at_s"], line["stage"].replace(f"{folder}{os.sep}", ""))
        for line in run["lines"]
        if line.get("event") == "stage"
    ]
    ends = [line["at_s"] for line in run["lines"] if line.get("event") == "stream"]
    out = []
    for i, (at, name) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else (ends[0] if ends else run["wall_s"])
        out.append({"stage": name, "s": round(end - at, 3)})
    return out


def has_option(option: str, cwd: Path) -> bool:
    """Whether `vsm compute --help` lists `option` (h14's `--full`)."""
    env = {**os.environ, "PYTHONPATH": os.environ.get("VSM_BENCH_PROJECT") or str(PROJECT)}
    done = subprocess.run(
        [PYTHON, "-m", "pipeline", "compute", "--help"], cwd=cwd, env=env, capture_output=True, text=True
    )
    return option in done.stdout


def figures(db: Path) -> dict:
    """What both stores must agree on after the night: counts and headline figures."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        one = lambda sql: con.execute(sql, {"s": STREAM}).fetchone()  # noqa: E731
        summary = one(
            "SELECT cases, open_cases, completed_cases, round(lead_time_p50_s, 3), round(wip_avg, 6), "
            "round(first_pass_yield, 6) FROM stream_summary WHERE stream = $s"
        )
        return {
            "events": one("SELECT count(*) FROM events WHERE stream = $s")[0],
            "cases": one("SELECT count(*) FROM cases WHERE stream = $s")[0],
            "visits": one("SELECT count(*) FROM visits WHERE stream = $s")[0],
            "step_metrics_visits": one("SELECT sum(visits) FROM step_metrics WHERE stream = $s")[0],
            "summary": list(summary) if summary else None,
        }


# ------------------------------------------------------------------------------ the analysts


def analyst_loop(db: Path, stream: str, out: Path, stop: Path, pause_s: float) -> None:
    """Rounds of ANALYST_QUERIES, each on a new read-only connection, until `stop` exists (one
    at least); each round's latency or error to `out` (JSON). Plain DuckDB, as a BI tool or a
    notebook opens the file."""
    import duckdb

    rounds = []
    started = time.perf_counter()
    while True:  # one round at least, however soon the run ends
        begun = time.perf_counter()
        try:
            with duckdb.connect(str(db), read_only=True) as con:
                for query in ANALYST_QUERIES:
                    con.execute(query, {"stream": stream}).fetchall()
            rounds.append({"at_s": round(begun - started, 3), "s": round(time.perf_counter() - begun, 4)})
        except duckdb.Error as exc:
            error = str(exc).strip().splitlines()[0][:300]
            rounds.append({"at_s": round(begun - started, 3), "s": None, "error": error})
        if stop.exists():
            break
        time.sleep(pause_s)
    out.write_text(json.dumps(rounds) + "\n")


def start_analyst(db: Path, folder: Path, name: str, pause_s: float) -> tuple[subprocess.Popen, Path, Path]:
    out, stop = folder / f"{name}.json", folder / f"{name}.stop"
    child = subprocess.Popen(
        [PYTHON, str(Path(__file__)), "analyst", str(db), STREAM, str(out), str(stop), str(pause_s)]
    )
    return child, out, stop


def stop_analyst(child: subprocess.Popen, out: Path, stop: Path) -> dict:
    stop.touch()
    child.wait(timeout=120)
    return latency(json.loads(out.read_text()) if out.exists() else [])


def latency(rounds: list[dict]) -> dict:
    times = sorted(r["s"] for r in rounds if r["s"] is not None)
    errors = [r["error"] for r in rounds if r["s"] is None]

    def pct(p: float) -> float | None:
        return times[min(len(times) - 1, int(p * len(times)))] if times else None

    return {
        "rounds": len(rounds),
        "failures": len(errors),
        "first_error": errors[0] if errors else "",
        "p50_s": statistics.median(times) if times else None,
        "p95_s": pct(0.95),
        "max_s": times[-1] if times else None,
    }


# ------------------------------------------------------------------------------ the run


def bench(events: int, work_root: Path, idle_s: float, pause_s: float) -> dict:
    log = generate.ensure("claims", events, csv=False, say=say)
    base, night, facts = split(log)
    folder = Path(tempfile.mkdtemp(prefix="nightly-", dir=work_root))
    project, baseline = folder / "project", folder / "baseline"
    result: dict = {"scale": generate.scale_label(events), "events": events, **facts}
    try:
        place(base, project / "drops" / "claims-1.parquet")
        say(f"(a) setup: vsm init + vsm ingest of the base file ({facts['base_events']:,} events)")
        steps = [
            vsm(["init", STREAM, "--source", "drops/claims-*.parquet"], project),
            vsm(["ingest", STREAM, "--no-png"], project),
        ]
        result["setup"] = [{k: v for k, v in s.items() if k != "lines"} for s in steps]
        if any(s["exit_code"] for s in steps):
            return result
        say("(b) copying the project for the baseline")
        shutil.copytree(project, baseline, symlinks=True)
        place(night, project / "drops" / "claims-2.parquet")
        place(night, baseline / "drops" / "claims-2.parquet")

        db = project / "vsm.duckdb"
        say(f"analysts' queries for {idle_s:.0f} s with no run going")
        child, out, stop = start_analyst(db, folder, "idle", pause_s)
        time.sleep(idle_s)
        result["analysts_idle"] = stop_analyst(child, out, stop)

        say(f"(c) vsm run {STREAM} with the night's {facts['night_events']:,} events, analysts querying")
        analysts = []

        def start_once_open(line: dict) -> None:
            # from the run's first stage after "starting", by when it has opened the store: an
            # analyst's connection open at the instant a writer opens the file would fail the
            # run itself where the run writes the analysts' file (a lock error), and the
            # benchmark measures analysts during the run, not the run's luck
            stage = line.get("event") == "stage" and line.get("stage") != "starting"
            if stage and not analysts:
                analysts.append(start_analyst(db, folder, "during", pause_s))

        night_run = vsm(["run", STREAM, "--no-png", "--log-format", "json"], project, start_once_open)
        result["analysts_during"] = stop_analyst(*analysts[0]) if analysts else latency([])
        streams = [line for line in night_run["lines"] if line.get("event") == "stream"]
        result["nightly"] = {
            **{k: v for k, v in night_run.items() if k != "lines"},
            "stages": stages(night_run, project),
            "stream": streams[0] if streams else None,
        }

        full = has_option("--full", baseline)
        result["baseline_command"] = f"vsm compute {STREAM}" + (" --full" if full else "")
        say(f"(d) baseline: vsm ingest --no-compute (not timed), then {result['baseline_command']}")
        load = vsm(["ingest", STREAM, "--no-compute"], baseline)
        recompute = vsm(["compute", STREAM, "--no-png", *(["--full"] if full else [])], baseline)
        result["baseline_load"] = {k: v for k, v in load.items() if k != "lines"}
        result["baseline"] = {k: v for k, v in recompute.items() if k != "lines"}
        result["baseline_full_option"] = full

        ok = not (night_run["exit_code"] or load["exit_code"] or recompute["exit_code"])
        if ok:
            result["ratio"] = round(night_run["wall_s"] / recompute["wall_s"], 3)
            result["figures_nightly"] = figures(db)
            result["figures_baseline"] = figures(baseline / "vsm.duckdb")
            result["figures_equal"] = result["figures_nightly"] == result["figures_baseline"]
        return result
    finally:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(folder, ignore_errors=True)
        else:
            say(f"kept {folder}")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:,.0f} ms"


def render(r: dict) -> str:
    lines = [
        f"nightly case: claims {r['scale']} events = base {r['base_events']:,} + night {r['night_events']:,} "
        f"({r['night_cases_new']:,} new cases, {r['night_cases_continued']:,} cases continued)",
    ]
    for step in r.get("setup", []):
        lines.append(f"  setup  {step['command']:<52} {step['wall_s']:8.1f} s  exit {step['exit_code']}")
    if "nightly" not in r:
        return "\n".join([*lines, "  setup failed: no nightly figures"])
    n, b = r["nightly"], r["baseline"]
    lines += [
        f"  (c) nightly: {n['command']:<44} {n['wall_s']:8.1f} s  peak {n['peak_bytes'] / 1e9:.1f} GB"
        + (f"  FAILED: {n['error']}" if n["exit_code"] else ""),
        *[f"        {s['stage']:<46} {s['s']:8.2f} s" for s in n["stages"]],
        f"        new events loaded: {(n['stream'] or {}).get('new_events')}, status "
        f"{(n['stream'] or {}).get('status')}",
        f"  (d) baseline: {b['command']:<43} {b['wall_s']:8.1f} s  peak {b['peak_bytes'] / 1e9:.1f} GB"
        + (f"  FAILED: {b['error']}" if b["exit_code"] else ""),
    ]
    if not r["baseline_full_option"]:
        lines.append("      (this vsm has no `compute --full`: plain `vsm compute`, a full recompute)")
    lines.append("  both (c) and (d) write the stream's report (--no-png): the ratio compares like with like")
    if "ratio" in r:
        verdict = "met" if r["ratio"] <= TARGET_RATIO else "missed"
        lines.append(f"  ratio (c)/(d) = {r['ratio']:.2f}  target <= {TARGET_RATIO}: {verdict}")
        lines.append(
            "  results of (c) and (d) equal (events, cases, visits, headline figures): "
            + ("yes" if r["figures_equal"] else f"NO: {r['figures_nightly']} vs {r['figures_baseline']}")
        )
    else:
        lines.append("  ratio (c)/(d): not measured (a step failed)")
    lines.append("analysts' round (step metrics + visits GROUP BY step, a new read-only connection each):")
    for name in ("idle", "during"):
        a = r.get(f"analysts_{name}")
        if a:
            lines.append(
                f"  {name:<7} {a['rounds']:5d} rounds  p50 {_ms(a['p50_s']):>8}  p95 {_ms(a['p95_s']):>8}  "
                f"max {_ms(a['max_s']):>8}  failures {a['failures']}"
                + (f" ({a['first_error']})" if a["failures"] else "")
            )
    idle, during = r.get("analysts_idle"), r.get("analysts_during")
    if idle and during and idle["p50_s"] and during["p50_s"]:
        p50, p95 = during["p50_s"] / idle["p50_s"], during["p95_s"] / idle["p95_s"]
        lines.append(f"  during/idle: p50 x{p50:.1f}, p95 x{p95:.1f} (of the rounds that succeeded)")
    return "\n".join(lines)


def out_path() -> Path:
    out = Path(os.environ.get("VSM_BENCH_OUT") or HERE / "results")
    folder = out.parent if out.suffix == ".json" else out
    return folder / f"nightly-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"


def main(argv: list[str]) -> int:
    if argv[:1] == ["analyst"]:
        db, stream, out, stop, pause = argv[1:6]
        analyst_loop(Path(db), stream, Path(out), Path(stop), float(pause))
        return 0
    events = generate.parse_scale(os.environ.get("BENCH_NIGHTLY_SCALE", "10M"))
    work_root = generate.cache_dir() / "runs"
    work_root.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    result = bench(
        events,
        work_root,
        idle_s=float(os.environ.get("BENCH_NIGHTLY_IDLE_S", "10")),
        pause_s=float(os.environ.get("BENCH_NIGHTLY_PAUSE_S", "0.1")),
    )
    text = render(result)
    target = out_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "started": started,
        "machine": run.machine(),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        **result,
    }
    target.write_text(json.dumps({**record, "table": text}, indent=1, default=str) + "\n")
    say(f"results written to {target}")
    print(text, flush=True)
    return 0 if "ratio" in result else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
