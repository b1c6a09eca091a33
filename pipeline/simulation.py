"""The discrete-event simulator behind `vsm simulate`: the one module that imports simpy (MIT),
as pipeline/discovery.py is the one that imports pm4py. It takes a plan
(pipeline/scenarios.py: plain values) and gives plain figures back; simpy's types stay here.

One replication: cases arrive over `horizon` (a Poisson process with the plan's rate for each
hour of the week), each walks the routing from `__start__` to `__end__`: at each step an
external wait (a delay), the step's WIP limit (waiting for a place), a server of its station
(FIFO), a process time sampled from the observed ones, the batch it is released in. A WIP
limit is a kanban: a case done upstream keeps its server until the next step has a place. Cases
arriving after the warm-up (the first sixth of the horizon: the simulation starts empty) are
measured; they are followed to their end after the horizon (arrivals stopped), so their lead
times are not cut short. Throughput and WIP are measured over [warm-up, horizon).

Kept out of simpy's event queue (speed, docs/simulation.md): a free server is taken without
an event (`Servers`); stations no case holds beyond its work are `TimedServers` (FIFO servers
by their free-again instants) and a case keeps its own clock, woken only where it meets other
cases; samples are drawn in numpy chunks; steps are indexed (no dict lookups per visit).
"""

from __future__ import annotations

import random
import time
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass
from heapq import heapreplace

import numpy as np

from pipeline.scenarios import END, START, Plan

DAY_S = 86400.0
HOUR_S = 3600.0
WARMUP_SHARE = 1 / 6


@dataclass
class Replication:
    lead_times_s: np.ndarray  # measured cases (arrived after the warm-up) that ended
    throughput_per_day: float
    wip_avg: float
    queue_time_mean_s: dict[str, float]  # per step, over the measured cases' visits
    cases: int  # cases simulated (arrived within the horizon)
    step_time_per_case_s: dict[str, float]  # per step: ready -> end of its visits / measured cases
    cpu_s: float = 0.0  # processor time the replication took (the benchmark's, on a shared machine)

    def figure(self, name: str) -> float | None:
        lt = self.lead_times_s
        if name == "lead_time_p50_s":
            return float(np.quantile(lt, 0.5)) if lt.size else None
        if name == "lead_time_p85_s":
            return float(np.quantile(lt, 0.85)) if lt.size else None
        if name == "lead_time_mean_s":
            return float(lt.mean()) if lt.size else None
        return {"throughput_per_day": self.throughput_per_day, "wip_avg": self.wip_avg}[name]


