"""Synthetic event logs for the benchmark: claims (interval) and incidents (status), any size.

Deterministic (fixed seed: the same scale gives the same bytes) and vectorised (numpy and
polars, no Python loop over cases or events), so 10M events take seconds and 100M a few
minutes. Logs are cached in `$VSM_BENCH_CACHE` (default `~/.cache/vsm-bench`), outside git,
as Parquet and CSV, each with a `.json` beside it holding the figures the generator knows
(events, cases, visits, completed cases) for the benchmark and its test to check against.

claims: an insurance-claims interval log, one `start` and one `complete` row per visit,
columns case_id, activity, lifecycle, timestamp (tz-aware: UTC in Parquet, ISO 8601 with the
Europe/Amsterdam offset in CSV), resource, team, amount. About 12 events per case: Register
Claim > Check Coverage (sometimes twice) > [Request Documents] > Assess Damage > Approve Claim
(with rework loops back to Assess Damage) > Pay Claim > Close Claim, or a Reject Claim branch.

incidents: a ServiceNow-like status log, one row per status change, columns number, state,
sys_updated_on (naive; day-first `dd/mm/yyyy HH:MM:SS` in CSV), assigned_to (empty on New
rows), assignment_group, priority, category. About 5 rows per incident: New > In Progress
> [Awaiting Customer > In Progress]* > [On Hold > In Progress] > Resolved > [reopened: In
Progress > Resolved] > Closed.

Every log holds exactly the requested number of events: cases arrive evenly over two years,
and the log is cut at the instant of its N-th event (as an export cut off at that moment),
which leaves the cases in flight open. Rows are sorted by time within blocks of
about `CHUNK_EVENTS` rows of arriving cases (so a log up to 10M events is sorted by time
throughout; a larger one block by block, as a concatenation of exports would be).

    python bench/generate.py 1M 10M        # make (or find) these scales; print their paths
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

GENERATOR_VERSION = 1  # bump when the data model changes: the cache key includes it
SEED = 20260301
SCALES = {"100k": 100_000, "1M": 1_000_000, "10M": 10_000_000, "100M": 100_000_000}
KINDS = ("claims", "incidents")
CHUNK_EVENTS = 12_000_000  # rows generated per block of arriving cases
SPAN_S = 730 * 86_400  # arrivals spread over two years
EPOCH_START_S = 1_704_067_200  # 2024-01-01T00:00:00Z
CSV_TIMEZONE = "Europe/Amsterdam"


def cache_dir() -> Path:
    return Path(os.environ.get("VSM_BENCH_CACHE") or Path.home() / ".cache" / "vsm-bench")


def parse_scale(label: str) -> int:
    """'100k' -> 100_000, '10M' -> 10_000_000; a plain number is taken as is."""
    text = label.strip()
    if text in SCALES:
        return SCALES[text]
    units = {"k": 1_000, "K": 1_000, "M": 1_000_000, "m": 1_000_000, "G": 1_000_000_000}
    try:
        if text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except (ValueError, IndexError):
        raise ValueError(f"scale {label!r}: expected 100k, 1M, 10M, 100M or a number of events") from None


def scale_label(events: int) -> str:
    for label, n in SCALES.items():
        if n == events:
            return label
    if events % 1_000_000 == 0:
        return f"{events // 1_000_000}M"
    if events % 1_000 == 0:
        return f"{events // 1_000}k"
    return str(events)


# ----------------------------------------------------------------------------- claims model

CLAIM_STEPS = (
    # activity, team, mean queue before it (s, exponential), median process time (s, lognormal)
    ("Register Claim", "Intake", 0, 12 * 60),
    ("Check Coverage", "Intake", 5 * 3600, 35 * 60),
    ("Request Documents", "Assessment", 86_400, 10 * 60),
    ("Assess Damage", "Assessment", 3 * 86_400, 2.7 * 3600),
    ("Approve Claim", "Finance", 18 * 3600, 25 * 60),
    ("Reject Claim", "Finance", 86_400, 20 * 60),
    ("Pay Claim", "Finance", 3 * 86_400, 15 * 60),
    ("Close Claim", "Intake", 4 * 3600, 10 * 60),
)
REG, CHECK, DOCS, ASSESS, APPROVE, REJECT, PAY, CLOSE = range(8)
TEAM_SIZES = {"Intake": 60, "Assessment": 40, "Finance": 30}


def _claim_variants() -> tuple[list[list[int]], np.ndarray]:
    """Every step sequence the model makes, with its probability."""
    paths, probs = [], []
    for recheck, p_recheck in ((0, 0.94), (1, 0.06)):
        for docs, p_docs in ((0, 0.72), (1, 0.28)):
            head = [REG, CHECK] + [CHECK] * recheck + [DOCS] * docs
            outcomes = [
                ([REJECT, CLOSE], 0.04),
                ([ASSESS, REJECT, CLOSE], 0.06),
                ([ASSESS, APPROVE, PAY, CLOSE], 0.90 * 0.86),
                ([ASSESS, APPROVE, ASSESS, APPROVE, PAY, CLOSE], 0.90 * 0.12),
                ([ASSESS, APPROVE, ASSESS, APPROVE, ASSESS, APPROVE, PAY, CLOSE], 0.90 * 0.02),
            ]
            for tail, p_tail in outcomes:
                paths.append(head + tail)
                probs.append(p_recheck * p_docs * p_tail)
    return paths, np.array(probs) / sum(probs)


# --------------------------------------------------------------------------- incidents model

INCIDENT_STATES = ("New", "In Progress", "Awaiting Customer", "On Hold", "Resolved", "Closed")
NEW, PROGRESS, AWAITING, HOLD, RESOLVED, CLOSED = range(6)
# mean time spent in each state before the next row (s)
STATE_MEAN_S = (3 * 3600, 86_400, 2 * 86_400, 86_400, 3 * 86_400, 0)
GROUPS = ("Service Desk", "Network", "Applications", "Database")
GROUP_SHARE = (0.4, 0.2, 0.3, 0.1)
PRIORITIES = ("1 - Critical", "2 - High", "3 - Moderate", "4 - Low")
PRIORITY_SHARE = (0.03, 0.15, 0.54, 0.28)
CATEGORIES = ("Software", "Network", "Inquiry / Help", "Hardware", "Database")
CATEGORY_SHARE = (0.39, 0.2, 0.16, 0.15, 0.1)
PEOPLE_PER_GROUP = 60


def _incident_variants() -> tuple[list[list[int]], np.ndarray]:
    paths, probs = [], []
    for waits, p_w in ((0, 0.70), (1, 0.22), (2, 0.08)):
        for holds, p_h in ((0, 0.85), (1, 0.15)):
            for reopens, p_r in ((0, 0.9), (1, 0.1)):
                path = [NEW, PROGRESS] + [AWAITING, PROGRESS] * waits + [HOLD, PROGRESS] * holds
                path += [RESOLVED] + [PROGRESS, RESOLVED] * reopens + [CLOSED]
                paths.append(path)
                probs.append(p_w * p_h * p_r)
    return paths, np.array(probs) / sum(probs)


# ------------------------------------------------------------------------ shared machinery


@dataclass(frozen=True)
class Plan:
    kind: str
    events: int  # rows wanted
    cases: int  # cases generated (more than kept: the cut leaves the latest out)
    rows_per_case: float

    @property
    def chunks(self) -> list[tuple[int, int]]:
        size = math.ceil(CHUNK_EVENTS / self.rows_per_case)
        return [(lo, min(lo + size, self.cases)) for lo in range(0, self.cases, size)]


def plan(kind: str, events: int) -> Plan:
    paths, probs = _claim_variants() if kind == "claims" else _incident_variants()
    rows = float(sum(p * len(path) for path, p in zip(paths, probs, strict=True)))
    if kind == "claims":
        rows *= 2  # start + complete per visit
    # 4 % more cases than the events need: the cut at the N-th event falls in the last weeks.
    return Plan(kind, events, math.ceil(events / rows * 1.04) + 50, rows)


def _explode(rng: np.random.Generator, paths, probs, n_cases: int):
    """(case index per visit, step per visit, position in case per visit) for n_cases sampled cases."""
    lengths = np.array([len(p) for p in paths])
    flat = np.concatenate([np.array(p) for p in paths])
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    variant = rng.choice(len(paths), size=n_cases, p=probs)
    per_case = lengths[variant]
    case = np.repeat(np.arange(n_cases), per_case)
    first = np.repeat(np.cumsum(per_case) - per_case, per_case)
    position = np.arange(case.size) - first
    step = flat[offsets[variant][case] + position]
    return case, step, position, first


def _segment_cumsum(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Cumulative sum of `values` restarting at each case (first = index of the case's first item)."""
    total = np.cumsum(values)
    return total - (total[first] - values[first])


