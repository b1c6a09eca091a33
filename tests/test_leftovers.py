"""Leftovers (issue 15 item 5): no child process outlives `vsm`, even after kill -9, and no
temporary folder outlives the next start.

Before: a kill during the report left Chromium's ~10 processes running, which wrote map.png a
second later beside an older page; every run left /tmp/vsm-chromium-*; a killed two-process
XES parse left its child parsing and its folder (100+ MB) in /tmp/vsm-xes-*.
Processes are found by a marker in their command line (Chromium's --user-data-dir, the XES
child's input file), since a killed parent's children are handed to init.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pipeline import processes
from pipeline.store import open_store
from tests.browser import CHROMIUM
from tests.conftest import PROJECT, real_logs_dir, run_vsm_process

WAIT_S = 120  # for the stage to begin on a busy machine; not a measurement


def start_vsm(*args: str, cwd: Path, before: str = "", env: dict | None = None) -> subprocess.Popen:
    """`vsm <args>` as its own process (as tests/conftest.py run_vsm_process), not waited for."""
    script = before + "import sys\nsys.argv = ['vsm'] + sys.argv[1:]\nfrom pipeline.cli import main\nmain()\n"
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=(env or os.environ) | {"PYTHONPATH": str(PROJECT)},
    )


def command_lines() -> dict[int, str]:
    """pid -> command line of every process now running."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue  # ended meanwhile
    return found


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return int(stat.rsplit(b")", 1)[1].split()[1])


def wait_for_child(parent: subprocess.Popen, needle: str) -> str:
    """The command line of the first child of `parent` whose command line holds `needle`."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert parent.poll() is None, "vsm ended before the stage began"
        for pid, line in command_lines().items():
            launching = "os.execvp(" in line  # pipeline/processes.py's launcher, not yet the command
            if needle in line and not launching and parent_of(pid) == parent.pid:
                return line
        time.sleep(0.01)
    raise AssertionError(f"no child with {needle!r} within {WAIT_S} s")


def survivors(marker: str, grace_s: float = 10.0) -> list[str]:
    """Processes whose command line holds `marker`, once they had `grace_s` to end (a
    process's end after its parent's death takes the kernel a moment)."""
    deadline = time.monotonic() + grace_s
    while True:
        left = [line for line in command_lines().values() if marker in line]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def argument(line: str, flag: str) -> str:
    return next(part.split("=", 1)[1] for part in line.split() if part.startswith(flag + "="))


@pytest.fixture
def private_tmpdir():
    """The system temp folder the `vsm` process sees ($TMPDIR), apart from other runs'. Short:
    Chromium aborts when its singleton socket's path under $TMPDIR is over ~100 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="tmpdir-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def with_tmpdir(folder: Path) -> str:
    """Python for `run_vsm_process(before=...)`: $TMPDIR is `folder` in that process."""
    return f"import os\nos.environ['TMPDIR'] = {str(folder)!r}\n"


def migrated_store(folder: Path) -> None:
    """A store created and closed before the run that is killed: a kill during a store's
    first run is issue 15 item 1, apart from this."""
    open_store(folder / "vsm.duckdb").close()


