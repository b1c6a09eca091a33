"""Status classes (work / wait / done) and the log-shape guess.

The default class of a status is guessed from its name; the stream's [status_classes]
settings override it, and the run stores every status's class with who decided it
(`status_classes` table) so a person can check and correct the guess.

For a composite status "Accepted / Wait - User" (status + sub-status) the sub-status is
read first, then the whole name.
"""

from __future__ import annotations

import re

import polars as pl

from pipeline.errors import SettingsError

# Order matters: the first rule that matches decides. (pattern, class, wait kind)
RULES: tuple[tuple[str, str, str | None], ...] = (
    (
        r"\b(wait\w*|await\w*|pending|on hold|hold)\b.*\b(customer|client|user|caller|vendor|supplier|"
        r"third[ -]party|external|partner|requester)\b",
        "wait",
        "external",
    ),
    (
        r"\b(customer|client|user|vendor|supplier|third[ -]party|external|requester)\b.*\b(wait\w*|await\w*|"
        r"pending|hold|response|reply|feedback)\b",
        "wait",
        "external",
    ),
    (
        r"\b(resolved|closed|close|done|cancel+ed|cancel|completed|complete|finished|rejected|declined|"
        r"withdrawn|invalid|duplicate|archived|solved)\b",
        "done",
        None,
    ),
    (r"\b(wait\w*|await\w*|pending|on hold|hold|queued|queue)\b", "wait", "internal"),
    (
        r"\b(in progress|progress|active|working|work|investigat\w*|analys\w*|implement\w*|handling|"
        r"in call|accepted|started|doing|fixing|review\w*|testing)\b",
        "work",
        None,
    ),
    (
        r"\b(new|backlog|to do|todo|open|assigned|unassigned|triage|ready|scheduled|parked|blocked|"
        r"unmatched)\b",
        "wait",
        "internal",
    ),
)
_COMPILED = tuple((re.compile(p, re.IGNORECASE), c, k) for p, c, k in RULES)
STATUS_VOCABULARY_SHARE = 0.5  # share of distinct activities that must read as statuses


def guess_class(status: str) -> tuple[str, str | None, str]:
    """(class, wait kind, decided_by) for a status name, from the name alone."""
    parts = [p.strip() for p in status.split(" / ")]
    candidates = [parts[-1], status] if len(parts) > 1 else [status]
    if len(parts) > 1 and _matches_done(parts[0]):  # "Completed / In Call" is done whatever the sub-status
        return "done", None, "default"
    for text in candidates:
        for pattern, cls, kind in _COMPILED:
            if pattern.search(text):
                return cls, kind, "default"
    return "work", None, "fallback"


def _matches_done(text: str) -> bool:
    return any(cls == "done" and pattern.search(text) for pattern, cls, _ in _COMPILED)


def looks_like_status(status: str) -> bool:
    return guess_class(status)[2] == "default" and guess_class(status)[0] in ("wait", "done")


def classify_statuses(statuses: pl.DataFrame, settings_classes: dict[str, str]) -> pl.DataFrame:
    """statuses(status, events) -> status, status_class, wait_kind, decided_by, events."""
    rows = []
    for status, events in statuses.iter_rows():
        if status in settings_classes:
            cls = settings_classes[status]
            kind = guess_class(status)[1] if cls == "wait" else None
            rows.append((status, cls, (kind or "internal") if cls == "wait" else None, "settings", events))
        else:
            cls, kind, by = guess_class(status)
            rows.append((status, cls, kind, by, events))
    return pl.DataFrame(
        rows,
        schema={
            "status": pl.String,
            "status_class": pl.String,
            "wait_kind": pl.String,
            "decided_by": pl.String,
            "events": pl.Int64,
        },
        orient="row",
    )


def status_steps(
    classes: pl.DataFrame,
    mapping: pl.DataFrame,
    settings_classes: dict[str, str],
    end_activities: list[str],
) -> pl.DataFrame:
    """The classes of a status log's statuses once [steps] and [flow] end_activities apply.

    classes: classify_statuses' frame (one row per status as loaded); mapping: step_map's
    (activity -> step, NULL when dropped). Statuses mapped to one name (a [steps] merge, or a
    rename onto another status) are one status: they must share a class, which the settings
    may give under the merged name; statuses of different classes merged without that are
    refused. Adds `is_exit`: the status ends a case, i.e. it is done and, when end_activities
    are set, named there (as loaded or as mapped). An end activity that names no status, or a
    status that is not done, is refused: it could end nothing."""
    steps = dict(mapping.select("activity", "step").iter_rows())
    rows = classes.to_dicts()
    members: dict[str, list[dict]] = {}
    for row in rows:
        if steps.get(row["status"]) is not None:
            members.setdefault(steps[row["status"]], []).append(row)
    for name, group in members.items():
        if name in settings_classes:
            cls = settings_classes[name]
            for r in (r for r in group if r["decided_by"] != "settings"):
                r["status_class"], r["decided_by"] = cls, "settings"
                r["wait_kind"] = (guess_class(name)[1] or "internal") if cls == "wait" else None
        found = sorted({r["status_class"] for r in group})
        if len(found) > 1:
            said = ", ".join(f"{r['status']}: {r['status_class']}" for r in group)
            raise SettingsError(
                f"[steps] {name!r} joins statuses of different classes ({said}); "
                f'set [status_classes] "{name}" = "work", "wait" or "done"'
            )
    names = {r["status"] for r in rows} | set(members)
    unknown = [a for a in end_activities if a not in names]
    if unknown:
        raise SettingsError(
            f"[flow] end_activities: {unknown[0]!r} is no status of this log; expected done statuses such as "
            + ", ".join(sorted({r["status"] for r in rows if r["status_class"] == "done"})[:5] or ["none"])
        )
    for row in rows:
        step = steps.get(row["status"])
        named = row["status"] in end_activities or (step is not None and step in end_activities)
        if named and row["status_class"] != "done":
            raise SettingsError(
                f"[flow] end_activities: {row['status']!r} is a {row['status_class']} status; a status log's "
                f'cases end in done statuses (set [status_classes] "{row["status"]}" = "done" to make it one)'
            )
        row["is_exit"] = step is not None and row["status_class"] == "done" and (not end_activities or named)
    return pl.DataFrame(rows, schema=classes.schema | {"is_exit": pl.Boolean})


def guess_log_shape(has_start_column: bool, lifecycle_starts: int, activities: list[str]) -> str:
    """interval when starts are observed; status when most activities read as statuses; else point."""
    if has_start_column or lifecycle_starts > 0:
        return "interval"
    if activities:
        share = sum(looks_like_status(a) for a in activities) / len(activities)
        if share >= STATUS_VOCABULARY_SHARE:
            return "status"
    return "point"