def _arrivals(rng, lo: int, hi: int, total_cases: int) -> np.ndarray:
    """Arrival second of cases lo..hi-1: evenly spread over SPAN_S, jittered, increasing."""
    gap = SPAN_S / total_cases
    return EPOCH_START_S + ((np.arange(lo, hi) + rng.random(hi - lo)) * gap).astype(np.int64)


def _claims_chunk(p: Plan, index: int, lo: int, hi: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([SEED, 1, index])
    paths, probs = _claim_variants()
    case, step, position, first = _explode(rng, paths, probs, hi - lo)
    queue_mean = np.array([s[2] for s in CLAIM_STEPS], dtype=float)
    process_median = np.array([s[3] for s in CLAIM_STEPS], dtype=float)
    queue = rng.exponential(1.0, case.size) * queue_mean[step]
    queue[position == 0] = 0
    process = np.maximum(1.0, process_median[step] * rng.lognormal(0.0, 0.6, case.size))
    queue, process = np.round(queue).astype(np.int64), np.round(process).astype(np.int64)
    done_before = _segment_cumsum(queue + process, first) - (queue + process)
    start = _arrivals(rng, lo, hi, p.cases)[case] + done_before + queue
    end = start + process
    team_of_step = np.array([list(TEAM_SIZES).index(s[1]) for s in CLAIM_STEPS])
    team = team_of_step[step]
    size = np.array(list(TEAM_SIZES.values()))[team]
    who = rng.integers(0, 1 << 30, case.size) % size
    # 2 % of visits are finished by someone else of the team than who started them
    handed = rng.random(case.size) < 0.02
    who_done = np.where(handed, (who + 1 + rng.integers(0, 1 << 30, case.size) % (size - 1)) % size, who)
    amount = np.round(np.exp(rng.normal(np.log(3000), 1.0, hi - lo)), 2)
    n = case.size
    return {
        "case_no": np.concatenate([case, case]) + lo,
        "step": np.concatenate([step, step]),
        "position": np.concatenate([position, position]),
        "lifecycle": np.concatenate([np.zeros(n, np.int8), np.ones(n, np.int8)]),
        "ts": np.concatenate([start, end]),
        "team": np.concatenate([team, team]),
        "who": np.concatenate([who, who_done]),
        "amount": np.concatenate([amount[case], amount[case]]),
    }


def _incidents_chunk(p: Plan, index: int, lo: int, hi: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([SEED, 2, index])
    paths, probs = _incident_variants()
    case, state, position, first = _explode(rng, paths, probs, hi - lo)
    mean = np.array(STATE_MEAN_S, dtype=float)
    stay = np.round(rng.exponential(1.0, case.size) * mean[state]).astype(np.int64) + 1
    entered = _arrivals(rng, lo, hi, p.cases)[case] + _segment_cumsum(stay, first) - stay
    group = rng.choice(len(GROUPS), size=hi - lo, p=GROUP_SHARE)
    owner = rng.integers(0, PEOPLE_PER_GROUP, hi - lo)
    # 10 % of the rows after New are by a colleague (a reassignment inside the group)
    other = rng.random(case.size) < 0.1
    who = np.where(other, rng.integers(0, PEOPLE_PER_GROUP, case.size), owner[case])
    return {
        "case_no": case + lo,
        "step": state,
        "position": position,
        "lifecycle": np.zeros(case.size, np.int8),
        "ts": entered,
        "team": group[case],
        "who": np.where(state == NEW, -1, who),
        "priority": rng.choice(len(PRIORITIES), size=hi - lo, p=PRIORITY_SHARE)[case],
        "category": rng.choice(len(CATEGORIES), size=hi - lo, p=CATEGORY_SHARE)[case],
    }


def _chunk(p: Plan, index: int, lo: int, hi: int) -> dict[str, np.ndarray]:
    return (_claims_chunk if p.kind == "claims" else _incidents_chunk)(p, index, lo, hi)


def _cut(p: Plan) -> tuple[int, int]:
    """(instant T, rows at T to keep): rows before T, and the first such rows at T, make N."""
    instants = np.concatenate([_chunk(p, i, lo, hi)["ts"] for i, (lo, hi) in enumerate(p.chunks)])
    if instants.size < p.events:
        raise RuntimeError(f"generated {instants.size} rows, fewer than the {p.events} wanted")
    at = int(np.partition(instants, p.events - 1)[p.events - 1])
    return at, p.events - int(np.count_nonzero(instants < at))


def _frame(p: Plan, rows: dict[str, np.ndarray]) -> pl.DataFrame:
    """The chunk's kept rows as the log's columns, sorted by time (then case, step, lifecycle)."""
    order = np.lexsort((rows["lifecycle"], rows["position"], rows["case_no"], rows["ts"]))
    rows = {k: v[order] for k, v in rows.items()}
    ts = pl.from_epoch(pl.Series(rows["ts"]), time_unit="s")
    if p.kind == "claims":
        teams = list(TEAM_SIZES)
        return pl.DataFrame(
            {
                "case_id": _ids("CLM-", rows["case_no"], 8),
                "activity": _names([s[0] for s in CLAIM_STEPS], rows["step"]),
                "lifecycle": _names(["start", "complete"], rows["lifecycle"]),
                "timestamp": ts.dt.replace_time_zone("UTC"),
                "resource": _people(teams, rows["team"], rows["who"]),
                "team": _names(teams, rows["team"]),
                "amount": rows["amount"],
            }
        )
    return pl.DataFrame(
        {
            "number": _ids("INC", rows["case_no"], 8),
            "state": _names(list(INCIDENT_STATES), rows["step"]),
            "sys_updated_on": ts,
            "assigned_to": _people(list(GROUPS), rows["team"], rows["who"]),
            "assignment_group": _names(list(GROUPS), rows["team"]),
            "priority": _names(list(PRIORITIES), rows["priority"]),
            "category": _names(list(CATEGORIES), rows["category"]),
        }
    )


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    return prefix + pl.Series(numbers + 1).cast(pl.String).str.zfill(width)


def _names(names: list[str], codes: np.ndarray) -> pl.Series:
    return pl.Series(codes, dtype=pl.Int64).replace_strict(
        list(range(len(names))), names, return_dtype=pl.String
    )


def _people(groups: list[str], group: np.ndarray, who: np.ndarray) -> pl.Series:
    """'intake.017'-style names; null where who < 0 (no one assigned)."""
    prefix = _names([g.lower().replace(" ", "-") for g in groups], group)
    number = pl.Series(who).cast(pl.String).str.zfill(3)
    names = pl.select((prefix + "." + number).alias("n")).to_series()
    return pl.select(pl.when(pl.Series(who) >= 0).then(names)).to_series()


def _csv_frame(p: Plan, frame: pl.DataFrame) -> pl.DataFrame:
    if p.kind == "claims":
        local = pl.col("timestamp").dt.convert_time_zone(CSV_TIMEZONE)
        return frame.with_columns(local.dt.to_string("%Y-%m-%dT%H:%M:%S%:z").alias("timestamp"))
    return frame.with_columns(pl.col("sys_updated_on").dt.to_string("%d/%m/%Y %H:%M:%S"))


def _known(frames_stats: list[dict]) -> dict:
    total: dict[str, int] = {}
    for s in frames_stats:
        for k, v in s.items():
            total[k] = total.get(k, 0) + v
    return total


def _stats(p: Plan, frame: pl.DataFrame) -> dict:
    case = "case_id" if p.kind == "claims" else "number"
    last = frame.group_by(case).agg(pl.col("activity" if p.kind == "claims" else "state").last())
    if p.kind == "claims":
        starts = frame.filter(pl.col("lifecycle") == "start").height
        done = frame.filter((pl.col("activity") == "Close Claim") & (pl.col("lifecycle") == "complete"))
        return {
            "events": frame.height,
            "cases": frame[case].n_unique(),
            "visits": starts,
            "start_rows": starts,
            "complete_rows": frame.height - starts,
            "completed_cases": done.height,
            "visits_of_completed_cases": 0,  # filled in below
        }
    return {
        "events": frame.height,
        "cases": frame[case].n_unique(),
        "completed_cases": last.filter(pl.col("state") == "Closed").height,
    }


@dataclass(frozen=True)
class Log:
    kind: str
    events: int
    parquet: Path
    csv: Path
    meta: Path

    def known(self) -> dict:
        return json.loads(self.meta.read_text())

    def ready(self, csv: bool = True) -> bool:
        """Generated already: its figures and Parquet file, and its CSV unless `csv=False`."""
        return self.meta.exists() and self.parquet.exists() and (self.csv.exists() or not csv)

    @property
    def xes(self) -> Path:
        """Where ensure_xes keeps its XES copy. "-ns": rustxes' exporter reads a datetime's
        number as nanoseconds; the Parquet file's are microseconds, so a copy written from them
        as they were dated every event in January 1970."""
        return self.parquet.with_name(self.parquet.stem + "-ns.xes")


def paths(kind: str, events: int) -> Log:
    stem = cache_dir() / f"{kind}-{scale_label(events)}-v{GENERATOR_VERSION}"
    return Log(
        kind, events, stem.with_suffix(".parquet"), stem.with_suffix(".csv"), stem.with_suffix(".json")
    )


def ensure(kind: str, events: int, *, csv: bool = True, say=lambda _: None) -> Log:
    """The cached log of this kind and size, generated first if missing. `csv=False`: only
    the Parquet file (and its figures) must exist, and a generation writes no CSV (8.8 GB
    at 100M events, where the benchmark runs Parquet only)."""
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: expected one of {', '.join(KINDS)}")
    log = paths(kind, events)
    if log.ready(csv):
        return log
    log.meta.parent.mkdir(parents=True, exist_ok=True)
    say(f"generating {kind} log of {events:,} events in {log.meta.parent}")
    p = plan(kind, events)
    at, ties = _cut(p)
    parquet_tmp, csv_tmp = log.parquet.with_suffix(".parquet.partial"), log.csv.with_suffix(".csv.partial")
    writer = None
    stats = []
    case_column = "case_id" if kind == "claims" else "number"
    with open(csv_tmp, "wb") if csv else contextlib.nullcontext() as csv_out:
        for i, (lo, hi) in enumerate(p.chunks):
            rows = _chunk(p, i, lo, hi)
            at_cut = rows["ts"] == at
            rank_at_cut = np.cumsum(at_cut) - 1
            keep = (rows["ts"] < at) | (at_cut & (rank_at_cut < ties))
            ties -= int(np.count_nonzero(at_cut & keep))
            rows = {k: v[keep] for k, v in rows.items()}
            if not rows["ts"].size:
                continue
            frame = _frame(p, rows)
            s = _stats(p, frame)
            if kind == "claims":
                done = frame.filter(
                    (pl.col("activity") == "Close Claim") & (pl.col("lifecycle") == "complete")
                )[case_column]
                s["visits_of_completed_cases"] = frame.filter(
                    pl.col(case_column).is_in(done.implode()) & (pl.col("lifecycle") == "start")
                ).height
            stats.append(s)
            table = frame.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(parquet_tmp, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=1_000_000)
            if csv_out is not None:
                _csv_frame(p, frame).write_csv(csv_out, include_header=(i == 0))
    if writer is not None:
        writer.close()
    known = _known(stats)
    if known.get("events") != events:
        raise RuntimeError(f"generated {known.get('events')} events, expected {events}")
    os.replace(parquet_tmp, log.parquet)
    if csv:
        os.replace(csv_tmp, log.csv)
    else:  # a CSV from an earlier generation would not match this Parquet's rows
        log.csv.unlink(missing_ok=True)
    log.meta.write_text(
        json.dumps({"kind": kind, "generator_version": GENERATOR_VERSION, "seed": SEED, **known}, indent=2)
        + "\n"
    )
    return log


def ensure_xes(events: int, *, say=lambda _: None) -> Path:
    """The claims log of this size as XES (written by rustxes' exporter), cached."""
    log = ensure("claims", events, csv=False, say=say)
    target = log.xes
    if target.exists():
        return target
    say(f"writing {target.name} with rustxes")
    import rustxes

    frame = (
        pl.read_parquet(log.parquet)
        .rename(
            {
                "case_id": "case:concept:name",
                "activity": "concept:name",
                "lifecycle": "lifecycle:transition",
                "timestamp": "time:timestamp",
                "resource": "org:resource",
                "team": "org:group",
            }
        )
        .with_columns(pl.col("time:timestamp").dt.cast_time_unit("ns"))
    )
    partial = target.with_name(target.name + ".partial.xes")
    rustxes.export_xes(frame, str(partial))
    os.replace(partial, target)
    return target


def ensure_apart(kind: str, events: int, *, csv: bool = True, xes: bool = False, say=lambda _: None):
    """As ensure (or ensure_xes, `xes=True`), but a missing log is generated in a child process,
    so that this one stays small. For a benchmark that measures the peak memory of the runs it
    starts: Linux counts a process's largest resident set from before its exec, so every run
    started after this process had held a 10M log (3 GB) reported at least that much (the 1M
    XES run said 3.2 GB; 1.1 GB alone)."""
    import subprocess

    log = paths(kind, events)
    if not log.ready(csv) or (xes and not log.xes.exists()):
        call = f"ensure_xes({events})" if xes else f"ensure({kind!r}, {events}, csv={csv})"
        say(f"generating {kind} log of {events:,} events{' as XES' if xes else ''} (in a child process)")
        here = str(Path(__file__).parent)
        code = f"import sys; sys.path.insert(0, {here!r}); import generate; generate.{call}"
        subprocess.run([sys.executable, "-c", code], check=True)
    return ensure_xes(events) if xes else ensure(kind, events, csv=csv)


def main(argv: list[str]) -> int:
    labels = argv or ["100k"]
    for label in labels:
        events = parse_scale(label)
        for kind in KINDS:
            log = ensure(kind, events, say=lambda m: print(m, file=sys.stderr))
            print(log.parquet)
            print(log.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
