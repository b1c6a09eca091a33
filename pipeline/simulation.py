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
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass

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


def replicate(plan: Plan, horizon_days: float, seed: int) -> Replication:
    """One replication of `plan` over `horizon_days` with `seed`."""
    import simpy

    horizon = horizon_days * DAY_S
    warmup = horizon * WARMUP_SHARE
    rand = random.Random(seed).random
    env = simpy.Environment()
    timeout = env.timeout
    stations = [simpy.Resource(env, capacity=c) for c in plan.servers]
    wip_places = {s: simpy.Resource(env, capacity=p.wip_limit) for s, p in plan.steps.items() if p.wip_limit}
    stream_places = simpy.Resource(env, capacity=plan.stream_wip_limit) if plan.stream_wip_limit else None
    routes = {src: _cumulative(dst) for src, dst in plan.routing.items()}
    samples = {
        s: (p.elapsed_s.tolist() if p.is_delay else p.process_times_s.tolist(), p.external_waits_s.tolist())
        for s, p in plan.steps.items()
    }
    keep = plan.keep_server
    pending: dict[str, list] = {s: [] for s in plan.steps}
    queue_sum = dict.fromkeys(plan.steps, 0.0)
    queue_n = dict.fromkeys(plan.steps, 0)
    elapsed_sum = dict.fromkeys(plan.steps, 0.0)
    exits: list[tuple[float, float]] = []

    def choose(step: str) -> str:
        names, cum = routes.get(step, ((END,), (1.0,)))
        return names[min(bisect_right(cum, rand() * cum[-1]), len(names) - 1)]

    def batch_release(step: str, size: int):
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
        for step, waiting in pending.items():
            for e in waiting:
                e.succeed()
            pending[step] = []

    def case(arrival: float):
        measured = arrival >= warmup
        token = None
        if stream_places is not None:
            token = stream_places.request()
            yield token
        held = None  # (station, request): the server a case keeps from one merged step to the next
        step = choose(START)
        place = None  # the place it holds at a step with a WIP limit
        ready = env.now
        if step in wip_places:
            place = wip_places[step].request()
            yield place
        while step != END and step in plan.steps:
            sp = plan.steps[step]
            times, waits = samples[step]
            if waits:
                wait = waits[int(rand() * len(waits))]
                if wait > 0:
                    yield timeout(wait)
            if sp.is_delay:
                start = env.now
                yield timeout(times[int(rand() * len(times))])
            else:
                station = stations[sp.station]
                if held is None:
                    request = station.request()
                    yield request
                    held = (station, request)
                start = env.now
                yield timeout(times[int(rand() * len(times))])
            if measured:
                queue_sum[step] += start - ready
                queue_n[step] += 1
                elapsed_sum[step] += env.now - ready
            following = choose(step)
            kept = held is not None and (step, following) in keep
            if sp.batch_size > 1:
                if held is not None and not kept:
                    held[0].release(held[1])
                    held = None
                yield batch_release(step, sp.batch_size)
            ready = env.now
            following_place = None
            if following in wip_places:  # kanban: the case (and its server) waits for a place there
                following_place = wip_places[following].request()
                yield following_place
            if held is not None and not kept:
                held[0].release(held[1])
                held = None
            if place is not None:
                wip_places[step].release(place)
            place = following_place
            step = following
        if held is not None:
            held[0].release(held[1])
        if token is not None:
            stream_places.release(token)
        exits.append((arrival, env.now))

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
    return _measure(exits, arrivals, horizon, warmup, queue_sum, queue_n, elapsed_sum)


def _cumulative(dst: dict[str, float]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    names = tuple(dst)
    return names, tuple(np.cumsum([dst[n] for n in names]).tolist())


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
