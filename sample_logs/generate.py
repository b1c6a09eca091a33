"""Deterministic generator for the sample event logs in this folder.

Writes, next to this file:

* ``claims.csv``    - insurance claims process, interval log (start/complete rows)
* ``incidents.csv`` - IT incident management, status-snapshot log (ServiceNow-like)

Run from the repository root::

    .venv/bin/python sample_logs/generate.py

Only the Python standard library is used. All randomness comes from
``random.Random`` instances with fixed seeds, and nothing depends on the
wall clock, the locale or the environment, so repeated runs produce
byte-identical files.
"""

from __future__ import annotations

import csv
import heapq
import math
import random
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parent

CLAIMS_SEED = 20260302
INCIDENTS_SEED = 20260401

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def lognormal_minutes(rng: random.Random, median: float, sigma: float, lo: float, hi: float) -> timedelta:
    """Log-normally distributed duration (median in minutes), clipped to [lo, hi]."""
    value = median * math.exp(rng.gauss(0.0, sigma))
    value = min(max(value, lo), hi)
    return timedelta(seconds=round(value * 60))


def next_working_time(t: datetime, day_start: int = 8, day_end: int = 17) -> datetime:
    """Move ``t`` forward into working hours (Mon-Fri, day_start..day_end local)."""
    while True:
        if t.weekday() >= 5:  # Saturday / Sunday -> next day's start
            t = (t + DAY).replace(hour=day_start, minute=0, second=0)
            continue
        if t.hour < day_start:
            t = t.replace(hour=day_start, minute=0, second=0)
        if t.hour >= day_end:
            t = (t + DAY).replace(hour=day_start, minute=0, second=0)
            continue
        return t


# Europe/Berlin-like offset: CET (+01:00) until the DST switch on
# Sunday 2026-03-29 02:00 local, CEST (+02:00) afterwards (the log ends in June).
DST_START_LOCAL = datetime(2026, 3, 29, 2, 0, 0)


def utc_offset(local: datetime) -> timedelta:
    return 2 * HOUR if local >= DST_START_LOCAL else HOUR


def iso_with_offset(local: datetime) -> str:
    off = utc_offset(local)
    hours = int(off.total_seconds()) // 3600
    return local.strftime("%Y-%m-%dT%H:%M:%S") + f"+{hours:02d}:00"


# ---------------------------------------------------------------------------
# 1. insurance claims - interval log
# ---------------------------------------------------------------------------

CLAIM_TEAMS = {
    "Intake": ["alice", "bob", "carol", "dave", "erin"],
    "Assessment": ["frank", "grace", "heidi", "ivan"],
    "Finance": ["judy", "ken", "laura"],
}

ACTIVITY_TEAM = {
    "Register Claim": "Intake",
    "Check Coverage": "Intake",
    "Request Documents": "Assessment",
    "Assess Damage": "Assessment",
    "Approve Claim": "Finance",
    "Reject Claim": "Finance",
    "Pay Claim": "Finance",
    "Close Claim": "Intake",
}

# Hand-over delay before an activity becomes workable (median minutes, sigma,
# min, max). The observed queue time = hand-over delay + waiting for a free
# resource + waiting for working hours.
HANDOVER = {
    "Register Claim": (60, 1.0, 2, 8 * 60),
    "Check Coverage": (4 * 60, 0.9, 10, 3 * 1440),
    "Request Documents": (90, 0.8, 10, 1440),
    "Assess Damage": (2 * 1440, 0.7, 60, 10 * 1440),
    "Approve Claim": (8 * 60, 0.9, 20, 4 * 1440),
    "Reject Claim": (6 * 60, 0.9, 20, 3 * 1440),
    "Pay Claim": (3 * 1440, 0.6, 4 * 60, 12 * 1440),
    "Close Claim": (6 * 60, 1.0, 10, 3 * 1440),
}
# Waiting for the customer's documents (queue before the activity following
# "Request Documents").
CUSTOMER_DOCS_WAIT = (5 * 1440, 0.6, 1440, 21 * 1440)

# Process time (median minutes, sigma, min, max).
PROCESS = {
    "Register Claim": (12, 0.4, 4, 45),
    "Check Coverage": (35, 0.5, 10, 150),
    "Request Documents": (15, 0.4, 5, 45),
    "Assess Damage": (150, 0.6, 30, 8 * 60),
    "Approve Claim": (25, 0.5, 5, 120),
    "Reject Claim": (30, 0.5, 10, 120),
    "Pay Claim": (12, 0.4, 4, 45),
    "Close Claim": (8, 0.4, 3, 30),
}

