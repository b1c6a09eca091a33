"""Incremental compute (issue 18): recompute only the cases whose events changed.

A compute stores, with its results and in the same transaction (flow.publish), what the next
one needs (migration 011): per case a fingerprint of its events (count and sum of row
hashes: sql/flow/case_fingerprints.sql), its status periods and lone lifecycle events
(its visits are the published `visits`); per stream the compute's global decisions. The next
compute builds the visits of the changed cases only (new events, events replaced by a new
version, late events of closed cases, cases gone), reads the others' back
(sql/flow/visits__incremental.sql), and runs every step that looks across cases (exits,
handoffs, event findings, cases, WIP, metrics, map) over all of them, as a full compute
does: so the results equal a full recompute. The per-case steps it restricts
(sql/flow/raw_visits__*.sql to visits_elapsed.sql) read no $as_of: a later as_of moves open
cases' figures only in the steps that run over every case.

A decision that looks at every case or event (the settings, the flow's SQL, the activity
set and step map, the status classes, the log shape, step_by, the steps seen with lifecycle
starts) is compared with the stored one: if any differs,
the compute is full, and the run's message says which. `--full` forces a full compute.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields, replace
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from pipeline.settings import EngineSettings, StreamSettings, render_settings
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
    "holidays": "the holidays package's version changed (the calendars' public holidays)",
    "engine": "the last compute ran on another engine (a Spark compute keeps no per-case state)",
}

# A decision an older state did not record, and what it was then.
DECISION_DEFAULTS = {"engine": "duckdb"}


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
    for folder in ("flow", "flow_publish"):
        for path in sorted((SQL_DIR / folder).glob("*.sql")):
            parts.append([path.name, path.read_text(encoding="utf-8")])
    return digest(parts)


def settings_digest(settings: StreamSettings) -> str:
    """The settings as they shape every case's visits: [flow] window is left out, since a
    window restricts the aggregate tables only (their per-case rows stay complete), so a
    window change needs no full recompute; nor is [engine] (the results do not depend on it;
    the engine a compute ran on is a decision of its own, "engine")."""
    return digest(render_settings(replace(settings, window="", engine=EngineSettings())))


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
        if previous.get(key, DECISION_DEFAULTS.get(key)) != value:
            return Plan(True, DECISION_NAMES.get(key, key), previous)
    return Plan(False, "", previous)


def result_json(result) -> str:
    """The compute's FlowResult, for a later compute that finds it current (current_result);
    the summary is read back from the published stream_summary instead."""
    left_out = ("summary", "timings", "map_svg")  # the map's SVG: map_history keeps it
    data = {f.name: getattr(result, f.name) for f in fields(result) if f.name not in left_out}
    data["as_of"] = result.as_of.isoformat()
    data["model_files"] = [str(p) for p in result.model_files]
    return json.dumps(data)


def current_result(
    con: duckdb.DuckDBPyConnection, stream: str, as_of: datetime, model_dir: Path | None, window: str = "all"
):
    """The stored FlowResult when the last compute's results are current: called when no case
    changed and the decisions are the same; also needs the same as_of, the same measurement
    window (its label: the aggregates are the window's), and its model files where this
    compute would write them. None otherwise (then the compute runs)."""
    from pipeline.flow import FlowResult

    rows = con.execute(
        "SELECT s.as_of, s.result, (SELECT count(*) FROM flow_case_state AS c "
        "  WHERE c.stream = $stream AND c.case_id NOT IN (SELECT case_id FROM flow_case_fingerprints)) "
        "FROM flow_stream_state AS s WHERE s.stream = $stream",
        {"stream": stream},
    ).fetchall()
    if not rows or rows[0][1] is None or rows[0][2] > 0 or rows[0][0] != as_of:
        return None
    data = json.loads(rows[0][1])
    files = [Path(p) for p in data["model_files"]]
    if model_dir is not None and (not files or any(p.parent != model_dir or not p.exists() for p in files)):
        return None
    summary = con.execute(
        "SELECT * EXCLUDE (stream) FROM stream_summary WHERE stream = $stream", {"stream": stream}
    )
    names = [d[0] for d in summary.description]
    row = summary.fetchall()
    if not row:
        return None
    summary = dict(zip(names, row[0], strict=True))
    if summary.get("window", "all") != window:
        return None
    data |= {
        "as_of": datetime.fromisoformat(data["as_of"]),
        "model_files": files,
        "status_guesses": [tuple(g) for g in data["status_guesses"]],
        "summary": summary,
        "full": False,
        "full_reason": "",
        "recomputed_cases": 0,
    }
    return FlowResult(**data)
