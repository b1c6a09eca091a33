"""File drops: a stream whose `[source] path` is a glob (`exports/claims-*.csv`).

Each ingest looks at the files the glob matches, in name order, and loads those that are
new or changed since the last run; the others are skipped, saying why:
- a file whose name was loaded before with the same size and modification time is unchanged
  (not read again); with another size or time it is read, and unchanged if its content
  (sha256) is the same (a file touched, or copied over with itself);
- a file whose name was loaded before with other content is changed: loaded again (the
  event ids, or the event key, keep its unchanged rows from being stored twice);
- a file of a new name whose content was loaded before (under another name, or earlier in
  this run) is a repeat: skipped, naming the file it repeats.

Each file's load is its own transaction, with its `source_files` row (migration 010): a
failure in file 3 keeps files 1-2 loaded, names file 3, and stops there (later files may
hold newer versions of its events, so they wait for it); the next run starts again at file 3.
"""

from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from pipeline.errors import SettingsError, SourceError
from pipeline.store import read_sql

_GLOB_CHARS = frozenset("*?[")


def is_glob(path: str | Path) -> bool:
    """Whether a `[source] path` is a pattern (holds * ? or [) rather than one file."""
    return any(ch in _GLOB_CHARS for ch in str(path))


def check_pattern(pattern: str, where: str = "[source] path") -> None:
    """Refuse a pattern the glob cannot read: `**` only as a whole folder name."""
    for part in Path(pattern).parts:
        if "**" in part and part != "**":
            raise SettingsError(
                f"{where} = {pattern!r}: '**' must be a whole folder name (exports/**/claims-*.csv), "
                f"not part of one ({part!r})"
            )
    if pattern.count("[") != pattern.count("]"):
        raise SettingsError(f"{where} = {pattern!r}: unbalanced '[' ']' in the pattern")


@dataclass(frozen=True)
class DropFile:
    """One file the glob matched: what it is, and what this run does with it."""

    path: Path
    size: int
    modified_at: datetime
    content_hash: str
    action: str  # "load" or "skip"
    reason: str  # why: "new", "changed since run 3", "unchanged since run 3", "same content as ..."

    @property
    def name(self) -> str:
        return str(self.path)

    def line(self) -> str:
        verb = "load" if self.action == "load" else "skip"
        return f"{verb} {self.name} ({self.size:,} bytes): {self.reason}"


def matched_files(pattern: Path) -> list[Path]:
    """The regular files the pattern matches, in name order; none is a SourceError (exit 3).
    Names starting with a dot are not matched by * or ? (glob's rule): an export written under
    a hidden name and renamed when complete is never read half-written."""
    # absolute (not resolved: a symlink keeps its own name), so a name means one file whatever
    # the working folder
    found = sorted(Path(p).absolute() for p in glob.glob(str(pattern), recursive=True) if Path(p).is_file())
    if not found:
        raise SourceError(pattern, "the [source] path pattern matches no file")
    return found


def content_hash(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def plan_drops(con: duckdb.DuckDBPyConnection | None, stream: str, pattern: Path) -> list[DropFile]:
    """Every matched file, in name order, with whether this run loads or skips it and why,
    judged against the stream's `source_files` (none when `con` is None: a store not made yet)."""
    loaded_names: dict[str, tuple[str, int]] = {}  # name -> (its last loaded hash, run)
    loaded_stats: dict[str, tuple[int, int]] = {}  # name -> (its size, modified time in µs) then
    loaded_hashes: dict[str, tuple[str, int]] = {}  # hash -> (first name loaded with it, run)
    if con is not None and _has_table(con):
        rows = con.execute(read_sql("load/loaded_files.sql"), {"stream": stream}).fetchall()
        for name, digest, run_id, size, modified_us in rows:
            loaded_names[name] = (digest, run_id)
            loaded_stats[name] = (size, modified_us)
            loaded_hashes.setdefault(digest, (name, run_id))
    plan = []
    this_run: dict[str, str] = {}  # hash -> name of a file this run loads
    for path in matched_files(pattern):
        stat = path.stat()
        name = str(path)
        modified_us = stat.st_mtime_ns // 1000
        modified = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=modified_us)
        if loaded_stats.get(name) == (stat.st_size, modified_us):
            # same name, size and modified time as when loaded: not read again (the nightly
            # look at a folder of large exports costs a stat per file, not a read)
            digest, run_id = loaded_names[name]
            reason = f"unchanged since run {run_id} (same size and modified time)"
            plan.append(DropFile(path, stat.st_size, modified, digest, "skip", reason))
            continue
        digest = content_hash(path)
        if name in loaded_names and loaded_names[name][0] == digest:
            action, reason = "skip", f"unchanged since run {loaded_names[name][1]} (same content)"
        elif name not in loaded_names and digest in loaded_hashes:
            first, run_id = loaded_hashes[digest]
            action, reason = "skip", f"a repeat: same content as {first}, loaded in run {run_id}"
        elif name not in loaded_names and digest in this_run:
            action, reason = "skip", f"a repeat: same content as {this_run[digest]}, loaded in this run"
        elif name in loaded_names:
            action, reason = "load", f"changed since run {loaded_names[name][1]}"
        else:
            action, reason = "load", "new"
        if action == "load":
            this_run.setdefault(digest, name)
        plan.append(DropFile(path, stat.st_size, modified, digest, action, reason))
    return plan


def _has_table(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_name = 'source_files'"
        ).fetchall()[0][0]
    )


def record_file(con: duckdb.DuckDBPyConnection, stream: str, run_id: int, drop: DropFile) -> None:
    """Inside the load's transaction: the `source_files` row of the file whose events it stores."""
    con.execute(
        read_sql("load/insert_source_file.sql"),
        {
            "stream": stream,
            "name": drop.name,
            "size": drop.size,
            "modified": drop.modified_at,
            "hash": drop.content_hash,
            "run_id": run_id,
            "loaded": datetime.now(UTC),
        },
    )
