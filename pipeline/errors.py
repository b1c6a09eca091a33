"""Small typed errors raised by library code; the CLI turns them into one `Error: ...` line.

Each error carries the exit code the CLI uses for it (documented in README.md).
"""

from __future__ import annotations


class VsmError(Exception):
    """Base of every error the product reports to a user (never a bug)."""

    exit_code = 1


class SourceError(VsmError):
    """A source file cannot be read as an event log (empty, binary, truncated, malformed, unsafe)."""

    exit_code = 3

    def __init__(self, path: object, message: str) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


def first_line(error: BaseException) -> str:
    """The first line of a library's error message (its type's name when it says nothing):
    what a SourceError quotes of a parser's own complaint."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class ColumnError(VsmError):
    """A required column (case, activity, timestamp) was not found or was mapped to a missing column."""

    exit_code = 3


class TimestampFormatError(VsmError):
    """Timestamps cannot be read unambiguously (day/month order unknown, unknown format)."""

    exit_code = 3


class FileDropError(VsmError):
    """A file of a file-drop stream ([source] path a glob) failed to load: the message names it,
    the files loaded before it (kept) and those not tried; the exit code is its cause's."""

    def __init__(self, message: str, exit_code: int) -> None:
        self.exit_code = exit_code
        super().__init__(message)


class SettingsError(VsmError):
    """A stream's settings file is missing or invalid.

    The message names the key, the value and what is allowed.
    """

    exit_code = 2


class SystemSourceError(VsmError):
    """A system source (Jira, ServiceNow, Zendesk, ...) cannot be read: unreachable after the
    retries, credentials refused, or an answer that is not what its API documents (HTML
    instead of JSON, a truncated body, a missing field, an unknown status id).

    The message names the system, the endpoint and what was wrong; never a secret."""

    exit_code = 5

    def __init__(self, system: str, endpoint: str, message: str) -> None:
        self.system = system
        self.endpoint = endpoint
        super().__init__(f"{system} {endpoint}: {message}")


class StoreError(VsmError):
    """The DuckDB store cannot be opened or migrated."""

    exit_code = 4


class OutOfMemory(VsmError):
    """A step needed more memory than the store may use (VSM_MEMORY_LIMIT): an expected condition
    with a remedy, not a bug. Raised by pipeline/memory.py `memory_guard`; the step in progress
    changed nothing (its transaction rolled back)."""

    exit_code = 4
