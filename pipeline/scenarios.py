"""Scenario files of `vsm simulate` (`scenarios/<stream>/<name>.toml`) and what they change in a
stream's current-state model: `plan(model, scenario)` gives the plan the simulator runs.

The keys, and only these (users' files rely on them; any other key is refused):

    merge_steps = [["Triage", "Assess"]]   # one owner: the handoff and its queue gone
    remove_step = ["Re-check"]             # its visits gone; its routing passed on to its next steps
    [capacity]      "Assess" = "+1"        # servers at a step: "+N", "-N" or a number
    [wip_limit]     "Assess" = 20          # per step, or "stream" for the whole stream
    [batch_size]    "Intake" = 1           # release work in batches of n (1 = flow)
    [rework]        "Approve->Assess" = 0.5  # a transition's probability scaled
    [process_time]  "Assess" = 0.8         # a step's process times scaled; or "2h" / "30m" /
                                           # "45s" / "1d": every visit takes that long

The scenario `current` changes nothing and needs no file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tomli  # TOML 1.1, as the settings files are read (pipeline/settings.py)

from pipeline.errors import SettingsError
from pipeline.simulate_model import END, START, Model, NotSimulable

CURRENT = "current"
KEYS = ("merge_steps", "remove_step", "capacity", "wip_limit", "batch_size", "rework", "process_time")
STREAM = "stream"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass
class Scenario:
    name: str
    path: str = ""
    merge_steps: list[list[str]] = field(default_factory=list)
    remove_step: list[str] = field(default_factory=list)
    capacity: dict[str, object] = field(default_factory=dict)
    wip_limit: dict[str, object] = field(default_factory=dict)
    batch_size: dict[str, object] = field(default_factory=dict)
    rework: dict[str, object] = field(default_factory=dict)
    process_time: dict[str, object] = field(default_factory=dict)

    def changes(self) -> list[str]:
        """One line per change, as the map and the CLI name them."""
        out = [f"merge {' + '.join(g)}" for g in self.merge_steps]
        out += [f"remove {s}" for s in self.remove_step]
        out += [f"capacity {k} {v}" for k, v in self.capacity.items()]
        out += [f"WIP limit {k} {v}" for k, v in self.wip_limit.items()]
        out += [f"batch size {k} {v}" for k, v in self.batch_size.items()]
        out += [f"rework {k} x{v}" for k, v in self.rework.items()]
        out += [
            f"process time {k} {'x' if not isinstance(v, str) else ''}{v}"
            for k, v in self.process_time.items()
        ]
        return out


@dataclass
class StepPlan:
    name: str
    station: int
    process_times_s: np.ndarray
    elapsed_s: np.ndarray
    external_waits_s: np.ndarray
    is_delay: bool
    batch_size: int
    wip_limit: int | None


@dataclass
class Plan:
    """What the simulator runs: plain values (pipeline/simulation.py)."""

    arrivals_per_hour: np.ndarray
    steps: dict[str, StepPlan]
    servers: list[int]  # per station
    routing: dict[str, dict[str, float]]
    keep_server: set[tuple[str, str]]  # merged: the case keeps its server from one to the other
    stream_wip_limit: int | None
    routing_by_visit: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # see the model


def scenario_path(scenarios_dir: Path, stream: str, name: str) -> Path:
    return Path(scenarios_dir) / stream / f"{name}.toml"


def load_scenario(scenarios_dir: Path, stream: str, name: str) -> Scenario:
    """The scenario `name` of `stream` (`current`: no changes, no file)."""
    if name == CURRENT:
        return Scenario(CURRENT)
    path = scenario_path(scenarios_dir, stream, name)
    if not path.is_file():
        raise SettingsError(f"{path}: no such scenario file (scenarios are scenarios/<stream>/<name>.toml)")
    try:
        data = tomli.loads(path.read_text(encoding="utf-8"))
    except (tomli.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    return parse_scenario(name, data, str(path))


def parse_scenario(name: str, data: dict, where: str) -> Scenario:
    """Check the keys and the shape of their values (steps are checked against the model in
    `plan`)."""
    unknown = [k for k in data if k not in KEYS]
    if unknown:
        raise SettingsError(f"{where}: unknown key {unknown[0]!r}: expected one of {', '.join(KEYS)}")
    merge = data.get("merge_steps", [])
    if not isinstance(merge, list) or not all(
        isinstance(g, list) and len(g) >= 2 and all(isinstance(s, str) for s in g) for g in merge
    ):
        raise SettingsError(
            f"{where}: merge_steps = {merge!r}: expected a list of lists of two or more step names"
        )
    remove = data.get("remove_step", [])
    if not isinstance(remove, list) or not all(isinstance(s, str) for s in remove):
        raise SettingsError(f"{where}: remove_step = {remove!r}: expected a list of step names")
    tables = {}
    for key in ("capacity", "wip_limit", "batch_size", "rework", "process_time"):
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise SettingsError(f"{where}: {key} = {value!r}: expected a table [{key}] of step = value")
        tables[key] = value
    return Scenario(name, where, merge, remove, **tables)


def _bad(where: str, table: str, key: str, value: object, expected: str) -> SettingsError:
    return SettingsError(f"{where}: [{table}] {key!r} = {value!r}: {expected}")


def _step(model: Model, where: str, table: str, key: str, value: object) -> str:
    if key not in model.steps:
        known = ", ".join(sorted(model.steps)[:12])
        raise _bad(where, table, key, value, f"no step {key!r} in stream {model.stream!r} (steps: {known})")
    return key


def _whole(where: str, table: str, key: str, value: object, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise _bad(where, table, key, value, f"expected a whole number, {least} or more")
    return value


def _duration_s(text: str) -> float | None:
    m = _DURATION.match(text)
    return float(m.group(1)) * _UNIT_S[m.group(2)] if m else None


def plan(model: Model, scenario: Scenario) -> Plan:
    """The plan the simulator runs: `model` with `scenario`'s changes; a SettingsError names
    the file, key, value and what was expected for any change that cannot be made."""
    where = scenario.path or scenario.name
    process, delay = _process_times(model, scenario, where)
    if model.log_shape == "point" and any(delay.values()):
        missing = sorted(s for s, d in delay.items() if d)
        raise NotSimulable(
            f"stream {model.stream!r} is a point log (one instant per event): it has no process "
            f"times, so its capacity and queues cannot be simulated; give every step a process "
            f'time in the scenario\'s [process_time] (e.g. {missing[0]!r} = "2h"), missing: '
            f"{', '.join(missing[:8])}"
        )
    names = list(model.steps)
    station = {s: i for i, s in enumerate(names)}
    servers = [model.steps[s].servers for s in names]
    keep: set[tuple[str, str]] = set()
    for group in scenario.merge_steps:
        for s in group:
            _step(model, where, "merge_steps", s, group)
            if delay[s]:
                raise _bad(
                    where, "merge_steps", s, group, "a step with no observed process time cannot be merged"
                )
        first = station[group[0]]
        servers[first] = sum(servers[station[s]] for s in {station[s]: s for s in group}.values())
        for s in group:
            station[s] = first
        keep |= {(a, b) for a in group for b in group if a != b}
    for key, value in scenario.capacity.items():
        _step(model, where, "capacity", key, value)
        if delay[key]:
            raise _bad(
                where, "capacity", key, value, "the step has no observed process time: no capacity to change"
            )
        servers[station[key]] = _capacity(where, key, value, servers[station[key]])
    wip = {}
    stream_limit = None
    for key, value in scenario.wip_limit.items():
        if key == STREAM:
            stream_limit = _whole(where, "wip_limit", key, value, 1)
        else:
            wip[_step(model, where, "wip_limit", key, value)] = _whole(where, "wip_limit", key, value, 1)
    batch = {s: m.batch_size for s, m in model.steps.items()}
    for key, value in scenario.batch_size.items():
        batch[_step(model, where, "batch_size", key, value)] = _whole(where, "batch_size", key, value, 1)
    routing = {src: dict(dst) for src, dst in model.routing.items()}
    levels = {src: [dict(d) for d in dsts] for src, dsts in model.routing_by_visit.items()}
    _rework(model, scenario, where, routing, levels)
    for s in scenario.remove_step:
        _step(model, where, "remove_step", s, scenario.remove_step)
        onward = routing.get(s, {})
        routing = remove_from_routing(routing, s, where)
        levels = {src: [_without(d, s, onward) for d in dsts] for src, dsts in levels.items() if src != s}
    removed = set(scenario.remove_step)
    steps = {
        s: StepPlan(
            name=s,
            station=station[s],
            process_times_s=process[s],
            elapsed_s=m.elapsed_s,
            external_waits_s=m.external_waits_s,
            is_delay=delay[s],
            batch_size=batch[s],
            wip_limit=wip.get(s),
        )
        for s, m in model.steps.items()
        if s not in removed
    }
    return Plan(model.arrivals_per_hour, steps, servers, routing, keep, stream_limit, levels)


def _process_times(model: Model, scenario: Scenario, where: str) -> tuple[dict, dict]:
    process = {s: m.process_times_s for s, m in model.steps.items()}
    delay = {s: m.is_delay for s, m in model.steps.items()}
    for key, value in scenario.process_time.items():
        _step(model, where, "process_time", key, value)
        if isinstance(value, str) and _duration_s(value) is not None:
            process[key] = np.array([_duration_s(value)])
            delay[key] = False
        elif isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            if delay[key]:
                raise _bad(
                    where,
                    "process_time",
                    key,
                    value,
                    'the step has no observed process time to scale: give a time ("2h", "30m", "45s", "1d")',
                )
            process[key] = process[key] * float(value)
        else:
            raise _bad(
                where, "process_time", key, value, 'expected a scale above 0 (0.8) or a time ("2h", "30m")'
            )
    return process, delay


def _capacity(where: str, key: str, value: object, servers: int) -> int:
    if isinstance(value, str) and re.fullmatch(r"[+-]\d+", value.strip()):
        new = servers + int(value.strip())
    elif isinstance(value, int) and not isinstance(value, bool):
        new = value
    else:
        raise _bad(where, "capacity", key, value, 'expected "+N", "-N" or a whole number of servers')
    if new < 1:
        raise _bad(
            where, "capacity", key, value, f"leaves {new} servers (the model has {servers}): at least 1"
        )
    return new


def _rework(model: Model, scenario: Scenario, where: str, routing: dict, levels: dict) -> None:
    """Each [rework] "A->B" = f: the probability p of going from A to B becomes f*p, A's other
    next steps scaled so A's shares still add to 1 (`routing` changed in place); the same in
    each of A's routings by visit number (`levels`), capped at 1."""
    for key, value in scenario.rework.items():
        parts = [p.strip() for p in key.split("->")]
        if len(parts) != 2:
            raise _bad(where, "rework", key, value, 'expected "From->To", two step names')
        src, dst = (_step(model, where, "rework", p, value) for p in parts)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise _bad(where, "rework", key, value, "expected a scale, 0 or more (0.5 halves the loop)")
        p = routing.get(src, {}).get(dst)
        if p is None:
            raise _bad(where, "rework", key, value, f"no case went from {src!r} to {dst!r}")
        if p * value > 1 + 1e-12 or (p >= 1 and value != 1):
            raise _bad(
                where,
                "rework",
                key,
                value,
                f"{src}->{dst} has probability {p:.3f}: it cannot become {p * value:.3f}",
            )
        routing[src] = _scaled(routing[src], dst, value, routing[src])
        if src in levels:
            levels[src] = [_scaled(d, dst, value, routing[src]) for d in levels[src]]


