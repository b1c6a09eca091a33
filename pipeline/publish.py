"""Writers work on their own store and publish the analysts' file whole; one writer at a time.

Analysts (``vsm sql``, ``vsm export``, ``vsm report``, the DuckDB CLI, Python with
``read_only=True``, BI tools) open the file named by ``--db`` (default ``vsm.duckdb``). No
command ever writes that file in place, so no writer holds DuckDB's lock on it:

- **The work store.** ``discover``, ``ingest`` and ``compute`` load and compute in
  ``<db>.work`` (``vsm.duckdb.work``, with its own ``.wal`` and ``.tmp/``), opened
  read-write by them alone. The first time, it starts as a copy of the analysts' file (and
  its write-ahead log), so a store made before this design keeps all it holds.
- **Publishing.** When the command succeeds, the work store is checkpointed (we hold its
  only connection and no transaction is open, so the file then holds every commit and
  nothing writes it), copied byte for byte (``shutil.copyfile``: ``copy_file_range``, no
  read into this process) to a hidden ``.<db>.publish`` beside the analysts' file, flushed
  to disk, renamed over it (``os.replace``: atomic on one file system) and the folder
  flushed. A reader sees the old file or the new one, never a mix: a connection opened
  before the rename keeps reading the old file (its inode lives while it is open), the next
  one opens the new. A stream's new results therefore appear all at once, and a command that
  fails or is killed (``kill -9`` at any moment, the publish included) leaves the analysts'
  file as the last good publish; the next command publishes what the work store holds then.
- **A stream that failed.** Each command marks its stream in ``<db>.unpublished`` before it
  writes and unmarks it once published. Its load may have committed in the work store before
  it failed or was killed (each file, each page of a system commits on its own); while it
  stays marked, a publish of another stream carries the marked stream's rows (every table
  with a ``stream`` column) over from the analysts' file into the copy, so analysts keep its
  last good results, never new events beside old results. Its next good run publishes all.
- **Storage version.** The work store is created in DuckDB's storage format ``v1.4.0``
  (STORAGE_VERSION, pipeline/store.py), and DuckDB keeps that format when it reopens and
  checkpoints it, so the analysts' file, its byte copy, is one DuckDB 1.4 (the long-term
  release), 1.5 (the release before 2.0) and 2.0 all open (checked with DuckDB 1.5.6,
  installed apart). A work store or analysts' file made before in a newer format (a
  ``v2.0.0`` store) is converted once, by DuckDB's ``COPY FROM DATABASE`` into a file
  attached with that STORAGE_VERSION, and the command says so.
- **Two writers.** A writer first takes ``flock`` on ``<db>.lock`` and writes its pid
  there. A second waits up to ``--wait`` seconds for it, then stops with StoreBusy naming
  the holder's pid. The kernel drops the lock when its process ends however it ends, so a
  killed run never blocks the next one (the file itself stays; it is never deleted, which
  would let two writers lock two different files).

Measured on DuckDB 2.0.1, 2 shared cores, the store of 1M events with its results (62 MB,
after a write, so the checkpoint has work): a publish takes 0.06 s, of which the fsyncs of
the copy and the folder 0.01 s (0.05 s without them; means of 3). The COPY FROM DATABASE
it replaces took 0.75 to 1.8 s and grew with the store; it now runs only for the one-time
conversion. A publish that carries a marked stream's rows over costs what copying that
stream's rows takes: 2 to 3 s for the 1M-event stream (measured while other tests ran).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import duckdb

from pipeline import interrupts
from pipeline.errors import StoreError, first_line
from pipeline.processes import use_store_temp
from pipeline.store import STORAGE_VERSION, limit_memory, open_store, sql_identifier, sql_literal

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


Say = Callable[[str], None]


def _quiet(_note: str) -> None:
    pass


@contextmanager
def writing(
    db: Path | str, wait: float = 0.0, stream: str | None = None, say: Say = _quiet
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The work store behind `db`, opened for writing under the writers' lock; published over
    `db` when the block ends without an error (not when it raises). `stream`: the stream the
    block works on (see `working_on`)."""
    with writer_lock(db, wait), working_on(db, stream, say) as con:
        yield con