CLAIMS_START = datetime(2026, 3, 2, 0, 0, 0)
CLAIMS_ARRIVAL_END = datetime(2026, 6, 30, 9, 30, 0)
CLAIMS_CUTOFF = datetime(2026, 6, 30, 10, 45, 0)  # export time, local
N_CLAIMS = 720


def claim_path(rng: random.Random, amount: float) -> list[tuple[str, bool]]:
    """Return the sequence of (activity, docs_wait_before) for one claim."""
    big = amount > 10_000
    path: list[tuple[str, bool]] = [("Register Claim", False), ("Check Coverage", False)]
    docs_wait_next = False
    if rng.random() < 0.25:  # side step: customer documents missing
        path.append(("Request Documents", False))
        docs_wait_next = True
        if rng.random() < 0.14:  # coverage re-checked with the new documents
            path.append(("Check Coverage", True))
            docs_wait_next = False
    elif rng.random() < 0.03:  # coverage re-check without a documents request
        path.append(("Check Coverage", False))

    r = rng.random()
    if r < 0.06:  # rejected right after the coverage check
        path.append(("Reject Claim", docs_wait_next))
        path.append(("Close Claim", False))
        return path
    path.append(("Assess Damage", docs_wait_next))
    if r < 0.10:  # rejected after assessment
        path.append(("Reject Claim", False))
        path.append(("Close Claim", False))
        return path
    path.append(("Approve Claim", False))
    if rng.random() < (0.22 if big else 0.13):  # rework: second assessment
        path.append(("Assess Damage", False))
        path.append(("Approve Claim", False))
    path.append(("Pay Claim", False))
    path.append(("Close Claim", False))
    return path


def generate_claims() -> tuple[list[list[str]], dict]:
    rng = random.Random(CLAIMS_SEED)

    # --- case attributes -------------------------------------------------
    span = (CLAIMS_ARRIVAL_END - CLAIMS_START).total_seconds()
    arrivals = []
    while len(arrivals) < N_CLAIMS:
        t = CLAIMS_START + timedelta(seconds=round(rng.random() * span))
        # claims come in mostly on working days / during the day
        if t.weekday() >= 5 and rng.random() < 0.75:
            continue
        if not 7 <= t.hour < 20 and rng.random() < 0.7:
            continue
        arrivals.append(t)
    arrivals.sort()

    cases = []
    for i, arrival in enumerate(arrivals, start=1):
        amount = min(max(math.exp(rng.gauss(math.log(3200), 1.0)), 150.0), 150_000.0)
        channel = rng.choices(["web", "phone", "agent"], weights=[50, 30, 20])[0]
        cases.append(
            {
                "case_id": f"CLM-{i:05d}",
                "arrival": arrival,
                "amount": f"{amount:.2f}",
                "channel": channel,
                "path": claim_path(rng, amount),
                "big": amount > 10_000,
            }
        )

    # --- discrete-event simulation with per-resource availability ----------
    free_at = {r: CLAIMS_START for team in CLAIM_TEAMS.values() for r in team}
    # heap items: (ready_time, case_index, step_index)
    heap: list[tuple[datetime, int, int]] = []
    for ci, case in enumerate(cases):
        act = case["path"][0][0]
        ready = case["arrival"] + lognormal_minutes(rng, *HANDOVER[act])
        heapq.heappush(heap, (ready, ci, 0))

    visits = []  # (case_index, step_index, activity, resource, start, complete)
    while heap:
        ready, ci, si = heapq.heappop(heap)
        case = cases[ci]
        act = case["path"][si][0]
        team = CLAIM_TEAMS[ACTIVITY_TEAM[act]]
        snapped = next_working_time(ready)
        if snapped != ready:  # nobody starts exactly at 08:00:00
            snapped += timedelta(seconds=rng.randint(60, 45 * 60))
        ready = snapped
        idle = [r for r in team if free_at[r] <= ready]
        if idle:
            resource = rng.choice(idle)
            start = ready
        else:
            resource = min(team, key=lambda r: (free_at[r], r))
            start = free_at[resource] + timedelta(seconds=rng.randint(60, 10 * 60))
            snapped = next_working_time(start)
            if snapped != start:
                snapped += timedelta(seconds=rng.randint(60, 45 * 60))
            start = snapped
        dur = lognormal_minutes(rng, *PROCESS[act])
        if act == "Assess Damage" and case["big"]:
            dur = dur * 2  # larger claims need a site visit / expert
        complete = start + dur
        free_at[resource] = complete
        visits.append((ci, si, act, resource, start, complete))
        if si + 1 < len(case["path"]):
            nxt, docs_wait = case["path"][si + 1]
            delay = lognormal_minutes(rng, *(CUSTOMER_DOCS_WAIT if docs_wait else HANDOVER[nxt]))
            heapq.heappush(heap, (complete + delay, ci, si + 1))

    # --- cut at the export time and build rows -----------------------------
    events = []  # (utc_time, case_index, step_index, lifecycle_order, row)
    for ci, si, act, resource, start, complete in visits:
        case = cases[ci]
        team_name = ACTIVITY_TEAM[act]
        for lc_order, (lifecycle, ts) in enumerate((("start", start), ("complete", complete))):
            if ts > CLAIMS_CUTOFF:
                continue
            row = [
                case["case_id"],
                act,
                lifecycle,
                iso_with_offset(ts),
                resource,
                team_name,
                case["amount"],
                case["channel"],
            ]
            events.append((ts - utc_offset(ts), ci, si, lc_order, row))
    events.sort(key=lambda e: e[:4])
    rows = [e[4] for e in events]

    # --- statistics --------------------------------------------------------
    last_row: dict[str, list[str]] = {}
    for row in rows:
        last_row[row[0]] = row
    open_cases = [c for c, r in last_row.items() if not (r[1] == "Close Claim" and r[2] == "complete")]
    in_process = [c for c in open_cases if last_row[c][2] == "start"]
    case_ids = list(last_row)
    # observed (not planned) activity visits per case, i.e. after the cut
    paths: dict[str, list[str]] = {c: [] for c in case_ids}
    for row in rows:
        if row[2] == "start":
            paths[row[0]].append(row[1])
    stats = {
        "cases": len(case_ids),
        "events": len(rows),
        "open_cases": len(open_cases),
        "open_in_process": len(in_process),
        "closed_cases": len(case_ids) - len(open_cases),
        "first_ts": rows[0][3],
        "last_ts": rows[-1][3],
        "with_request_documents": sum("Request Documents" in paths[c] for c in case_ids),
        "rejected": sum("Reject Claim" in paths[c] for c in case_ids),
        "rework_assessment": sum(paths[c].count("Assess Damage") > 1 for c in case_ids),
        "coverage_twice": sum(paths[c].count("Check Coverage") > 1 for c in case_ids),
    }
    return rows, stats


