"""Writers work on their own store and publish the analysts' file whole; one writer at a time.

Analysts (``vsm sql``, ``vsm export``, ``vsm report``, the DuckDB CLI, Python with
``read_only=True``, BI tools) open the file named by ``--db`` (default ``vsm.duckdb``). No
command ever writes that file in place, so no writer holds DuckDB's lock on it:

- **The work store.** ``discover``, ``ingest`` and ``compute`` load and compute in
  ``<db>.work`` (``vsm.duckdb.work``, with its own ``.wal`` and ``.tmp/``), opened
  read-write by them alone. The first time, it starts as a copy of the analysts' file (and
  its write-ahead log), so a store made before this design keeps all it holds.
- **Publishing.** When the command succeeds, DuckDB copies the whole work store
  (``ATTACH ... (STORAGE_VERSION ...)`` then ``COPY FROM DATABASE``: tables with their keys
  and defaults, views, sequences, macros) into a hidden ``.<db>.publish`` beside it, which
  is flushed to disk and renamed over the analysts' file (``os.replace``: atomic on one
  file system). A reader sees the old file or the new one, never a mix: a connection opened
  before the rename keeps reading the old file (its inode lives while it is open), the next
  one opens the new. A stream's new results therefore appear all at once, and a command that
  fails or is killed (``kill -9`` at any moment, the publish included) leaves the analysts'
  file as the last good publish; the next command publishes what the work store holds then.
- **Storage version.** The analysts' file is written in DuckDB's storage format
  ``v1.4.0`` (STORAGE_VERSION): DuckDB 1.4 (the long-term release), 1.5 (the release
  before 2.0) and 2.0 all open it (checked with DuckDB 1.5.6 and 1.4.5 on the published
  store of the 1M-event benchmark). DuckDB 2.0.1 accepts ``v1.3.0`` ... ``v2.0.0`` there.
- **Two writers.** A writer first takes ``flock`` on ``<db>.lock`` and writes its pid
  there. A second waits up to ``--wait`` seconds for it, then stops with StoreBusy naming
  the holder's pid. The kernel drops the lock when its process ends however it ends, so a
  killed run never blocks the next one (the file itself stays; it is never deleted, which
  would let two writers lock two different files).

Measured on DuckDB 2.0.1, 2 shared cores: publishing a store of 1M events with its results
(58 MB) takes 1.5 to 1.8 s, about 9% of its `discover` (README, "Analysts are never blocked").
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipeline.errors import StoreError, first_line
from pipeline.processes import use_store_temp
from pipeline.store import open_store, sql_identifier, sql_literal

STORAGE_VERSION = "v1.4.0"
_POLL_SECONDS = 0.1


class StoreBusy(StoreError):
    """Another live process writes this store and did not finish within --wait seconds."""

    exit_code = 7


def work_path(db: Path | str) -> Path:
    """The writers' own store behind the analysts' file `db`."""
    return Path(f"{db}.work")


def lock_path(db: Path | str) -> Path:
    return Path(f"{db}.lock")


def _wal(path: Path) -> Path:
    return Path(f"{path}.wal")


@contextmanager
def writer_lock(db: Path | str, wait: float = 0.0) -> Iterator[None]:
    """Hold `<db>.lock` (flock) for the block; wait up to `wait` seconds for a live holder,
    then raise StoreBusy naming its pid."""
    if wait < 0:
        from pipeline.errors import SettingsError

        raise SettingsError(f"--wait {wait:g}: expected a number of seconds, 0 or more")
    path = lock_path(db)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child programs
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the writers' lock file: {exc.strerror or exc}") from exc
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreBusy(_busy_message(db, path, fd, wait)) from None
                time.sleep(_POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _busy_message(db: Path | str, path: Path, fd: int, wait: float) -> str:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    holder = f"pid {text}" if text.isdigit() else "a process that has not written its pid yet"
    waited = f"waited {wait:g} s" if wait else "did not wait"
    return (
        f"{db}: another run ({holder}) is writing this store (it holds {path}); {waited}: "
        "give --wait SECONDS to wait for it"
    )


@contextmanager
def writing(db: Path | str, wait: float = 0.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """The work store behind `db`, opened for writing under the writers' lock; published over
    `db` when the block ends without an error (not when it raises)."""
    db = Path(db)
    with writer_lock(db, wait):
        work = work_path(db)
        if not work.exists() and db.exists():
            _start_from(db, work)
        con = open_store(work)
        # This process's own temporary folders (not DuckDB's spill, which stays beside the work
        # store) go under <db>.tmp, where any later command, an analyst's too, removes them
        # once their owner is gone.
        use_store_temp(db)
        try:
            yield con
            publish(con, db)
        finally:
            con.close()


def _start_from(db: Path, work: Path) -> None:
    """First write since this design: the work store begins as a copy of the analysts' file
    and its write-ahead log (a store last written in place). Copied under hidden names and
    renamed: a copy cut short is never taken for a work store."""
    try:
        _wal(work).unlink(missing_ok=True)  # a log without its database file is no store
        for source, target in ((_wal(db), _wal(work)), (db, work)):  # the database file last:
            if source.exists():  # its presence is what says the work store exists
                hidden = target.with_name(f".{target.name}.part")
                shutil.copyfile(source, hidden)
                _fsync(hidden)
                os.replace(hidden, target)
        _fsync_dir(work.parent)
    except OSError as exc:
        raise StoreError(
            f"{db}: cannot copy it to start the work store {work}: {exc.strerror or exc}"
        ) from exc


def publish(con: duckdb.DuckDBPyConnection, db: Path | str) -> None:
    """Write the whole store of `con` as the analysts' file `db`: a DuckDB copy in storage
    version STORAGE_VERSION, into a hidden file renamed over `db` once complete."""
    db = Path(db)
    part = db.with_name(f".{db.name}.publish")
    for stale in (part, _wal(part)):
        stale.unlink(missing_ok=True)  # left by a publish that was killed
    name = con.execute("SELECT current_database()").fetchone()[0]
    alias = "vsm_publish"
    try:
        con.execute(f"ATTACH {sql_literal(str(part))} AS {alias} (STORAGE_VERSION '{STORAGE_VERSION}')")
        try:
            con.execute(f"COPY FROM DATABASE {sql_identifier(name)} TO {alias}")
        finally:
            con.execute(f"DETACH {alias}")  # checkpoints the copy into its file
        if _wal(part).exists():
            raise StoreError(f"{part}: DuckDB left a write-ahead log beside the copy; not published")
        _fsync(part)
        # A write-ahead log of the old file (only a store written in place before this design
        # has one) would be replayed onto the new file by its next reader: gone first.
        _wal(db).unlink(missing_ok=True)
        os.replace(part, db)
        _fsync_dir(db.parent)
    except duckdb.Error as exc:
        raise StoreError(f"{db}: cannot publish the analysts' copy: {first_line(exc)}") from exc
    except OSError as exc:
        raise StoreError(f"{db}: cannot publish the analysts' copy: {exc.strerror or exc}") from exc
    finally:
        for leftover in (part, _wal(part)):
            leftover.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder if str(folder) else ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