def _scaled(shares: dict[str, float], dst: str, factor: float, fallback: dict[str, float]) -> dict:
    """`shares` with dst's share times `factor` (at most 1) and the others scaled to the rest;
    when dst had it all, the rest goes as in `fallback`."""
    p = shares.get(dst, 0.0)
    new_p = min(1.0, p * factor)
    others = {t: q for t, q in shares.items() if t != dst} or {t: q for t, q in fallback.items() if t != dst}
    rest = sum(others.values())
    out = {t: q * (1 - new_p) / rest for t, q in others.items()} if rest > 0 else {}
    if dst in shares or new_p > 0:
        out[dst] = new_p
    return {t: out[t] for t in [*shares, *(t for t in out if t not in shares)] if t in out}


def _without(shares: dict[str, float], step: str, onward: dict[str, float]) -> dict[str, float]:
    """`shares` with what went to `step` passed on as `step` passes it on (its self-loop left
    out), as remove_from_routing does."""
    loop = onward.get(step, 0.0)
    rest = {t: p / (1 - loop) for t, p in onward.items() if t != step}
    out: dict[str, float] = {}
    for t, p in shares.items():
        for t2, p2 in rest.items() if t == step else ((t, 1.0),):
            out[t2] = out.get(t2, 0.0) + p * p2
    return out


def remove_from_routing(routing: dict[str, dict[str, float]], step: str, where: str = "") -> dict:
    """Routing without `step`: what went into it goes on to where it went next (its
    self-loop left out)."""
    onward = routing.get(step, {})
    if onward.get(step, 0.0) >= 1:
        raise SettingsError(f"{where}: remove_step {step!r}: every case that enters it stays in it")
    return {src: _without(dests, step, onward) for src, dests in routing.items() if src != step}


__all__ = ["CURRENT", "END", "START", "Plan", "Scenario", "load_scenario", "plan", "remove_from_routing"]