# ---------------------------------------------------------------------------
# 2. IT incidents - status-snapshot log (ServiceNow-like)
# ---------------------------------------------------------------------------

INC_GROUPS = {
    "Service Desk": ["mia.wong", "noah.fischer", "olivia.brown", "paul.martin", "quinn.lee"],
    "Network": ["rachel.green", "sam.patel", "tom.becker"],
    "Applications": ["uma.singh", "victor.rossi", "wendy.clark", "xavier.diaz"],
    "Database": ["yara.haddad", "zoe.novak", "adam.kowalski"],
}
# category -> group that can actually resolve it
CATEGORY_GROUP = {
    "Network": "Network",
    "Software": "Applications",
    "Hardware": "Service Desk",
    "Database": "Database",
    "Inquiry / Help": "Service Desk",
}
CATEGORY_WEIGHTS = [20, 35, 15, 10, 20]
PRIORITIES = ["1 - Critical", "2 - High", "3 - Moderate", "4 - Low"]
PRIORITY_WEIGHTS = [3, 14, 55, 28]
# time scale factor per priority (critical incidents move faster)
PRIORITY_SCALE = {"1 - Critical": 0.15, "2 - High": 0.45, "3 - Moderate": 1.0, "4 - Low": 1.6}

INC_START = datetime(2026, 4, 1, 0, 0, 0)
INC_ARRIVAL_END = datetime(2026, 6, 30, 16, 0, 0)
INC_CUTOFF = datetime(2026, 6, 30, 17, 45, 0)  # export time, naive local
N_INCIDENTS = 1000
NOW_FMT = "%d/%m/%Y %H:%M:%S"


