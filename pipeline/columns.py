"""Find which source column plays which role (case, activity, timestamp, ...).

pm4py's standard names win, then common export names (Jira, ServiceNow, Zendesk, Excel).
Names are compared after normalising: lower case, every run of non-alphanumerics as '_'.
Activity and timestamp are also found by name pattern (`*_state`, `*_at`, ...) and by type
and content (a datetime column, text that reads as times and varies within a case); the
candidates are ranked, the best is chosen and the others are named as "also possible".
Options and settings override each role; the load prints what it used for what.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import polars as pl

from connectors.base import RESERVED_COLUMNS
from pipeline.errors import ColumnError, TimestampFormatError
from pipeline.nulls import BUILTIN_NULL_VALUES
from pipeline.settings import Columns
from pipeline.timestamps import ISO, NUMERIC_DATE, YMD_SLASH, plan_timestamps

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
    "sequence": (
        "sys_mod_count",
        "sequence",
        "seq",
        "sequence_number",
        "event_no",
        "event_number",
        "update_number",
        "mod_count",
        "version",
    ),
}
REQUIRED = ("case_id", "activity", "timestamp")
ROLE_ORDER = (
    "case_id",
    "activity",
    "timestamp",
    "lifecycle",
    "resource",
    "team",
    "start_timestamp",
    "sequence",
)

# Name patterns (normalised names), tried after the exact candidate names.
PATTERNS: dict[str, tuple[str, ...]] = {
    "activity": (r"_state$", r"_status$", r"_activity"),
    "timestamp": (r"_at$", r"_on$", r"_stamp$", r"_date$", r"_time$"),
}
# Detection looks at the first rows only: enough to judge names, types and content.
DETECT_ROWS = 200_000
CONTENT_ROWS = 5_000  # text is judged a time or not on its first values
# Text that reads as a time: ISO 8601, dd/mm/yyyy or mm/dd/yyyy, yyyy/mm/dd (timestamps.py).
TIME_TEXT = "|".join((ISO, NUMERIC_DATE, YMD_SLASH))


def normalise(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


@dataclass
class Mapping:
    """The resolved mapping: role -> source column(s), and per role the other columns that
    could have played it (best first), to say what else was possible."""

    columns: Columns
    alternatives: dict[str, list[str]] = field(default_factory=dict)

    def used(self) -> list[str]:
        c = self.columns
        out = [
            c.case_id,
            *c.activity,
            c.timestamp,
            c.lifecycle,
            c.resource,
            c.team,
            c.start_timestamp,
            c.sequence,
        ]
        return [x for x in out if x]

    def describe(self) -> str:
        c = self.columns

        def also(role: str) -> str:
            others = self.alternatives.get(role) or []
            return f" (also possible: {', '.join(repr(o) for o in others)})" if others else ""

        parts = [
            f"case_id <- {c.case_id!r}",
            f"activity <- {' + '.join(repr(a) for a in c.activity)}{also('activity')}",
            f"timestamp <- {c.timestamp!r}{also('timestamp')}",
        ]
        for role in ("lifecycle", "resource", "team", "start_timestamp", "sequence"):
            value = getattr(c, role)
            parts.append(f"{role} <- {value!r}" if value else f"{role}: none")
        return "; ".join(parts)


def source_columns(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in RESERVED_COLUMNS]


def detect_columns(frame: pl.DataFrame, given: Columns | None = None, *, source: str = "") -> Mapping:
    """Resolve every role: the given name when set (checked to exist), else the best candidate.
    Activity and timestamp are ranked among their candidates (rank_activity, rank_timestamp);
    the others are found by exact name only.

    `source` (the file) prefixes error messages."""
    where = f"{source}: " if source else ""
    given = given or Columns()
    available = source_columns(frame)
    by_norm: dict[str, str] = {}
    for col in available:
        by_norm.setdefault(normalise(col), col)

    chosen: dict[str, object] = {}
    alternatives: dict[str, list[str]] = {}
    taken: set[str] = set()
    for role in ROLE_ORDER:  # every given name first: detection never takes one of them
        value = getattr(given, role)
        names = value if isinstance(value, list) else [value] if value else []
        for name in names:
            if name not in available:
                raise ColumnError(
                    f"{where}column {name!r} given for {role} is not in the source; "
                    f"columns found: {', '.join(available)}"
                )
        taken.update(names)
    sample = frame.head(DETECT_ROWS)
    for role in ROLE_ORDER:
        value = getattr(given, role)
        ranked: list[str] = []
        if role in ("activity", "timestamp"):
            case = chosen.get("case_id") or ""
            free = [
                c for c in available if c not in taken or c in (value if isinstance(value, list) else [value])
            ]
            ranked = (rank_activity if role == "activity" else rank_timestamp)(sample, free, str(case))
        if value:
            chosen[role] = value
            names = value if isinstance(value, list) else [value]
            alternatives[role] = [c for c in ranked if c not in names]
            continue
        if role in ("activity", "timestamp"):
            ranked = [c for c in ranked if c not in taken]
            found = ranked[0] if ranked else ""
            alternatives[role] = ranked[1:]
        elif role == "sequence":
            found = _sequence_column(sample, by_norm, taken, str(chosen.get("case_id") or ""))
        else:
            found = next(
                (by_norm[n] for n in CANDIDATES[role] if n in by_norm and by_norm[n] not in taken), ""
            )
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
    return Mapping(Columns(**chosen), {r: a for r, a in alternatives.items() if a})


def _other_roles_names(role: str) -> set[str]:
    """The exact candidate names of every other role: a pattern never takes one of them
    (`lifecycle_state` is a lifecycle, `start_time` a start, however they end)."""
    return {n for r, names in CANDIDATES.items() if r != role for n in names}


def _name_level(role: str, name: str) -> tuple[int, int]:
    """(2, -index) for an exact candidate name, (1, 0) for a pattern match, (0, 0) for none."""
    norm = normalise(name)
    if norm in CANDIDATES[role]:
        return 2, -CANDIDATES[role].index(norm)
    if norm not in _other_roles_names(role) and any(re.search(p, norm) for p in PATTERNS[role]):
        return 1, 0
    return 0, 0


def varying_share(sample: pl.DataFrame, column: str, case: str) -> float:
    """Of the cases with several rows in `sample`, the share in which `column` takes more than
    one value: an event's time or status changes within a case, a case's opening time does not."""
    if not case or case == column:
        return 0.0
    if sample.schema[column] == pl.String:
        # text takes two values exactly when its least and greatest differ: cheaper to find
        # than the count of its distinct values (200,000 rows: 0.015 CPU-s, not 0.03)
        varies = (pl.col(column).min() != pl.col(column).max()).fill_null(False)
    else:  # a float's NaN is one value to n_unique, and none to min and max
        varies = pl.col(column).drop_nulls().n_unique() > 1
    per_case = (
        sample.lazy()
        .group_by(case)
        .agg(pl.len().alias("n"), varies.alias("varies"))
        .filter(pl.col("n") > 1)
        .select(pl.col("varies").mean())
        .collect()
    )
    share = per_case.item() if per_case.height else None
    return float(share or 0.0)


def _present_text(values: pl.Series) -> pl.Series:
    text = values.cast(pl.String).str.strip_chars()
    return text.filter(text.is_not_null() & ~text.is_in(BUILTIN_NULL_VALUES))


def reads_as_times(values: pl.Series) -> bool:
    """A datetime or date column, or text of which nine in ten given values read as times."""
    if isinstance(values.dtype, pl.Datetime | pl.Date):
        return True
    if values.dtype not in (pl.String, pl.Categorical):
        return False
    if values.head(CONTENT_ROWS).drop_nulls().is_empty():
        return False
    present = _present_text(values.head(CONTENT_ROWS))  # a glance first: most text is no time
    if present.is_empty() or present.str.contains(TIME_TEXT).mean() < 0.9:
        return False
    present = _present_text(values)
    try:
        plan_timestamps(present, column=values.name, count_naive=False)  # a yes or no
    except TimestampFormatError as exc:  # day/month undecided is still a time column
        return "day/month" in str(exc)
    return True


def _epoch_like(values: pl.Series) -> bool:
    if not values.dtype.is_numeric():
        return False
    try:
        plan_timestamps(values, column=values.name)
    except TimestampFormatError:
        return False
    return True


def rank_timestamp(sample: pl.DataFrame, columns: list[str], case: str) -> list[str]:
    """The columns that may be the event time, best first. A candidate is named like one
    (exact name or pattern), or typed or written as times. Ranked by: reads as times (or
    has an exact name), varies within a case, exact name over pattern over none, datetime
    type, then how often it varies, then the column's place in the source."""
    scored = []
    for position, column in enumerate(columns):
        values = sample[column]
        level, index = _name_level("timestamp", column)
        if level == 0 and normalise(column) in _other_roles_names("timestamp"):
            continue  # a start column (`start`, `start_date`) is its own role, however it reads
        timely = reads_as_times(values) or (level > 0 and _epoch_like(values))
        if not timely and level < 2:
            continue
        share = varying_share(sample, column, case)
        typed = isinstance(values.dtype, pl.Datetime | pl.Date)
        scored.append(((timely or level == 2, share >= 0.05, level, typed, index, share, -position), column))
    return [c for _, c in sorted(scored, reverse=True)]


