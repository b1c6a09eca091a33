"""Incremental compute (issue 18): recompute only the cases whose events changed.

A compute stores, with its results and in the same transaction (flow.publish), what the next
one needs (migration 011): per case a fingerprint of its events (count and sum of row hashes:
sql/flow_state/case_fingerprints.sql) and its visits, status periods and lone lifecycle events;
per stream the compute's global decisions. The next compute builds the visits of the changed
cases only (new events, events replaced by a new version, late events of closed cases, cases
gone), reads the others' back (sql/flow_state/restore_cases.sql), and runs every step that
looks across cases (exits, handoffs, event findings, cases, WIP, metrics, map) over all of
them, as a full compute does: so the results equal a full recompute. The per-case steps it
restricts (sql/flow/int_arrivals.sql to fct_visits.sql) read no $as_of: a later as_of moves
open cases' figures only in the steps that run over every case.

A decision that looks at every case or event (the settings, the flow's SQL, the activity
set and step map, the status classes, the log shape, step_by, the steps seen with lifecycle
starts) is compared with the stored one: if any differs,
the compute is full, and the run's message says which. `--full` forces a full compute.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import duckdb
import polars as pl

from pipeline.settings import StreamSettings, render_settings
from pipeline.store import SQL_DIR

# What each decision is called in the run's message when it changed.
DECISION_NAMES = {
    "settings": "the stream's settings changed",
    "flow_sql": "the flow's SQL changed (a new version of vsm)",
    "activities": "the set of activities changed",
    "step_map": "the step map changed",
    "status_classes": "the status classes changed",
    "log_shape": "the log shape changed",
    "step_by": "what a step is (step_by) changed",
    "started_steps": "the steps with lifecycle starts changed",
}


@dataclass
class Plan:
    full: bool
    reason: str  # why full, or "" when incremental
    previous: dict | None  # the stored decisions


def digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:32]


def frame_digest(frame: pl.DataFrame) -> str:
    return digest([list(r) for r in frame.sort(frame.columns).iter_rows()])


def flow_sql_digest() -> str:
    parts = []
    for folder in ("flow", "flow_state"):
        for path in sorted((SQL_DIR / folder).glob("*.sql")):
            parts.append([path.name, path.read_text(encoding="utf-8")])
    return digest(parts)


def settings_digest(settings: StreamSettings) -> str:
    return digest(render_settings(settings))


def previous_decisions(con: duckdb.DuckDBPyConnection, stream: str) -> dict | None:
    row = con.execute(
        "SELECT decisions FROM flow_stream_state WHERE stream = $stream", {"stream": stream}
    ).fetchall()
    return json.loads(row[0][0]) if row else None


def plan(previous: dict | None, decisions: dict, full: bool) -> Plan:
    """Full or incremental, and why: `decisions` are this compute's, before the visits."""
    if full:
        return Plan(True, "--full", previous)
    if previous is None:
        return Plan(True, "no stored state of an earlier compute", previous)
    for key, value in decisions.items():
        if previous.get(key) != value:
            return Plan(True, DECISION_NAMES.get(key, key), previous)
    return Plan(False, "", previous)
