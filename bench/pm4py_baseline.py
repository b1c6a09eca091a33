"""The pm4py baseline: the metric set vsm computes, done the way a pm4py user would, on pandas.

    python bench/pm4py_baseline.py <claims log .parquet> <result.json>

Run in its own process by bench/run.py, on the same file as `vsm discover`. Stages, each
timed:

- load: `pandas.read_parquet` (pyarrow), then `pm4py.format_dataframe`.
- pair: start/complete rows paired into one row per visit (start_timestamp + time:timestamp).
  pm4py 2.7's own pairing, `pm4py.objects.log.util.interval_lifecycle.to_interval`, works on
  `EventLog` objects only (a Python object per event: minutes and many GB at 10M events), so
  the pairing is done the pandas way (k-th start of an activity in a case with its k-th
  complete). Starts with no complete (work in process at the cut-off) are left out: pm4py's
  dataframe functions need both timestamps.
- directly-follows with waits: pm4py's pandas DFG with `start_timestamp_key` (frequency and
  wait = next start - previous complete; mean, median, ...).
- process times: `pm4py.get_service_time` (mean and median per activity).
- variants: `pm4py.get_variants`.
- lead times: `pm4py.get_all_case_durations`.
- rework: `pm4py.get_rework_cases_per_activity`.
- WIP and throughput per day: pandas (pm4py has no such function).
- handover between resources: `pm4py.discover_handover_of_work_network`.

Writes the stage times and the figures the benchmark compares with vsm's as JSON.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()


def main(argv: list[str]) -> int:
    source, out = Path(argv[0]), Path(argv[1])
    times: dict[str, float] = {}
    mark = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        times[name] = round(now - mark[0], 4)
        mark[0] = now

    with contextlib.redirect_stdout(io.StringIO()):  # pm4py prints a licence banner on import
        import pandas as pd
        import pm4py
        from pm4py.algo.discovery.dfg.adapters.pandas import df_statistics
    lap("imports")

    df = pd.read_parquet(source, engine="pyarrow")
    df = pm4py.format_dataframe(df, case_id="case_id", activity_key="activity", timestamp_key="timestamp")
    df = df.rename(columns={"resource": "org:resource", "team": "org:group"})
    lap("load")

    keys = ["case:concept:name", "concept:name"]
    starts = df[df["lifecycle"] == "start"].copy()
    completes = df[df["lifecycle"] == "complete"].copy()
    starts["k"] = starts.groupby(keys, sort=False).cumcount()
    completes["k"] = completes.groupby(keys, sort=False).cumcount()
    visits = starts[[*keys, "k", "time:timestamp", "org:resource", "org:group"]].rename(
        columns={"time:timestamp": "start_timestamp"}
    )
    visits = visits.merge(completes[[*keys, "k", "time:timestamp"]], on=[*keys, "k"], how="inner")
    visits = visits.sort_values(["case:concept:name", "start_timestamp", "time:timestamp"], kind="stable")
    visits = visits.reset_index(drop=True)
    lap("pair start/complete")

    frequency, waits = df_statistics.get_dfg_graph(
        visits,
        measure="both",
        start_timestamp_key="start_timestamp",
        timestamp_key="time:timestamp",
        perf_aggregation_key="all",
    )
    lap("directly-follows with waits")

    service_mean = pm4py.get_service_time(visits, start_timestamp_key="start_timestamp")
    pm4py.get_service_time(visits, start_timestamp_key="start_timestamp", aggregation_measure="median")
    lap("process times")

    variants = pm4py.get_variants(visits)
    lap("variants")

    durations = pm4py.get_all_case_durations(visits)
    lap("lead times")

    rework = pm4py.get_rework_cases_per_activity(visits)
    lap("rework")

    cases = visits.groupby("case:concept:name").agg(
        arrival=("start_timestamp", "min"), exit=("time:timestamp", "max")
    )
    arrivals = cases["arrival"].dt.floor("D").value_counts()
    departures = cases["exit"].dt.floor("D").value_counts()
    days = pd.DataFrame({"arrivals": arrivals, "departures": departures}).fillna(0).sort_index()
    days["wip_end"] = (days["arrivals"] - days["departures"]).cumsum()
    lap("WIP and throughput per day")

    handover = pm4py.discover_handover_of_work_network(visits, resource_key="org:resource")
    lap("handover network")

    metrics = round(
        sum(v for k, v in times.items() if k not in ("imports", "load", "pair start/complete")), 4
    )
    result = {
        "source": str(source),
        "total_s": round(time.perf_counter() - STARTED, 4),
        "metrics_s": metrics,
        "stages": [{"stage": k, "s": v} for k, v in times.items()],
        "figures": {
            "events": int(len(df)),
            "cases": int(visits["case:concept:name"].nunique()),
            "visits": int(len(visits)),
            "transitions": len(frequency),
            "transition_count": int(sum(frequency.values())),
            # a step following itself: back-to-back sessions, which vsm makes one visit
            "self_transitions": sum(1 for a, b in frequency if a == b),
            "self_transition_count": int(sum(n for (a, b), n in frequency.items() if a == b)),
            "variants": len(variants),
            "activities_with_process_time": len(service_mean),
            "case_durations": len(durations),
            "rework_activities": len(rework),
            "wip_days": int(len(days)),
            "handover_pairs": int(sum(1 for row in handover.connections.values() if row))
            if hasattr(handover, "connections")
            else None,
            "wait_mean_s_example": next(iter(waits.values()))["mean"] if waits else None,
        },
    }
    out.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
