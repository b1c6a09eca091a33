"""Event logs generated from a known queueing network (for tests/test_simulate.py): Poisson
arrivals, stations with c FIFO servers and exponential service times, Markov routing. An
event-by-event simulation written here with heapq, apart from the product's simulator
(pipeline/simulation.py uses simpy): each visit is written as a start and a complete event.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
ARRIVE = "Arrive"  # a point event at each case's arrival: the log sees the first queue


@dataclass(frozen=True)
class Station:
    servers: int
    service_mean_h: float


def network_log(
    stations: dict[str, Station],
    routing: dict[str, dict[str, float]],
    arrivals_per_h: float,
    days: float,
    seed: int = 7,
) -> tuple[str, list[float]]:
    """(CSV text case_id,activity,lifecycle,timestamp,resource; the lead times in hours of the
    cases that ended) for `days` of arrivals, each case opened by an `Arrive` point event, run
    until every case has ended. `routing`: from step (or "__start__") to {next step or
    "__end__": probability}."""
    rng = random.Random(seed)
    horizon_h = days * 24
    events: list[tuple[float, int, str, int, str]] = []
    order = 0

    def push(t, kind, case, step):
        nonlocal order
        order += 1
        heapq.heappush(events, (t, order, kind, case, step))

    def route(src: str) -> str:
        r, acc = rng.random(), 0.0
        for dst, p in routing[src].items():
            acc += p
            if r < acc:
                return dst
        return dst

    t = rng.expovariate(arrivals_per_h)
    case = 0
    while t < horizon_h:
        push(t, "arrive", case, route("__start__"))
        case += 1
        t += rng.expovariate(arrivals_per_h)
    free = {s: list(range(st.servers)) for s, st in stations.items()}
    queue: dict[str, deque] = {s: deque() for s in stations}
    arrived: dict[int, float] = {}
    lead: list[float] = []
    rows: list[str] = []
    busy: dict[tuple[int, str], int] = {}

    def start(now, case, step):
        server = free[step].pop(0)
        busy[(case, step)] = server
        rows.append(_row(case, step, "start", now, f"{step}-{server}"))
        push(now + rng.expovariate(1 / stations[step].service_mean_h), "done", case, step)

    while events:
        now, _, kind, case, step = heapq.heappop(events)
        if kind == "arrive":
            arrived.setdefault(case, now)
            rows.append(_row(case, ARRIVE, "complete", now, "portal"))
        else:
            server = busy.pop((case, step))
            rows.append(_row(case, step, "complete", now, f"{step}-{server}"))
            free[step].append(server)
            free[step].sort()
            if queue[step]:
                start(now, *queue[step].popleft())
            nxt = route(step)
            if nxt == "__end__":
                lead.append(now - arrived[case])
                continue
            step = nxt
        if free[step]:
            start(now, case, step)
        else:
            queue[step].append((case, step))
    return "case_id,activity,lifecycle,timestamp,resource\n" + "".join(rows), lead


def _row(case: int, step: str, lifecycle: str, hours: float, resource: str) -> str:
    ts = (MONDAY + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return f"c{case},{step},{lifecycle},{ts},{resource}\n"


def erlang_c_lead_time_h(arrivals_per_h: float, servers: int, service_mean_h: float) -> float:
    """Mean time in an M/M/c queue (wait + service), hours: Erlang C."""
    from math import factorial

    a = arrivals_per_h * service_mean_h
    rho = a / servers
    top = a**servers / factorial(servers) / (1 - rho)
    p_wait = top / (sum(a**k / factorial(k) for k in range(servers)) + top)
    return p_wait / (servers / service_mean_h - arrivals_per_h) + service_mean_h
