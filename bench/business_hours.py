"""The business-hours case of `make bench` (issue 20): what business durations add to a full
compute, at `BENCH_BH_SCALE` events (default 10M; the issue's target: at most 15% at 10M).

For each log of `BENCH_BH_LOGS` (default claims,incidents: bench/generate.py, Parquet), the
stream's settings are detected (`vsm init`'s init_stream) and its events loaded once; then
a full compute (`compute_flow(full=True)`, in this process) runs `BENCH_BH_RUNS` times
(default 3) in each of three variants, in turns (plain, calendar, calendar + sla, plain,
...), so that a slow moment of the machine falls on every variant alike:

- plain: no calendar (every *_bh_s twin is the elapsed value: a copy);
- calendar: [calendar] Europe/Amsterdam, weekday hours with a lunch break, Dutch public
  holidays, and one team ([calendars.teams]) in America/New_York: every twin measured;
- calendar + sla: the same and two [[sla]] (one by an attribute condition, one for the rest)
  with the default pause statuses.

Reported: the median compute time of each variant, and `calendar / plain - 1` (business
durations' extra compute time) and `calendar + sla / plain - 1`. On a shared machine those
ratios of two separate runs are noisy, so each run also times its own business steps
(laying the calendars out, sql/flow/visits_built.sql, cases.sql; and
for the SLAs stage_slas and sla.sql) inside the compute: `business share` = their time /
the rest of the same compute, the extra time they add, measured within one run (plus, for
team steps, what raw_visits__team.sql takes more with the calendar than without: it weighs
each status row's business time). JSON to `$VSM_BENCH_OUT` (a
folder, or a .json file; default bench/results/), `business-hours-<time>.json`.

    python bench/business_hours.py                    # 10M events
    BENCH_BH_SCALE=1M python bench/business_hours.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import generate  # noqa: E402

from pipeline import flow  # noqa: E402
from pipeline.flow import compute_flow  # noqa: E402
from pipeline.ingest import ingest  # noqa: E402
from pipeline.settings import settings_from_dict  # noqa: E402
from pipeline.store import open_store  # noqa: E402
from pipeline.streams import init_stream  # noqa: E402

TARGET = 0.15
HOURS = {
    "mon": ["08:00-12:00", "13:00-17:00"],
    "tue": ["08:00-17:00"],
    "wed": ["08:00-17:00"],
    "thu": ["08:00-17:00"],
    "fri": ["08:00-16:00"],
}
# an attribute each log carries, for the first SLA's condition
CONDITIONS = {"claims": "CAST(amount AS DOUBLE) > 5000", "incidents": "priority = '1 - Critical'"}


def say(message: str) -> None:
    print(f"[bench business hours] {message}", file=sys.stderr, flush=True)


def variants(data: dict, kind: str, team: str | None) -> dict[str, dict]:
    calendar = dict(data)
    calendar["calendar"] = {
        "timezone": "Europe/Amsterdam",
        "hours": HOURS,
        "holidays": {"country": "NL", "subdivision": "", "dates": []},
    }
    if team:
        calendar["calendars"] = {"teams": {team: {"timezone": "America/New_York"}}}
    with_sla = dict(calendar)
    with_sla["sla"] = [
        {"name": "first", "where": CONDITIONS[kind], "target": "8h"},
        {"name": "rest", "target": "5d"},
    ]
    return {"plain": data, "calendar": calendar, "calendar + sla": with_sla}


# the models that weigh business time (visits_built, cases: their *_bh_s columns; the
# per-hour calendar table) and the staging of calendars and service levels
BUSINESS_STEPS = {"flow_visits_built", "flow_cases", "flow_calendar_hours", "stage_calendars"}
SLA_STEPS = {"flow_sla", "stage_slas"}


class StepClock:
    """Seconds spent in each flow step: the runner's per-model timings (FlowResult.timings,
    added by `add`) and the two staging functions, wrapped for the benchmark only."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        for name in ("stage_calendars", "stage_slas"):
            self._wrap(name)

    def add(self, timings) -> None:
        for t in timings:
            self.seconds[t.model] = self.seconds.get(t.model, 0.0) + t.seconds

    def _wrap(self, name: str) -> None:
        inner = getattr(flow, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

        setattr(flow, name, timed)

    def take(self, steps: set[str]) -> float:
        return sum(self.seconds.pop(k, 0.0) for k in steps)


def bench(kind: str, events: int, runs: int, work: Path) -> dict:
    log = generate.ensure(kind, events, csv=False, say=say)
    folder = Path(tempfile.mkdtemp(prefix=f"bh-{kind}-", dir=work))
    init_stream(kind, log.parquet, streams_dir=folder / "streams")
    data = tomllib.loads((folder / "streams" / f"{kind}.toml").read_text())
    con = open_store(folder / "vsm.duckdb")
    say(f"{kind}: loading {events:,} events")
    ingest(con, settings_from_dict(data))
    team = con.execute("SELECT min(team) FROM events").fetchall()[0][0]
    settings = {name: settings_from_dict(d) for name, d in variants(data, kind, team).items()}
    times: dict[str, list[float]] = {name: [] for name in settings}
    shares: dict[str, list[float]] = {"business": [], "business + sla": []}
    clock = StepClock()
    team_steps: dict[str, list[float]] = {name: [] for name in settings}
    for i in range(runs):
        for name, s in settings.items():
            say(f"{kind}: run {i + 1} of {runs}, {name}")
            clock.seconds.clear()
            started = time.perf_counter()
            result = compute_flow(con, s, full=True)
            total = time.perf_counter() - started
            clock.add(result.timings)
            times[name].append(total)
            business, sla = clock.take(BUSINESS_STEPS), clock.take(SLA_STEPS)
            team_steps[name].append(clock.take({"flow_raw_visits"}))
            if name == "calendar":
                shares["business"].append((business, total - business - sla))
            elif name == "calendar + sla":
                shares["business + sla"].append((business + sla, total - business - sla))
    checks = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE lead_time_bh_s < lead_time_s) FROM cases"
    ).fetchall()[0]
    slas = con.execute("SELECT count(*) FROM sla").fetchall()[0][0]
    con.close()
    medians = {name: statistics.median(t) for name, t in times.items()}
    # team steps (status logs, step_by = team) weigh their rows' business time inside
    # raw_visits__team.sql: what that step takes more with a calendar than without counts too
    team_extra = max(0.0, statistics.median(team_steps["calendar"]) - statistics.median(team_steps["plain"]))

    def share(pairs: list[tuple[float, float]]) -> float:
        return statistics.median((added + team_extra) / (rest - team_extra) for added, rest in pairs)

    return {
        "log": kind,
        "events": events,
        "team_calendar": team,
        "times_s": times,
        "median_s": medians,
        "calendar_extra": medians["calendar"] / medians["plain"] - 1,
        "calendar_sla_extra": medians["calendar + sla"] / medians["plain"] - 1,
        "business_share": share(shares["business"]),
        "business_sla_share": share(shares["business + sla"]),
        "team_step_extra_s": team_extra,
        "cases": checks[0],
        "cases_shorter_in_business_time": checks[1],
        "sla_rows_last_run": slas,
    }