class _Incident:
    """Builds the status-change rows of one incident (state lives on the instance)."""

    def __init__(self, rng: random.Random, number: str, category: str, priority: str) -> None:
        self.rng = rng
        self.number = number
        self.category = category
        self.priority = priority
        self.scale = PRIORITY_SCALE[priority]
        self.is_p1 = priority == "1 - Critical"
        self.rows: list[tuple[datetime, list[str]]] = []
        self.person = ""
        self.group = ""

    def delay(self, median_min: float, sigma: float, lo: float, hi: float) -> timedelta:
        """Working delay, scaled by priority."""
        return lognormal_minutes(self.rng, median_min * self.scale, sigma, lo, hi)

    def business(self, t: datetime) -> datetime:
        """Critical incidents are worked 24/7, the rest 07:00-19:00 Mon-Fri."""
        if self.is_p1:
            return t
        snapped = next_working_time(t, 7, 19)
        if snapped != t:  # people log in over the first hour, not at 07:00:00
            snapped += timedelta(seconds=self.rng.randint(60, 60 * 60))
        return snapped

    def emit(self, t: datetime, state: str, person: str | None = None) -> None:
        person = self.person if person is None else person
        row = [self.number, state, t.strftime(NOW_FMT), person, self.group, self.priority, self.category]
        self.rows.append((t, row))

    def work_until_resolved(self, t: datetime, allow_waits: bool) -> datetime:
        rng = self.rng
        if allow_waits:
            waits = []
            if rng.random() < 0.22:
                waits.append(("Awaiting Customer", (2 * 1440, 0.8, 60, 15 * 1440)))
            if rng.random() < 0.09 and self.category in ("Network", "Hardware", "Software"):
                waits.append(("Awaiting Vendor", (6 * 1440, 0.7, 1440, 40 * 1440)))
            if rng.random() < 0.12:
                waits.append(("On Hold", (1440, 0.9, 120, 21 * 1440)))
            rng.shuffle(waits)
            for state, (m, s, lo, hi) in waits:
                t = self.business(t + self.delay(120, 1.0, 5, 2 * 1440))
                self.emit(t, state)
                # waits are calendar time, not scaled by priority
                t = self.business(t + lognormal_minutes(rng, m, s, lo, hi))
                self.emit(t, "In Progress")
        t = self.business(t + self.delay(32 * 60, 1.3, 10, 30 * 1440))
        self.emit(t, "Resolved")
        return t

    def simulate(self, t0: datetime) -> bool:
        """Fill ``self.rows``; return whether the incident was reopened."""
        rng = self.rng
        target = CATEGORY_GROUP[self.category]
        # group chain: ~30 % start in the wrong group and are reassigned
        chain = [target]
        if rng.random() < 0.30:
            if target == "Service Desk":
                wrong = rng.choice(["Network", "Applications", "Database"])
                chain = [wrong, target]
            else:
                others = [g for g in INC_GROUPS if g not in (target, "Service Desk")]
                first = "Service Desk" if rng.random() < 0.7 else rng.choice(others)
                chain = [first, target]
            if rng.random() < 0.15:  # ping-pong: a third hop
                extra = rng.choice([g for g in INC_GROUPS if g != chain[-1]])
                chain = [chain[0], extra, target] if extra != chain[0] else chain

        t = t0
        self.group = chain[0]
        # New: logged by a service desk agent, or by the portal (empty assignee)
        self.emit(t, "New", rng.choice(INC_GROUPS[self.group]) if rng.random() < 0.25 else "")
        for hop, g in enumerate(chain):
            if hop > 0:  # reassignment row
                t = t + self.delay(45, 0.8, 2, 600)
                self.group = g
                if rng.random() < 0.5:
                    self.person = ""
                    self.emit(t, "New")
                else:
                    self.person = rng.choice(INC_GROUPS[g])
                    self.emit(t, "In Progress")
                    continue
            t = self.business(t + self.delay(40, 1.0, 1, 1440))
            self.person = rng.choice(INC_GROUPS[g])
            self.emit(t, "In Progress")
            if hop < len(chain) - 1:  # triage in the wrong group before handing over
                t = self.business(t + self.delay(60, 0.9, 3, 1440))

        t = self.work_until_resolved(t, allow_waits=True)
        reopened = rng.random() < 0.08
        if reopened:  # always before the auto-close (< 3 days)
            t = t + lognormal_minutes(rng, 1440, 0.8, 30, 3 * 1440 - 60)
            self.emit(t, "In Progress")
            t = self.work_until_resolved(t, allow_waits=rng.random() < 0.3)
        # auto-close a few days after resolution (scheduled job, runs on the hour)
        close = t + timedelta(days=rng.choice([3, 3, 4, 5]))
        close = close.replace(minute=0, second=0) + timedelta(hours=1, seconds=rng.randint(5, 50))
        self.emit(close, "Closed")
        return reopened


