"""Logs made for `vsm compare`: a claims process that changed on a known date, or did not.

Each case arrives at a uniformly random moment of its day and goes through the steps in
order; before each step it waits a random queue time, then the step takes a random process
time (both exponential, so a median is ln 2 times the mean). From CHANGE_DAY on, arriving
cases skip "Check" and wait half as long before "Assess": the change the tests must find.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np

START = datetime(2026, 1, 5)  # a Monday
CHANGE_DAY = 35  # 2026-02-09: cases arriving from this day on follow the new process
HOUR = 3600.0
DAY = 86400.0

# step: (mean queue before it, mean process time), in seconds
BEFORE = {
    "Register": (0.0, 0.5 * HOUR),
    "Assess": (2 * DAY, 3 * HOUR),
    "Check": (1 * DAY, 2 * HOUR),
    "Approve": (0.5 * DAY, 1 * HOUR),
    "Pay": (0.25 * DAY, 0.5 * HOUR),
}
AFTER = {
    "Register": BEFORE["Register"],
    "Assess": (1 * DAY, 3 * HOUR),  # the queue halved
    "Approve": BEFORE["Approve"],
    "Pay": BEFORE["Pay"],
}
TEAMS = {"Register": "Intake", "Assess": "Claims", "Check": "Audit", "Approve": "Claims", "Pay": "Finance"}

# What the change does to the queue before Assess: its median halves.
ASSESS_QUEUE_CHANGE = AFTER["Assess"][0] / BEFORE["Assess"][0] - 1  # -0.5


def claims_log(seed: int, days: int = 70, per_day: int = 20, changed: bool = True) -> str:
    """An interval log (case, activity, lifecycle, timestamp, resource, team) as CSV text:
    `per_day` cases arrive each day for `days` days; from CHANGE_DAY the new process, unless
    `changed` is False (one process throughout: the no-change log)."""
    rng = np.random.default_rng(seed)
    lines = ["case,activity,lifecycle,timestamp,resource,team"]
    for day in range(days):
        steps = AFTER if changed and day >= CHANGE_DAY else BEFORE
        for k in range(per_day):
            case = f"C{day:03d}-{k:02d}"
            t = START + timedelta(days=day, seconds=float(rng.uniform(0, DAY)))
            for step, (queue_mean, process_mean) in steps.items():
                t += timedelta(seconds=float(rng.exponential(queue_mean)) if queue_mean else 0.0)
                person = f"{TEAMS[step].lower()}-{int(rng.integers(1, 4))}"
                lines.append(f"{case},{step},start,{t:%Y-%m-%d %H:%M:%S},{person},{TEAMS[step]}")
                t += timedelta(seconds=float(rng.exponential(process_mean)))
                lines.append(f"{case},{step},complete,{t:%Y-%m-%d %H:%M:%S},{person},{TEAMS[step]}")
    return "\n".join(lines) + "\n"


def median_of_exponential(mean: float) -> float:
    return mean * math.log(2)