def arrival_times(rates_per_hour: np.ndarray, horizon_s: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson arrivals over [0, horizon_s), hour by hour at the rate of that hour of the week
    (time 0 = Monday 00:00)."""
    hours = int(np.ceil(horizon_s / HOUR_S))
    counts = rng.poisson(np.resize(rates_per_hour, hours))
    times = np.repeat(np.arange(hours) * HOUR_S, counts) + rng.random(int(counts.sum())) * HOUR_S
    times.sort()
    return times[times < horizon_s]


class Servers:
    """`capacity` servers taken first come, first served, on simpy events. A free server is
    taken at once, with no event (simpy's Resource schedules even a granted request as an event
    the case is resumed by: one more trip through the event queue a visit); a case that finds
    them all busy waits on an event that the next release triggers, handing the server over."""

    __slots__ = ("env", "free", "waiting")

    def __init__(self, env, capacity: int):
        self.env = env
        self.free = capacity
        self.waiting: deque = deque()

    def take(self):
        """None when a server was free (taken), else the event to wait for."""
        if self.free:
            self.free -= 1
            return None
        event = self.env.event()
        self.waiting.append(event)
        return event

    def give(self) -> None:
        if self.waiting:
            self.waiting.popleft().succeed()
        else:
            self.free += 1


class TimedServers:
    """`capacity` servers first come, first served, whose work is known when it starts: the
    instant each server is free again, in a heap. A case joining at `now` starts when the first
    server is free (now or later) and holds it until start + work. Cases join in time order
    (each at its simpy instant), so this is the FIFO c-server queue exactly, with no event: the
    case waits for its start and its work with its next timeout (simpy's Resource would take
    one event to grant the server and one to release it)."""

    __slots__ = ("free_at",)

    def __init__(self, capacity: int):
        self.free_at = [0.0] * capacity

    def serve(self, now: float, work: float) -> float:
        """The start of work that joins at `now`; its server is busy until start + work."""
        start = self.free_at[0]
        if start < now:
            start = now
        heapreplace(self.free_at, start + work)
        return start


def replicate(plan: Plan, horizon_days: float, seed: int) -> Replication:
    """One replication of `plan` over `horizon_days` with `seed`."""
    import simpy

    cpu_started = time.process_time()
    horizon = horizon_days * DAY_S
    warmup = horizon * WARMUP_SHARE
    rand = random.Random(seed).random
    env = simpy.Environment()
    timeout = env.timeout
    # steps by index (no dict lookups in the loop); END = -1
    names = list(plan.steps)
    n = len(names)
    index = {s: i for i, s in enumerate(names)}
    stations = [Servers(env, c) for c in plan.servers]
    station_of = [stations[plan.steps[s].station] for s in names]
    # A station whose servers are only held for the work (no merged step keeps one, no WIP
    # limit makes a case hold one while it waits for a place) is timed: its servers' release
    # instants are known when the work starts.
    merged = {plan.steps[a].station for a, _ in plan.keep_server if a in plan.steps}
    any_place = any(p.wip_limit for p in plan.steps.values())
    timed_stations = [
        None if any_place or i in merged else TimedServers(c) for i, c in enumerate(plan.servers)
    ]
    timed = [timed_stations[plan.steps[s].station] for s in names]
    place_of = [Servers(env, p.wip_limit) if p.wip_limit else None for p in plan.steps.values()]
    stream_places = Servers(env, plan.stream_wip_limit) if plan.stream_wip_limit else None
    # per step, its routing after the case's 1st, 2nd, ... visit there (the last for later ones)
    routes = [
        tuple(_cumulative(d, index) for d in plan.routing_by_visit.get(s, [plan.routing.get(s, {END: 1.0})]))
        for s in names
    ]
    by_visit = any(len(r) > 1 for r in routes)
    first_route = _cumulative(plan.routing.get(START, {END: 1.0}), index)
    delay = [plan.steps[s].is_delay for s in names]
    # samples drawn in chunks with numpy, read in order: a draw is one next() (a large
    # stream's samples are hundreds of thousands a step, read at random they miss the caches)
    draw_rng = np.random.default_rng([seed, 1])
    times = [_draws(p.elapsed_s if p.is_delay else p.process_times_s, draw_rng) for p in plan.steps.values()]
    # a step whose delays are all 0 draws none
    waits = [
        _draws(p.external_waits_s, draw_rng) if np.any(p.external_waits_s > 0) else None
        for p in plan.steps.values()
    ]
    batch = [plan.steps[s].batch_size for s in names]
    keep = {(index[a], index[b]) for a, b in plan.keep_server if a in index and b in index}
    pending: list[list] = [[] for _ in names]
    queue_sum = [0.0] * n
    queue_n = [0] * n
    elapsed_sum = [0.0] * n
    exits: list[tuple[float, float]] = []

    def choose(route) -> int:
        dest, cum = route
        return dest[min(bisect_right(cum, rand() * cum[-1]), len(dest) - 1)]

    def batch_release(step: int, size: int):
        event = env.event()
        waiting = pending[step]
        waiting.append(event)
        if len(waiting) >= size or env.now >= horizon:
            for e in waiting:
                e.succeed()
            pending[step] = []
        return event

    def flush():
        yield timeout(horizon)
        for step, waiting in enumerate(pending):
            for e in waiting:
                e.succeed()
            pending[step] = []

    def case(arrival: float):
        # The case keeps its own clock `t`, ahead of env.now while nothing needs it at its
        # instant: delays, a delay step and a timed station's work only move `t`; the case is
        # woken (one timeout to `t`) where it meets others: joining a station, a place, a batch.
        measured = arrival >= warmup
        t = arrival
        if stream_places is not None:
            granted = stream_places.take()
            if granted is not None:
                yield granted
                t = env.now
        held = None  # the station whose server a case keeps from one merged step to the next
        visits = [0] * n if by_visit else None  # its visits to each step so far
        step = choose(first_route)
        place = None  # the step with a WIP limit whose place it holds
        ready = t
        if step >= 0 and place_of[step] is not None:
            place = place_of[step]
            granted = place.take()
            if granted is not None:
                yield granted
                ready = t = env.now
        while step >= 0:
            ts = times[step]
            ws = waits[step]
            if ws is not None:
                t += next(ws)
            if delay[step]:  # a delay step: its delay and its time, no server
                start = t
                t += next(ts)
            else:
                if t > env.now:
                    yield timeout(t - env.now)  # joins the station at its instant
                    t = env.now
                work = next(ts)
                station = timed[step]
                if station is not None:
                    start = station.serve(t, work)
                    t = start + work
                else:
                    if held is None:
                        held = station_of[step]
                        granted = held.take()
                        if granted is not None:
                            yield granted
                    start = env.now
                    yield timeout(work)
                    t = env.now
            if measured:
                queue_sum[step] += start - ready
                queue_n[step] += 1
                elapsed_sum[step] += t - ready
            levels = routes[step]
            if visits is None:
                following = choose(levels[0])
            else:
                visits[step] += 1
                following = choose(levels[min(visits[step], len(levels)) - 1])
            kept = held is not None and (step, following) in keep
            size = batch[step]
            if size > 1:
                if t > env.now:
                    yield timeout(t - env.now)
                if held is not None and not kept:
                    held.give()
                    held = None
                yield batch_release(step, size)
                t = env.now
            ready = t
            following_place = None
            if following >= 0 and place_of[following] is not None:
                # kanban: the case (and its server) waits for a place there
                if t > env.now:
                    yield timeout(t - env.now)
                following_place = place_of[following]
                granted = following_place.take()
                if granted is not None:
                    yield granted
                ready = t = env.now
            if held is not None and not kept:
                held.give()
                held = None
            if place is not None:
                place.give()
            place = following_place
            step = following
        if held is not None:
            held.give()
        if stream_places is not None:
            if t > env.now:
                yield timeout(t - env.now)
            stream_places.give()
        exits.append((arrival, t))

    arrivals = arrival_times(plan.arrivals_per_hour, horizon, np.random.default_rng(seed))

    def source():
        now = 0.0
        for t in arrivals.tolist():
            yield timeout(t - now)
            now = t
            env.process(case(t))

    env.process(source())
    env.process(flush())
    env.run(until=horizon * 4)
    result = _measure(
        exits,
        arrivals,
        horizon,
        warmup,
        dict(zip(names, queue_sum, strict=True)),
        dict(zip(names, queue_n, strict=True)),
        dict(zip(names, elapsed_sum, strict=True)),
    )
    result.cpu_s = time.process_time() - cpu_started
    return result


def _draws(population: np.ndarray, rng: np.random.Generator, chunk: int = 4096):
    """Endless draws from `population` with replacement, `chunk` at a time."""
    while True:
        yield from rng.choice(population, chunk).tolist()


def _cumulative(dst: dict[str, float], index: dict[str, int]) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Next steps by index (a step not in the plan, or END: -1) and their cumulative shares."""
    names = tuple(dst)
    return tuple(index.get(t, -1) for t in names), tuple(np.cumsum([dst[t] for t in names]).tolist())


def _measure(exits, arrivals, horizon, warmup, queue_sum, queue_n, elapsed_sum) -> Replication:
    done = np.array(exits, dtype=float).reshape(-1, 2)
    arrived, ended = done[:, 0], done[:, 1]
    measured = arrived >= warmup
    span = horizon - warmup
    # WIP over [warmup, horizon): every arrived case, open ones until the horizon.
    all_end = np.full(arrivals.size, np.inf)
    order = np.searchsorted(arrivals, arrived)  # arrival instants are distinct (continuous)
    all_end[order] = ended
    overlap = np.clip(np.minimum(all_end, horizon) - np.maximum(arrivals, warmup), 0, None)
    wip_avg = float(overlap.sum() / span)
    throughput = float(((ended >= warmup) & (ended < horizon)).sum() / (span / DAY_S))
    return Replication(
        lead_times_s=(ended - arrived)[measured],
        throughput_per_day=throughput,
        wip_avg=wip_avg,
        queue_time_mean_s={s: queue_sum[s] / queue_n[s] for s in queue_sum if queue_n[s]},
        cases=int(arrivals.size),
        step_time_per_case_s={s: v / max(int(measured.sum()), 1) for s, v in elapsed_sum.items()},
    )


def run_replications(
    plan: Plan, horizon_days: float, replications: int, seed: int, workers: int = 1
) -> list[Replication]:
    """`replications` runs of `plan`, the i-th with seed `seed + i` (the same seeds give the
    same figures, with any number of `workers`: processes running replications side by side)."""
    seeds = [seed + i for i in range(replications)]
    if workers <= 1 or replications <= 1:
        return [replicate(plan, horizon_days, s) for s in seeds]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: the children start with the plan in memory (and this checkout's modules)
    with ProcessPoolExecutor(
        min(workers, replications), mp_context=multiprocessing.get_context("fork")
    ) as pool:
        return list(pool.map(replicate, [plan] * replications, [horizon_days] * replications, seeds))
