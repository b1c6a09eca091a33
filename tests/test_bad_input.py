"""Bad input through `vsm discover`, as a user meets it: one clear line, the right exit
code, no traceback, rows kept in rejects, and a failed load that changes nothing."""

from __future__ import annotations

import gzip

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from tests.conftest import run_vsm_process, write
from tests.xml_bombs import BILLION_LAUGHS

runner = CliRunner()
GOOD = "case_id,activity,timestamp\nc1,A,2026-01-01T10:00:00Z\nc1,B,2026-01-01T11:00:00Z\n"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "good.csv", GOOD)
    assert runner.invoke(app, ["discover", "good.csv", "--stream", "s"]).exit_code == 0
    return tmp_path


def snapshot():
    result = runner.invoke(
        app,
        [
            "sql",
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM rejects), "
            "(SELECT count(*) FROM runs)",
            "--csv",
        ],
    )
    return result.output.splitlines()[1]


def refused(workdir, name, expected, *, stream="s2"):
    before = snapshot()
    result = runner.invoke(app, ["discover", name, "--stream", stream])
    assert result.exit_code == 3, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert name in lines[0] and expected in lines[0]
    assert "Traceback" not in result.output
    assert snapshot() == before
    return lines[0]


def test_empty_file(workdir):
    write(workdir / "empty.csv", "")
    refused(workdir, "empty.csv", "empty")


def test_binary_file(workdir):
    (workdir / "data.csv").write_bytes(bytes(range(256)) * 64)
    refused(workdir, "data.csv", "binary")


def test_truncated_xes_gz(workdir):
    body = GOOD_XES.encode() * 1
    whole = gzip.compress(body * 200)
    (workdir / "cut.xes.gz").write_bytes(whole[: len(whole) // 2])
    refused(workdir, "cut.xes.gz", "truncated")


GOOD_XES = (
    '<?xml version="1.0" encoding="UTF-8"?><log xes.version="1.0">'
    + "".join(
        f'<trace><string key="concept:name" value="c{i}"/><event><string key="concept:name" value="A"/>'
        f'<date key="time:timestamp" value="2026-01-01T00:00:00Z"/></event></trace>'
        for i in range(50)
    )
    + "</log>"
)


# Run first in the CLI's process (run_vsm_process): as it exits, it reports its own peak
# resident memory (KiB).
# (RUSAGE_CHILDREN in the test would be the largest of all children so far, Chromium's too.)
# The peak is VmHWM, the high-water mark of this process's own memory. Not ru_maxrss: Linux
# keeps it across exec, so the child would report the parent's size at fork time (pytest
# holds 800 MB after the real XES logs, and the test then failed when run after them).
PEAK_MEMORY_REPORT = (
    "import atexit, sys\n"
    "def peak():\n"
    "    hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
    "    sys.stderr.write('PEAK_KIB %d\\n' % int(hwm.split()[1]))\n"
    "atexit.register(peak)\n"
)


def test_xml_entity_bomb_is_refused_fast_with_flat_memory(tmp_path):
    """Run as a user would, in a separate process, and read its own peak memory."""
    write(tmp_path / "bomb.xes", BILLION_LAUGHS)
    proc = run_vsm_process(
        "discover", "bomb.xes", "--stream", "b", cwd=tmp_path, before=PEAK_MEMORY_REPORT, timeout=120
    )
    assert proc.returncode == 3, proc.stderr
    assert "entit" in proc.stderr.lower() and "Traceback" not in proc.stderr
    peak_kib = int(proc.stderr.rsplit("PEAK_KIB ", 1)[1])
    # an expanded bomb needs gigabytes; refusing it costs no more than starting up
    assert peak_kib < 600 * 1024


def test_missing_columns_list_the_columns_found(workdir):
    write(workdir / "cols.csv", "ticket,status,owner\nT1,New,ann\n")
    line = refused(workdir, "cols.csv", "no timestamp column found")
    assert "columns found: ticket, status, owner" in line


def test_some_bad_timestamps_load_the_good_rows_and_keep_the_bad(workdir):
    write(workdir / "mixed.csv", GOOD + "c2,A,yesterday\nc2,B,2026-01-02T09:00:00Z\n")
    result = runner.invoke(app, ["discover", "mixed.csv", "--stream", "m"])
    assert result.exit_code == 0, result.output
    assert "rejected 1" in result.output and "(first at line 4)" in result.output
    rows = runner.invoke(
        app, ["sql", "SELECT line, column_name, value, reason FROM rejects WHERE stream = 'm'", "--csv"]
    ).output.splitlines()
    assert rows[1].startswith("4,timestamp,yesterday,unparseable timestamp: expected ISO 8601")
    run = runner.invoke(
        app,
        [
            "sql",
            "SELECT events_read, events_loaded, events_rejected, status FROM runs WHERE stream = 'm'",
            "--csv",
        ],
    ).output.splitlines()
    assert run[1] == "4,3,1,ok_with_rejects"


def test_quoted_newline_and_stray_delimiter(workdir):
    text = (
        "case_id,activity,timestamp,note\n"
        'c1,A,2026-01-01T10:00:00Z,"two\nlines"\n'
        "c1,B,2026-01-01T11:00:00Z,one, too many\n"
        "c1,C,2026-01-01T12:00:00Z,fine\n"
    )
    write(workdir / "messy.csv", text)
    result = runner.invoke(app, ["discover", "messy.csv", "--stream", "messy"])
    assert result.exit_code == 0, result.output
    events = runner.invoke(
        app,
        [
            "sql",
            "SELECT activity, source_line, attributes->>'note' AS note FROM events "
            "WHERE stream = 'messy' ORDER BY source_line",
            "--json",
        ],
    ).output
    import json

    assert json.loads(events) == [
        {"activity": "A", "source_line": 2, "note": "two\nlines"},
        {"activity": "C", "source_line": 5, "note": "fine"},
    ]
    rejects = runner.invoke(app, ["sql", "SELECT line, reason FROM rejects WHERE stream = 'messy'", "--csv"])
    assert rejects.output.splitlines()[1] == '4,"expected 4 fields (as in the header), found 5"'
