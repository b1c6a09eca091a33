"""Find which source column plays which role (case, activity, timestamp, ...).

pm4py's standard names win, then common export names (Jira, ServiceNow, Zendesk, Excel).
Names are compared after normalising: lower case, every run of non-alphanumerics as '_'.
Options and settings override each role; the load prints what it used for what.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from connectors.base import RESERVED_COLUMNS
from pipeline.errors import ColumnError
from pipeline.settings import Columns

# Role -> candidate names in order of preference (normalised form).
CANDIDATES: dict[str, tuple[str, ...]] = {
    "case_id": (
        "case_concept_name",
        "case_id",
        "caseid",
        "case",
        "case_number",
        "case_key",
        "ticket",
        "ticket_id",
        "ticket_number",
        "number",
        "incident",
        "incident_id",
        "incident_number",
        "issue_key",
        "key",
        "claim_id",
        "application_id",
        "order_id",
        "id",
    ),
    "activity": (
        "concept_name",
        "activity",
        "activity_name",
        "status",
        "state",
        "event",
        "event_name",
        "task",
        "task_name",
        "step",
        "action",
    ),
    "timestamp": (
        "time_timestamp",
        "timestamp",
        "time",
        "datetime",
        "date",
        "sys_updated_on",
        "updated_at",
        "updated",
        "event_time",
        "complete_timestamp",
        "end_time",
        "end_timestamp",
        "created",
        "created_at",
        "changed_at",
    ),
    "lifecycle": ("lifecycle_transition", "lifecycle", "transition", "event_type", "lifecycle_state"),
    "resource": (
        "org_resource",
        "resource",
        "user",
        "user_name",
        "assignee",
        "assigned_to",
        "agent",
        "performer",
        "owner",
        "employee",
        "author",
    ),
    "team": (
        "org_group",
        "team",
        "group",
        "assignment_group",
        "workgroup",
        "department",
        "queue",
        "org_role_group",
    ),
    "start_timestamp": ("start_timestamp", "start", "start_time", "started_at", "start_ts", "start_date"),
}
REQUIRED = ("case_id", "activity", "timestamp")


def normalise(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


@dataclass
class Mapping:
    """The resolved mapping: role -> source column(s)."""

    columns: Columns

    def used(self) -> list[str]:
        c = self.columns
        out = [c.case_id, *c.activity, c.timestamp, c.lifecycle, c.resource, c.team, c.start_timestamp]
        return [x for x in out if x]

    def describe(self) -> str:
        c = self.columns
        parts = [
            f"case_id <- {c.case_id!r}",
            f"activity <- {' + '.join(repr(a) for a in c.activity)}",
            f"timestamp <- {c.timestamp!r}",
        ]
        for role in ("lifecycle", "resource", "team", "start_timestamp"):
            value = getattr(c, role)
            parts.append(f"{role} <- {value!r}" if value else f"{role}: none")
        return "; ".join(parts)


def source_columns(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in RESERVED_COLUMNS]


def detect_columns(frame: pl.DataFrame, given: Columns | None = None, *, source: str = "") -> Mapping:
    """Resolve every role: the given name when set (checked to exist), else the best candidate.

    `source` (the file) prefixes error messages."""
    where = f"{source}: " if source else ""
    given = given or Columns()
    available = source_columns(frame)
    by_norm: dict[str, str] = {}
    for col in available:
        by_norm.setdefault(normalise(col), col)

    chosen: dict[str, object] = {}
    taken: set[str] = set()
    for role in ("case_id", "activity", "timestamp", "lifecycle", "resource", "team", "start_timestamp"):
        value = getattr(given, role)
        if value:
            names = value if isinstance(value, list) else [value]
            for name in names:
                if name not in available:
                    raise ColumnError(
                        f"{where}column {name!r} given for {role} is not in the source; "
                        f"columns found: {', '.join(available)}"
                    )
            chosen[role] = value
            taken.update(names)
            continue
        found = next((by_norm[n] for n in CANDIDATES[role] if n in by_norm and by_norm[n] not in taken), "")
        if found:
            taken.add(found)
        chosen[role] = [found] if role == "activity" and found else found

    missing = [r for r in REQUIRED if not chosen[r]]
    if missing:
        hints = {
            "case_id": "--case-column",
            "activity": "--activity-column",
            "timestamp": "--timestamp-column",
        }
        raise ColumnError(
            f"{where}no {' / '.join(missing)} column found; columns found: {', '.join(available) or 'none'}. "
            f"Name it with {' / '.join(hints[m] for m in missing)} (or in the stream's [columns] settings)"
        )
    return Mapping(Columns(**chosen))
