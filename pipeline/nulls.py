"""Missing-value tokens: the text an export writes for "no value" (`?`, `NULL`, `N/A`, ...).

Such a value is missing, not a team named '?': the load reads it as NULL in the optional
columns (resource, team, lifecycle) and the attributes, rejects a row whose case id,
activity or timestamp is one (kept, with the reason), and reports which token it found in
which column how often. `[source] null_values` replaces the built-in list; `[]` means none.

A placeholder status (`-100` in ServiceNow: a status that is only a number where the other
statuses are words, a negative number, or a missing-value token) is no work step: the step
mapping drops it unless the settings name it.
"""

from __future__ import annotations

import re

BUILTIN_NULL_VALUES = (
    "",
    "?",
    "-",
    "--",
    "NULL",
    "null",
    "None",
    "none",
    "N/A",
    "n/a",
    "NA",
    "#N/A",
    "(none)",
    "(null)",
    "nan",
    "NaN",
    "EMPTY",  # the WABO receipt log's group on a fifth of its events
    "empty",
    "(empty)",
    "<empty>",
)
_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")


def null_values(setting: list[str] | None) -> list[str]:
    """The tokens read as missing: the setting's list when given, else the built-in one."""
    return list(BUILTIN_NULL_VALUES) if setting is None else list(setting)


def placeholder_statuses(activities: list[str], tokens: list[str], named: set[str]) -> list[str]:
    """The activities that only hold a place: a missing-value token; a negative number; or a
    number where most activities are words (a log whose statuses are all codes keeps them).
    Those in `named` (mentioned by [status_classes] or [steps]) are kept."""
    numbers = [a for a in activities if _NUMBER.fullmatch(a.strip())]
    mostly_words = len(numbers) * 2 < len(activities)
    found = []
    for activity in activities:
        text = activity.strip()
        if activity in named:
            continue
        if text in tokens or (_NUMBER.fullmatch(text) and (text.startswith("-") or mostly_words)):
            found.append(activity)
    return found