def generate_incidents() -> tuple[list[list[str]], dict]:
    rng = random.Random(INCIDENTS_SEED)
    span = (INC_ARRIVAL_END - INC_START).total_seconds()
    opened = []
    while len(opened) < N_INCIDENTS:
        t = INC_START + timedelta(seconds=round(rng.random() * span))
        if t.weekday() >= 5 and rng.random() < 0.8:
            continue
        if not 7 <= t.hour < 19 and rng.random() < 0.85:
            continue
        opened.append(t)
    opened.sort()

    events = []  # (time, incident_index, seq, row)
    summaries: list[dict] = []
    for idx, t0 in enumerate(opened):
        category = rng.choices(list(CATEGORY_GROUP), weights=CATEGORY_WEIGHTS)[0]
        priority = rng.choices(PRIORITIES, weights=PRIORITY_WEIGHTS)[0]
        inc = _Incident(rng, f"INC{10001 + idx:07d}", category, priority)
        inc.simulate(t0)

        kept = [r for ts, r in inc.rows if ts <= INC_CUTOFF]  # cut at the export time
        if not kept:
            continue
        for seq, (ts, r) in enumerate(inc.rows[: len(kept)]):
            events.append((ts, idx, seq, r))
        states = [r[1] for r in kept]
        summaries.append(
            {
                "reassigned": len({r[4] for r in kept}) > 1,
                "reopened": any(a == "Resolved" and b == "In Progress" for a, b in pairwise(states)),
                "last_state": states[-1],
                "states": set(states),
            }
        )

    events.sort(key=lambda e: e[:3])
    rows_out = [e[3] for e in events]
    stats = {
        "incidents": len(summaries),
        "events": len(rows_out),
        "open_incidents": sum(c["last_state"] not in ("Resolved", "Closed") for c in summaries),
        "resolved_not_closed": sum(c["last_state"] == "Resolved" for c in summaries),
        "closed": sum(c["last_state"] == "Closed" for c in summaries),
        "reassigned": sum(c["reassigned"] for c in summaries),
        "reopened": sum(c["reopened"] for c in summaries),
        "with_awaiting_customer": sum("Awaiting Customer" in c["states"] for c in summaries),
        "with_awaiting_vendor": sum("Awaiting Vendor" in c["states"] for c in summaries),
        "with_on_hold": sum("On Hold" in c["states"] for c in summaries),
        "first_ts": rows_out[0][2],
        "last_ts": rows_out[-1][2],
    }
    return rows_out, stats


# ---------------------------------------------------------------------------


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    claim_rows, cs = generate_claims()
    claims_path = OUT_DIR / "claims.csv"
    write_csv(
        claims_path,
        ["case_id", "activity", "lifecycle", "timestamp", "resource", "team", "claim_amount", "channel"],
        claim_rows,
    )

    inc_rows, inc = generate_incidents()
    inc_path = OUT_DIR / "incidents.csv"
    write_csv(
        inc_path,
        ["number", "state", "sys_updated_on", "assigned_to", "assignment_group", "priority", "category"],
        inc_rows,
    )

    print(
        f"{claims_path.name}: {cs['cases']} cases, {cs['events']} events, "
        f"{cs['open_cases']} open ({cs['open_in_process']} end with a 'start'), "
        f"{claims_path.stat().st_size} bytes"
    )
    print(
        f"  {cs['first_ts']} .. {cs['last_ts']}; request documents {cs['with_request_documents']}, "
        f"rejected {cs['rejected']}, second assessment {cs['rework_assessment']}, "
        f"coverage checked twice {cs['coverage_twice']}"
    )
    print(
        f"{inc_path.name}: {inc['incidents']} incidents, {inc['events']} events, "
        f"{inc['open_incidents']} open (+{inc['resolved_not_closed']} resolved, not yet closed), "
        f"{inc_path.stat().st_size} bytes"
    )
    print(
        f"  {inc['first_ts']} .. {inc['last_ts']}; reassigned {inc['reassigned']}, "
        f"reopened {inc['reopened']}, awaiting customer {inc['with_awaiting_customer']}, "
        f"awaiting vendor {inc['with_awaiting_vendor']}, on hold {inc['with_on_hold']}"
    )


if __name__ == "__main__":
    main()
