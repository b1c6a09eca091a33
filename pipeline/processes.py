"""Child processes and temporary folders that never outlive the `vsm` process that made them.

Children (headless Chromium for map.png, the second XES parser) run in their own process
group, so that ending them ends everything they started (Chromium starts about ten
helpers), and on Linux with a parent-death signal (``prctl(PR_SET_PDEATHSIG)``), so that
even a ``kill -9`` of `vsm` ends them instead of leaving them to write files a second later.

Temporary folders live under the store's own temp folder (``<store>.tmp/``, where DuckDB
spills too; the system's temp folder before a store is opened) and are named
``vsm-<kind>-<pid>-<start>-<random>`` after the process that owns them. Each is removed
when its work is done; one left by a killed process is removed at the next start
(`use_store_temp`): only when its owner (that pid, started at that time) is gone, since a
nightly run and an analyst may use one store at once.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_OWNED = re.compile(r"^vsm-[a-z]+-(\d+)-(\d+)-[0-9a-f]+$")
_temp_root: Path | None = None


# --- temporary folders ------------------------------------------------------------------


def store_temp_folder(store: Path | str) -> Path:
    """The store's own temp folder: ``<store>.tmp`` beside the file (DuckDB's default too)."""
    return Path(f"{store}.tmp").absolute()


def use_store_temp(store: Path | str) -> None:
    """Put this process's temporary folders under the store's temp folder from now on, and
    remove the ones there (and in the system's temp folder) whose owner process is gone."""
    global _temp_root
    _temp_root = store_temp_folder(store)
    remove_stale(_temp_root)
    remove_stale(Path(tempfile.gettempdir()))


def remove_stale(folder: Path) -> list[Path]:
    """Remove the temporary folders in `folder` left by `vsm` processes that are gone; return them."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed  # no such folder yet: nothing left there
    for entry in entries:
        owner = _OWNED.match(entry.name)
        if owner and entry.is_dir(follow_symlinks=False) and not _alive(int(owner[1]), int(owner[2])):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


@contextmanager
def private_temp_dir(kind: str, *, in_system_temp: bool = False) -> Iterator[Path]:
    """A new empty folder owned by this process (`kind`: what it is for, e.g. ``xes``),
    removed with its contents when the block ends, however it ends. It is made in the
    store's temp folder, or in the system's with `in_system_temp` (a short path)."""
    name = f"vsm-{kind}-{os.getpid()}-{_start_time(os.getpid())}-{secrets.token_hex(4)}"
    folder = _make(_temp_root, name) if _temp_root is not None and not in_system_temp else None
    if folder is None:  # no store yet, or its folder cannot be written: the system's
        folder = _make(Path(tempfile.gettempdir()), name)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _make(parent: Path, name: str) -> Path | None:
    folder = parent / name
    try:
        folder.mkdir(parents=True, mode=0o700)
    except FileNotFoundError:  # the parent was removed meanwhile (DuckDB removes an empty one)
        folder.mkdir(parents=True, mode=0o700)
    except PermissionError:
        return None
    return folder


def _start_time(pid: int) -> int:
    """When process `pid` started (clock ticks since boot; Linux), 0 where unknown: with the
    pid it tells a folder's owner from a later process that got the same pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # the command name (field 2) may hold spaces and ')': fields are counted after it
            return int(stat.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return 0


def _alive(pid: int, started: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    return started == 0 or _start_time(pid) in (0, started)


# --- child processes ----------------------------------------------------------------------


# Run in the child, then replaced by the command (exec keeps the pid, the group and the
# parent-death signal). Not a preexec_fn: with one, Python fork()s this whole process instead
# of vfork()ing it, and a fork of a process holding gigabytes (DuckDB's memory, a large log)
# fails with ENOMEM (seen in the test suite).
_LAUNCHER = (
    "import os, sys\n"
    "os.setpgid(0, 0)\n"
    "if sys.platform.startswith('linux'):\n"
    "    import ctypes\n"
    "    ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL\n"
    "if os.getppid() != int(sys.argv[1]):  # the parent died before prctl took effect\n"
    "    os._exit(1)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def start_child(command: list[str], **popen: object) -> subprocess.Popen:
    """Start `command` in its own process group, ended with `vsm` even by kill -9 (Linux)."""
    launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(os.getpid())]
    return subprocess.Popen([*launcher, *command], **popen)


def end_child(child: subprocess.Popen) -> None:
    """Kill `child` and everything in its process group, and reap it."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # all gone already
    if child.poll() is None:
        child.kill()
    child.wait()


@contextmanager
def child_process(command: list[str], **popen: object) -> Iterator[subprocess.Popen]:
    """`start_child` for the block; when it ends (done, failed or interrupted), the child
    and every process it started are killed."""
    child = start_child(command, **popen)
    try:
        yield child
    finally:
        end_child(child)
