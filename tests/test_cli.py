"""The CLI as a user meets it: help, one-line errors with exit codes, no tracebacks."""

from __future__ import annotations

import gc
import json
import signal
import sys

import duckdb
import pytest
from typer.testing import CliRunner

from pipeline.cli import app, main
from tests.conftest import PROJECT, run_vsm_process, write

runner = CliRunner()


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "sample_logs").symlink_to(PROJECT / "sample_logs")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def vsm(*args):
    return runner.invoke(app, list(args))


def test_help_lists_every_command():
    result = vsm("--help")
    assert result.exit_code == 0
    for command in ("init", "ingest", "discover", "sql", "streams"):
        assert command in result.output


def test_discover_sample_claims_then_query(workdir):
    result = vsm("discover", "sample_logs/claims.csv", "--stream", "claims")
    assert result.exit_code == 0, result.output
    assert "Wrote settings streams/claims.toml" in result.output
    assert "case_id <- 'case_id'" in result.output and "lifecycle <- 'lifecycle'" in result.output
    assert "events read 8,836; new 8,836" in result.output
    counts = vsm("sql", "SELECT count(*) AS n, count(DISTINCT case_id) AS cases FROM events", "--json")
    assert json.loads(counts.output) == [{"n": 8836, "cases": 720}]
    again = vsm("ingest", "claims")
    assert again.exit_code == 0, again.output
    assert "new 0; already in the store 8,836" in again.output


def test_the_command_as_a_process_leaves_everything_written(workdir):
    """`vsm` ends with the garbage collector's exit pass spared (pipeline/cli.py prepare_exit):
    run as its own process, what it wrote is all there once the process is gone."""
    done = run_vsm_process(
        "discover", "sample_logs/claims.csv", "--stream", "claims", "--no-png", cwd=workdir
    )
    assert done.returncode == 0, done.stdout + done.stderr
    con = duckdb.connect(str(workdir / "vsm.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM events").fetchall()[0][0] == 8836
        assert con.execute("SELECT count(*) FROM cases").fetchall()[0][0] == 720
    finally:
        con.close()
    assert (workdir / "reports" / "claims" / "index.html").read_text().rstrip().endswith("</html>")


def test_main_freezes_the_collector_on_its_way_out(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["vsm", "--help"])
    gc.unfreeze()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(SystemExit) as ended:
            main()
        assert ended.value.code == 0
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        for signum, handler in handlers.items():  # main() leaves its own for the process's end
            signal.signal(signum, handler)


def test_discover_sample_incidents_reads_day_first_times_in_the_stream_timezone(workdir):
    result = vsm(
        "discover", "sample_logs/incidents.csv", "--stream", "incidents", "--timezone", "Europe/Amsterdam"
    )
    assert result.exit_code == 0, result.output
    assert "day-first" in result.output
    assert "read as Europe/Amsterdam local time" in result.output
    first = vsm(
        "sql",
        "SELECT CAST(ts AS VARCHAR) AS ts FROM events WHERE case_id = 'INC0010001' ORDER BY ts LIMIT 1",
        "--csv",
    )
    # 01/04/2026 07:24:27 in Amsterdam (CEST, UTC+2) is 05:24:27 UTC
    assert first.output.splitlines()[1] == "2026-04-01 05:24:27+00"


def test_errors_are_one_line_with_exit_codes_and_no_traceback(workdir):
    write(workdir / "cols.csv", "ticket,when\nT1,soon\n")  # 'when' holds no time
    result = vsm("discover", "cols.csv", "--stream", "x")
    assert result.exit_code == 3
    assert result.output.strip().startswith(
        "Error: cols.csv: no activity / timestamp column found; columns found: ticket, when"
    )
    assert "Traceback" not in result.output
    missing = vsm("ingest", "nope")
    assert missing.exit_code == 2
    assert "no settings for stream 'nope'" in missing.output
    bad_sql = vsm("sql", "SELECT * FROM no_such_table")
    assert bad_sql.exit_code in (1, 4)
    assert "Error:" in bad_sql.output and "Traceback" not in bad_sql.output
    bad_tz = vsm("discover", "sample_logs/claims.csv", "--stream", "c", "--timezone", "Nowhere/Land")
    assert bad_tz.exit_code == 2 and "expected an IANA time zone" in bad_tz.output


def test_a_failed_load_writes_nothing(workdir):
    assert vsm("discover", "sample_logs/claims.csv", "--stream", "claims").exit_code == 0
    before = vsm("sql", "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM runs)", "--csv").output
    write(
        workdir / "broken.csv",
        "case_id,activity,lifecycle,timestamp,resource,team,claim_amount,channel\n"
        "c1,A,start,01/02/2026 10:00,ann,Intake,1.00,web\n",
    )
    result = vsm("ingest", "claims", "--source", "broken.csv")
    assert result.exit_code == 3 and "day/month order cannot be decided" in result.output
    after = vsm("sql", "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM runs)", "--csv").output
    assert after == before


def test_init_writes_settings_and_refuses_to_overwrite(workdir):
    result = vsm("init", "inc", "--source", "sample_logs/incidents.csv")
    assert result.exit_code == 0, result.output
    text = (workdir / "streams" / "inc.toml").read_text()
    assert 'case_id = "number"' in text and 'team = "assignment_group"' in text
    again = vsm("init", "inc", "--source", "sample_logs/incidents.csv")
    assert again.exit_code == 2 and "--force" in again.output


def test_streams_lists_what_is_loaded(workdir):
    vsm("discover", "sample_logs/claims.csv", "--stream", "claims")
    result = vsm("streams")
    assert result.exit_code == 0
    assert "claims" in result.output and "8836" in result.output