@contextmanager
def working_on(
    db: Path | str, stream: str | None, say: Say = _quiet, shared: SharedWork | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The work store, for one stream's work, published when the block succeeds; the caller
    holds the writers' lock.

    The stream is marked unpublished (in `<db>.unpublished`) before anything is written and
    unmarked once published. While it is marked (its block failed or was killed, after a load
    that may have committed), every publish of another stream carries that stream's rows over
    from the analysts' file as they are: analysts keep its last good results, never its new
    events beside old results, until a block of its own succeeds.

    With `shared` (``vsm run --parallel``, see `side_by_side`): a connection of its own to the
    work store that `shared` holds open, published under `shared`'s publish lock."""
    db = Path(db)
    if shared is not None:
        con = shared.cursor()
        try:
            if stream is not None:
                _mark(db, stream)
            yield con
            with shared.publishing:
                held = unpublished(db) - ({stream} if stream else set())
                publish(con, db, keep=held, side_by_side=True)
                if stream is not None:
                    _unmark(db, stream)
        finally:
            con.close()
        return
    con = open_work(db, say)
    try:
        # This process's own temporary folders (not DuckDB's spill, which stays beside the
        # work store) go under <db>.tmp, where any later command, an analyst's too, removes
        # them once their owner is gone.
        use_store_temp(db)
        if stream is not None:
            _mark(db, stream)
        yield con
        held = unpublished(db) - ({stream} if stream else set())
        publish(con, db, keep=held)
        if stream is not None:
            _unmark(db, stream)
    finally:
        con.close()


# DuckDB's name for the write-ahead log size that starts an automatic checkpoint at a commit;
# a value for it that no night reaches (the WAL lives until the next publish's checkpoint).
_NO_AUTOMATIC_CHECKPOINT = "1000000GB"


class SharedWork:
    """The work store held open for streams that run side by side in this process (threads):
    each stream works on a connection of its own (`cursor`: its own transactions, temp tables
    and session settings such as TimeZone), and one publish at a time (`publishing`)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.publishing = threading.Lock()
        self._opening = threading.Lock()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self._opening:  # the parent connection is shared by the threads: one at a time
            cur = self.con.cursor()
        interrupts.watch(cur)  # Ctrl-C / SIGTERM interrupt this stream's query too
        cur.execute("SET TimeZone = 'UTC'")  # as open_store sets it (a session setting)
        limit_memory(cur)
        return cur


@contextmanager
def side_by_side(db: Path | str, say: Say = _quiet) -> Iterator[SharedWork]:
    """The work store behind `db`, open once for streams run side by side (the caller holds
    the writers' lock), with automatic checkpoints off until the block ends.

    Why that is safe to publish from: only a checkpoint writes the blocks a database file's
    header refers to. A commit goes to the write-ahead log, and a large uncommitted insert
    writes its row groups into blocks the last checkpoint left free (DuckDB's optimistic
    writes). With automatic checkpoints off (``checkpoint_threshold``: a setting of the
    database, shared by its connections), the one checkpoint is the publish's own, taken under
    the publish lock; the byte copy that follows it holds that checkpoint whole, and whatever
    another stream writes meanwhile lands outside it (tests/test_parallel.py publishes while
    another stream inserts 300,000 rows)."""
    db = Path(db)
    con = open_work(db, say)
    try:
        use_store_temp(db)
        con.execute(f"SET checkpoint_threshold = '{_NO_AUTOMATIC_CHECKPOINT}'")
        yield SharedWork(con)
    finally:
        try:
            con.execute("RESET checkpoint_threshold")
        except duckdb.Error:
            pass  # closing anyway
        con.close()


def open_work(db: Path | str, say: Say = _quiet) -> duckdb.DuckDBPyConnection:
    """Open the work store behind `db` (the caller holds the writers' lock): started from the
    analysts' file the first time, converted once to STORAGE_VERSION when it is in a newer one."""
    db = Path(db)
    work = work_path(db)
    if not work.exists() and db.exists():
        _start_from(db, work)
    con = open_store(work)  # a new store is created in STORAGE_VERSION (pipeline/store.py)
    if _storage_version(con).startswith(STORAGE_VERSION):
        return con
    found = _storage_version(con)
    started = time.monotonic()
    _convert(con, work)
    say(
        f"{work}: converted once from DuckDB storage {found} to {STORAGE_VERSION} (which DuckDB 1.4 and "
        f"1.5 read too) in {time.monotonic() - started:.1f} s; later publishes copy it as it is"
    )
    return open_store(work)


def _storage_version(con: duckdb.DuckDBPyConnection) -> str:
    """The storage version the open database declares, e.g. 'v1.4.0+' (DuckDB 2.0.1's tag)."""
    tags = con.execute(
        "SELECT tags FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()[0][0]
    return str((tags or {}).get("storage_version", "unknown"))


def _convert(con: duckdb.DuckDBPyConnection, work: Path) -> None:
    """Rewrite the work store in STORAGE_VERSION: DuckDB copies it whole (tables with their
    keys and defaults, views, sequences, macros) into a hidden file that replaces it. Closes
    `con` (before the rename: no connection may write the old file after it)."""
    part = work.with_name(f".{work.name}.convert")
    for stale in (part, _wal(part)):
        stale.unlink(missing_ok=True)
    name = con.execute("SELECT current_database()").fetchall()[0][0]
    alias = "vsm_convert"
    try:
        con.execute("SET enable_progress_bar = false")  # a long copy draws one on the terminal otherwise
        con.execute(f"ATTACH {sql_literal(str(part))} AS {alias} (STORAGE_VERSION '{STORAGE_VERSION}')")
        try:
            con.execute(f"COPY FROM DATABASE {sql_identifier(name)} TO {alias}")
        finally:
            con.execute(f"DETACH {alias}")  # checkpoints the copy into its file
        con.close()
        if _wal(part).exists() or (_wal(work).exists() and _wal(work).stat().st_size):
            raise StoreError(f"{work}: a write-ahead log is left beside the store or its copy; not converted")
        _fsync(part)
        _wal(work).unlink(missing_ok=True)  # empty after the checkpoint; none may meet the new file
        os.replace(part, work)
        _fsync_dir(work.parent)
    except duckdb.Error as exc:
        raise StoreError(
            f"{work}: cannot convert it to storage {STORAGE_VERSION}: {first_line(exc)}"
        ) from exc
    except OSError as exc:
        raise StoreError(
            f"{work}: cannot convert it to storage {STORAGE_VERSION}: {exc.strerror or exc}"
        ) from exc
    finally:
        con.close()
        for leftover in (part, _wal(part)):
            leftover.unlink(missing_ok=True)


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


@contextmanager
def writers_view(db: Path | str) -> Iterator[tuple[Path, str]]:
    """The store a look at what the next write would do (``vsm ingest --dry-run``) reads, and a
    note when it is not the work store. The work store holds what the next run starts from
    (cursors, loaded files; a failed stream's committed load too), but DuckDB opens no file
    read-only while a writer has it open: when the writers' lock is free this holds it (a
    writer starting meanwhile waits its --wait or stops naming this pid) and reads the work
    store; when a run holds it, the analysts' file, as last published, and the note says so."""
    db = Path(db)
    lock = ExitStack()
    try:
        lock.enter_context(writer_lock(db, 0.0))
    except StoreBusy:
        note = (
            f"a run is writing {db} now: shown against the store as last published, which that run "
            "may be changing"
        )
    except StoreError as exc:  # e.g. an analyst who may not write in the store's folder
        note = f"shown against the store as last published ({exc})"
    else:
        note = ""
    if note:
        yield db, note
        return
    with lock:
        work = work_path(db)
        yield (work if work.exists() else db), ""


# ---------------------------------------------------------------- streams not yet published


def unpublished_path(db: Path | str) -> Path:
    return Path(f"{db}.unpublished")


def unpublished(db: Path | str) -> set[str]:
    """The streams whose work began and was not published (one name a line)."""
    try:
        text = unpublished_path(db).read_text(encoding="utf-8")
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise StoreError(f"{unpublished_path(db)}: cannot read it: {exc.strerror or exc}") from exc
    return {line for line in text.splitlines() if line}


def _write_unpublished(db: Path, names: set[str]) -> None:
    path = unpublished_path(db)
    try:
        if not names:
            path.unlink(missing_ok=True)
        else:
            part = path.with_name(f".{path.name}.part")
            part.write_text("".join(f"{n}\n" for n in sorted(names)), encoding="utf-8")
            _fsync(part)
            os.replace(part, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise StoreError(f"{path}: cannot write it: {exc.strerror or exc}") from exc


_marking = threading.Lock()  # streams run side by side mark and unmark the one file


def _mark(db: Path, stream: str) -> None:
    with _marking:
        names = unpublished(db)
        if stream not in names:
            _write_unpublished(db, names | {stream})


def _unmark(db: Path, stream: str) -> None:
    with _marking:
        names = unpublished(db)
        if stream in names:
            _write_unpublished(db, names - {stream})


# ---------------------------------------------------------------- publishing


def publish(
    con: duckdb.DuckDBPyConnection,
    db: Path | str,
    keep: set[str] | frozenset[str] = frozenset(),
    side_by_side: bool = False,
) -> None:
    """Write the whole store of `con` (the work store, in STORAGE_VERSION) as the analysts'
    file `db`: checkpointed, copied byte for byte into a hidden file that is flushed to disk
    and renamed over `db`. The streams in `keep` keep the rows the analysts' file holds now.

    `side_by_side`: other connections of this process (other streams, see `side_by_side`) may
    have transactions open. DuckDB 2.0.1 refuses a plain CHECKPOINT while another transaction
    holds an UPDATE or a sequence's nextval ("other write transactions active"); FORCE
    CHECKPOINT waits for those to end (it aborts none) and checkpoints every commit, leaving
    uncommitted appends and deletes out. Their commits may reach the log right after it, so
    the log is not required to stay empty then."""
    db = Path(db)
    part = db.with_name(f".{db.name}.publish")
    for stale in (part, _wal(part)):
        stale.unlink(missing_ok=True)  # left by a publish that was killed
    try:
        work = Path(
            con.execute(
                "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
            ).fetchall()[0][0]
        )
        # We hold the only connection to the work store and no transaction is open in it:
        # after this the file holds every commit, and nothing writes it until we return.
        con.execute("FORCE CHECKPOINT" if side_by_side else "CHECKPOINT")
        if not side_by_side and _wal(work).exists() and _wal(work).stat().st_size:
            raise StoreError(
                f"{_wal(work)}: not empty after a checkpoint (a transaction still open?); not published"
            )
        shutil.copyfile(work, part)  # copy_file_range: no read into this process
        if keep:
            _carry_over(part, db, keep)
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


def _carry_over(part: Path, db: Path, keep: set[str] | frozenset[str]) -> None:
    """In the copy `part`, give the streams in `keep` the rows the analysts' file `db` holds
    (none when there is no such file yet): every table with a `stream` column."""
    names = sorted(keep)
    con = duckdb.connect(str(part), config={"autoinstall_known_extensions": False})
    try:
        old = db.exists()
        if old:
            con.execute(f"ATTACH {sql_literal(str(db))} AS vsm_published (READ_ONLY)")
        tables = con.execute(
            "SELECT table_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND column_name = 'stream' ORDER BY table_name"
        ).fetchall()
        before = {
            t
            for (t,) in con.execute(
                "SELECT table_name FROM duckdb_columns() WHERE database_name = 'vsm_published' "
                "AND schema_name = 'main' AND column_name = 'stream'"
            ).fetchall()
        }
        con.execute("BEGIN TRANSACTION")
        for (table,) in tables:
            quoted = sql_identifier(table)
            con.execute(f"DELETE FROM {quoted} WHERE stream IN (SELECT unnest($names))", {"names": names})
            if table in before:
                con.execute(
                    f"INSERT INTO {quoted} BY NAME SELECT * FROM vsm_published.main.{quoted} "
                    "WHERE stream IN (SELECT unnest($names))",
                    {"names": names},
                )
        con.execute("COMMIT")
        if old:
            con.execute("DETACH vsm_published")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    if _wal(part).exists() and _wal(part).stat().st_size:
        raise StoreError(f"{_wal(part)}: DuckDB left a write-ahead log beside the copy; not published")
    _wal(part).unlink(missing_ok=True)


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