def rank_activity(sample: pl.DataFrame, columns: list[str], case: str) -> list[str]:
    """The columns that may be the activity / status, best first: exact names (in their
    order), then pattern matches (`*_state`, `*_status`, `*_activity*`) whose values repeat
    (an `incident_activity_number`, one per row, does not), that vary within a case, with
    fewer distinct values, and first in the source. Time-typed columns are never activities."""
    scored = []
    for position, column in enumerate(columns):
        values = sample[column]
        level, index = _name_level("activity", column)
        if level == 0 or isinstance(values.dtype, pl.Datetime | pl.Date):
            continue
        given = values.drop_nulls()
        distinct = given.n_unique() / given.len() if given.len() else 1.0
        varies = varying_share(sample, column, case) >= 0.05
        scored.append(((level, index, distinct < 1, varies, -distinct, -position), column))
    return [c for _, c in sorted(scored, reverse=True)]


def _whole_numbers(values: pl.Series) -> bool:
    if values.dtype.is_integer():
        return values.drop_nulls().len() > 0
    if values.dtype != pl.String:
        return False
    present = _present_text(values)
    return present.len() > 0 and bool(present.str.contains(r"^[+-]?\d{1,18}$").all())


def _sequence_column(sample: pl.DataFrame, by_norm: dict[str, str], taken: set[str], case: str) -> str:
    """A column named like an update or event number (sys_mod_count, sequence, ...) that holds
    whole numbers and varies within a case: it orders a case's events at the same instant."""
    for name in CANDIDATES["sequence"]:
        column = by_norm.get(name)
        if column and column not in taken and _whole_numbers(sample[column]):
            if varying_share(sample, column, case) > 0:
                return column
    return ""