def test_kill_9_during_the_chromium_step_leaves_no_chromium_no_png_and_no_folder_after_the_next_run(
    tmp_path, private_tmpdir
):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found (Debian's chromium renders map.png)")
    lines = (PROJECT / "sample_logs" / "claims.csv").read_text(encoding="utf-8").splitlines()
    log = tmp_path / "claims.csv"
    log.write_text("\n".join(lines[:1001]) + "\n", encoding="utf-8")
    migrated_store(tmp_path)
    env = os.environ | {"TMPDIR": str(private_tmpdir)}
    vsm = start_vsm("discover", str(log), "--stream", "claims", cwd=tmp_path, env=env)
    try:
        chromium = wait_for_child(vsm, "--screenshot=")
    finally:
        vsm.kill()  # SIGKILL: no handler, no finally block runs in vsm
        vsm.wait()
    profile = argument(chromium, "--user-data-dir")
    assert survivors(profile) == [], "Chromium outlived vsm"
    report = tmp_path / "reports" / "claims"
    assert not (report / "map.png").exists(), "a PNG without its page"
    assert not (report / "index.html").exists()
    # The next start (any command that opens the store) removes the dead run's folder; this
    # one is a whole recompute and report (the killed run published nothing: the analysts'
    # file has no results for `vsm report` to draw), which leaves nothing behind.
    assert Path(profile).parent.exists()
    done = run_vsm_process("compute", "claims", cwd=tmp_path, before=with_tmpdir(private_tmpdir))
    assert done.returncode == 0, done.stderr
    assert not Path(profile).exists()
    assert (report / "map.png").exists() and (report / "index.html").exists()
    assert not list((tmp_path / "vsm.duckdb.tmp").glob("vsm-*"))
    assert not list(private_tmpdir.iterdir())
    assert survivors(str(tmp_path), grace_s=0) == []


def test_kill_9_during_the_two_process_xes_parse_leaves_no_child_and_no_folder(tmp_path, private_tmpdir):
    log = real_logs_dir() / "helpdesk.xes.gz"
    if not log.exists():
        pytest.skip(f"real log {log} not found")
    migrated_store(tmp_path)
    before = (
        "import connectors.xes as xes\nxes.SPLIT_MIN_BYTES = 0  # two processes even for this small log\n"
    )
    env = os.environ | {"TMPDIR": str(private_tmpdir)}
    vsm = start_vsm(
        "discover", str(log), "--stream", "desk", "--no-png", cwd=tmp_path, before=before, env=env
    )
    try:
        child = wait_for_child(vsm, "-m connectors.xes")  # (a forked child shows vsm's line until exec)
    finally:
        vsm.kill()
        vsm.wait()
    second = child.split()[-2]  # python -m connectors.xes <second half> <arrow file>
    assert survivors(second) == [], "the XES child outlived vsm"
    folder = Path(second).parent
    assert not (folder / "second.arrow").exists(), "the child went on parsing after vsm was killed"
    assert folder.parent == tmp_path / "vsm.duckdb.tmp"  # the store's temp folder, not /tmp
    done = run_vsm_process("streams", cwd=tmp_path, before=with_tmpdir(private_tmpdir))
    assert done.returncode == 0, done.stderr
    assert not folder.exists()
    assert not list(private_tmpdir.iterdir())


# --- the temporary folders' owners, in this process -----------------------------------------


def test_only_folders_of_processes_that_are_gone_are_removed(tmp_path):
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    me, started = os.getpid(), processes._start_time(os.getpid())
    names = {
        "dead": f"vsm-xes-{ended.pid}-{processes._start_time(ended.pid) or 12345}-ab12",
        "pid reused": f"vsm-chromium-{me}-{started + 1}-cd34",  # this pid, but a process started later
        "mine": f"vsm-xes-{me}-{started}-ef56",
        "not ours": "vsm-notes",
        "other": "duckdb_temp_storage-0.tmp",
    }
    for name in names.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "f").write_text("x")
    removed = processes.remove_stale(tmp_path)
    assert sorted(p.name for p in removed) == sorted([names["dead"], names["pid reused"]])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [names["mine"], names["not ours"], names["other"]]
    )


def test_a_private_folder_is_removed_however_its_block_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(processes, "_temp_root", tmp_path / "store.duckdb.tmp")
    with pytest.raises(KeyboardInterrupt):
        with processes.private_temp_dir("xes") as folder:
            (folder / "log.xes").write_text("<log/>")
            assert folder.parent == tmp_path / "store.duckdb.tmp"
            raise KeyboardInterrupt
    assert not folder.exists()


def test_a_child_and_what_it_started_end_with_the_block(tmp_path):
    marker = str(tmp_path / "grandchild-marker")
    script = f"import subprocess, time; subprocess.Popen(['sleep', '60', {marker!r}]); time.sleep(60)"
    with processes.child_process([sys.executable, "-c", script]) as child:
        deadline = time.monotonic() + WAIT_S
        while not [line for line in command_lines().values() if marker in line]:
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.01)
    assert child.returncode == -signal.SIGKILL
    assert survivors(marker) == []