def main() -> int:
    events = generate.parse_scale(os.environ.get("BENCH_BH_SCALE", "10M"))
    kinds = [k for k in os.environ.get("BENCH_BH_LOGS", "claims,incidents").split(",") if k]
    runs = int(os.environ.get("BENCH_BH_RUNS", "3"))
    with tempfile.TemporaryDirectory(prefix="vsm-bench-bh-") as work:
        results = [bench(kind, events, runs, Path(work)) for kind in kinds]
    label = generate.scale_label(events)
    head = ("log", "plain s", "calendar s", "+ sla s", "calendar extra", "+ sla extra", "business share")
    print(f"{head[0]:<10} {head[1]:>8} {head[2]:>11} {head[3]:>8} {head[4]:>15} {head[5]:>12} {head[6]:>15}")
    for r in results:
        m = r["median_s"]
        print(
            f"{r['log']:<10} {m['plain']:>8.2f} {m['calendar']:>11.2f} {m['calendar + sla']:>8.2f} "
            f"{r['calendar_extra']:>14.1%} {r['calendar_sla_extra']:>12.1%} {r['business_share']:>14.1%}"
        )
    print("business share: the business steps' time / the rest of the same compute (with SLAs: ", end="")
    print(", ".join(f"{r['log']} {r['business_sla_share']:.1%}" for r in results) + ")")
    worst = max(r["business_share"] for r in results)
    verdict = "met" if worst <= TARGET else "missed"
    print(f"business durations' extra compute time at {label} events: {worst:.1%} ", end="")
    print(f"(target {TARGET:.0%}: {verdict})")
    out = Path(os.environ.get("VSM_BENCH_OUT") or HERE / "results")
    if out.suffix != ".json":
        out.mkdir(parents=True, exist_ok=True)
        out = out / f"business-hours-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"scale": label, "target": TARGET, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
