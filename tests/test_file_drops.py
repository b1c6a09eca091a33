"""File drops (issue 18): a `[source] path` that is a glob loads, each run, the matched files
that are new or changed since the last run, in name order, each in its own transaction with
its `source_files` row; unchanged and repeated files are skipped, saying why. Logs written
here, expected values worked out by hand in the comments."""

from __future__ import annotations

import hashlib
import shutil

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import ColumnError, FileDropError, SettingsError, SourceError
from pipeline.ingest import ingest
from pipeline.settings import settings_from_dict
from pipeline.streams import plan_ingest
from tests.conftest import write

HEADER = "case,activity,timestamp,resource\n"
# file 1: case c1, three events; file 2: case c2, two events
ONE = HEADER + (
    "c1,A,2026-03-02T09:00:00Z,ann\nc1,B,2026-03-02T10:00:00Z,bob\nc1,C,2026-03-02T12:00:00Z,cat\n"
)
TWO = HEADER + "c2,A,2026-03-03T09:00:00Z,ann\nc2,B,2026-03-03T11:00:00Z,bob\n"
THREE = HEADER + "c3,A,2026-03-04T09:00:00Z,ann\n"


def drops(tmp_path, *files: tuple[str, str]):
    """A project folder: exports/<name> for each (name, text), and settings whose path is the
    glob exports/claims-*.csv, relative to the project folder (as a written settings file)."""
    (tmp_path / "exports").mkdir(exist_ok=True)
    for name, text in files:
        write(tmp_path / "exports" / name, text)
    s = settings_from_dict({"stream": {"name": "t"}, "source": {"path": "exports/claims-*.csv"}})
    s.path = tmp_path / "streams" / "t.toml"  # relative paths are read from tmp_path
    return s


def recorded(store):
    return store.execute(
        "SELECT regexp_extract(name, '[^/]+$'), size, content_hash, run_id FROM source_files "
        "WHERE stream = 't' ORDER BY run_id, name"
    ).fetchall()


def events(store):
    return store.execute(
        "SELECT count(*), count(DISTINCT case_id) FROM events WHERE stream = 't'"
    ).fetchall()[0]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_glob_loads_its_two_files_in_name_order_each_in_its_own_run(store, tmp_path):
    # written out of order: claims-2 first; loaded by name, claims-1 first
    s = drops(tmp_path, ("claims-2.csv", TWO), ("claims-1.csv", ONE), ("other.csv", THREE))
    result = ingest(store, s)
    # 3 + 2 events read and loaded; other.csv does not match the glob
    assert (result.events_read, result.events_loaded, result.events_known) == (5, 5, 0)
    assert events(store) == (5, 2)
    rows = recorded(store)
    assert [(n, size, h) for n, size, h, _ in rows] == [
        ("claims-1.csv", len(ONE), sha(ONE)),
        ("claims-2.csv", len(TWO), sha(TWO)),
    ]
    # one ingest run per file; its source_files row carries that run's id; the result names the last
    runs = store.execute(
        "SELECT run_id, events_loaded, regexp_extract(source, '[^/]+$') FROM runs WHERE kind = 'ingest' "
        "ORDER BY run_id"
    ).fetchall()
    assert [(loaded, src) for _, loaded, src in runs] == [(3, "claims-1.csv"), (2, "claims-2.csv")]
    assert [r for *_, r in rows] == [run_id for run_id, *_ in runs]
    assert result.run_id == runs[-1][0]
    assert [line.split(" (")[0].rsplit("/", 1)[1] for line in result.files] == [
        "claims-1.csv",
        "claims-2.csv",
    ]
    assert all(line.startswith("load ") and line.endswith(": new") for line in result.files)


def test_a_third_file_dropped_later_is_the_only_one_loaded(store, tmp_path):
    s = drops(tmp_path, ("claims-1.csv", ONE), ("claims-2.csv", TWO))
    first = ingest(store, s)
    write(tmp_path / "exports" / "claims-3.csv", THREE)
    second = ingest(store, s)
    # only claims-3's one event is read; 1 + 2 files skipped as unchanged
    assert (second.events_read, second.events_loaded, second.events_known) == (1, 1, 0)
    assert events(store) == (6, 3)
    skipped = [line for line in second.files if line.startswith("skip ")]
    assert len(skipped) == 2
    # the first run stored claims-1 in run first.run_id - 1 and claims-2 in first.run_id
    assert f"unchanged since run {first.run_id - 1}" in skipped[0]
    assert f"unchanged since run {first.run_id}" in skipped[1]
    # 32 bytes of header + 31 of the one row
    assert second.files[2].startswith("load ") and second.files[2].endswith("claims-3.csv (63 bytes): new")
    assert [n for n, *_ in recorded(store)] == ["claims-1.csv", "claims-2.csv", "claims-3.csv"]
    # a third run: nothing new; a runs row says all three were skipped, no event is read
    third = ingest(store, s)
    assert (third.events_read, third.events_loaded) == (0, 0)
    assert "no file new or changed (3 matched, all skipped)" in third.mapping
    message = store.execute("SELECT message FROM runs WHERE run_id = $r", {"r": third.run_id}).fetchall()
    assert message == [
        ("connector file drop; no file new or changed (3 matched, all skipped); timestamps read as nothing",)
    ]
    assert len(recorded(store)) == 3


def test_a_changed_file_is_loaded_again_and_its_unchanged_rows_are_not_stored_twice(store, tmp_path):
    s = drops(tmp_path, ("claims-1.csv", ONE), ("claims-2.csv", TWO))
    first = ingest(store, s)
    # claims-1 re-exported: B's resource corrected (bob -> bea) and a fourth event D added
    changed = ONE.replace("B,2026-03-02T10:00:00Z,bob", "B,2026-03-02T10:00:00Z,bea") + (
        "c1,D,2026-03-02T13:00:00Z,dan\n"
    )
    write(tmp_path / "exports" / "claims-1.csv", changed)
    second = ingest(store, s)
    # 4 read: A and C known (2), B replaced by its newer version (same case, activity,
    # timestamp, lifecycle: the default event key), D new: loaded 1, replaced 1
    assert (second.events_read, second.events_known, second.events_loaded, second.events_replaced) == (
        4,
        2,
        1,
        1,
    )
    assert events(store) == (6, 2)  # 5 + D
    assert store.execute(
        "SELECT resource FROM events WHERE activity = 'B' AND case_id = 'c1'"
    ).fetchall() == [("bea",)]
    assert second.files[0].endswith(f"changed since run {first.run_id - 1}")
    assert "unchanged since run" in second.files[1]
    # the name now has two rows: the first content's and the new one's
    assert [(n, h) for n, _, h, _ in recorded(store)] == [
        ("claims-1.csv", sha(ONE)),
        ("claims-2.csv", sha(TWO)),
        ("claims-1.csv", sha(changed)),
    ]
    # and the new content is what counts now: a further run skips it as unchanged
    third = ingest(store, s)
    assert third.events_read == 0 and all(line.startswith("skip ") for line in third.files)


def test_a_repeated_file_under_another_name_is_recognised_by_its_hash_and_skipped(store, tmp_path):
    s = drops(tmp_path, ("claims-1.csv", ONE), ("claims-2.csv", TWO))
    first = ingest(store, s)
    shutil.copy(tmp_path / "exports" / "claims-2.csv", tmp_path / "exports" / "claims-2-copy.csv")
    write(tmp_path / "exports" / "claims-3.csv", THREE)
    second = ingest(store, s)
    # claims-2-copy sorts between claims-2 and claims-3: skipped as a repeat; claims-3 loads
    assert (second.events_read, second.events_loaded) == (1, 1)
    copy = [line for line in second.files if "claims-2-copy.csv" in line][0]
    assert copy.startswith("skip ")
    assert (
        f"a repeat: same content as {tmp_path / 'exports' / 'claims-2.csv'}, loaded in run {first.run_id}"
        in copy
    )
    assert "claims-2-copy.csv" not in [n for n, *_ in recorded(store)]
    assert events(store) == (6, 3)


def test_two_new_files_with_the_same_content_in_one_run_load_once(store, tmp_path):
    s = drops(tmp_path, ("claims-1.csv", ONE), ("claims-1b.csv", ONE))
    result = ingest(store, s)
    assert (result.events_read, result.events_loaded) == (3, 3)
    assert "a repeat: same content as" in result.files[1] and "loaded in this run" in result.files[1]


def test_a_glob_that_matches_nothing_is_a_one_line_error_naming_it(store, tmp_path):
    s = drops(tmp_path, ("other.csv", ONE))
    with pytest.raises(SourceError) as error:
        ingest(store, s)
    assert (
        str(error.value)
        == f"{tmp_path / 'exports' / 'claims-*.csv'}: the [source] path pattern matches no file"
    )
    assert error.value.exit_code == 3
    assert store.execute("SELECT count(*) FROM runs").fetchall()[0][0] == 0


def test_a_bad_file_among_good_ones_keeps_those_before_it_and_names_it(store, tmp_path):
    # claims-2 has no timestamp column: it cannot load; claims-3 comes after it
    bad = "case,activity,when\nc2,A,yesterday\n"
    s = drops(tmp_path, ("claims-1.csv", ONE), ("claims-2.csv", bad), ("claims-3.csv", THREE))
    with pytest.raises(FileDropError) as error:
        ingest(store, s)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / "exports" / "claims-2.csv"))  # the cause names the file
    assert isinstance(error.value.__cause__, ColumnError)
    assert error.value.exit_code == ColumnError.exit_code == 3
    assert "[file 2 of 3 to load from" in message
    assert f"loaded before it: {tmp_path / 'exports' / 'claims-1.csv'} (run " in message
    assert "1 later file not tried: the next run starts again at this file]" in message
    # claims-1's load is kept, with its source_files row; nothing of claims-2 or -3
    assert events(store) == (3, 1)
    assert [n for n, *_ in recorded(store)] == ["claims-1.csv"]
    # fixed, the next run loads claims-2 and claims-3 and skips claims-1
    write(tmp_path / "exports" / "claims-2.csv", TWO)
    again = ingest(store, s)
    assert (again.events_read, again.events_loaded) == (3, 3)
    assert again.files[0].startswith("skip ")
    assert events(store) == (6, 3)


def test_a_pattern_the_glob_cannot_read_is_refused_in_the_settings():
    with pytest.raises(SettingsError, match=r"'\*\*' must be a whole folder name"):
        settings_from_dict({"stream": {"name": "t"}, "source": {"path": "exports/claims-**.csv"}})
    # a whole ** is fine
    settings_from_dict({"stream": {"name": "t"}, "source": {"path": "exports/**/claims-*.csv"}})


def test_dry_run_lists_the_files_it_would_load_and_skip_and_writes_nothing(store, tmp_path):
    s = drops(tmp_path, ("claims-1.csv", ONE))
    ingest(store, s)
    write(tmp_path / "exports" / "claims-2.csv", TWO)
    store.close()
    lines = plan_ingest(tmp_path / "vsm.duckdb", s)
    assert "2 matched, 1 to load, 1 to skip" in lines[0]
    assert lines[1].startswith(f"skip {tmp_path / 'exports' / 'claims-1.csv'} ({len(ONE)} bytes): unchanged")
    assert lines[2] == f"load {tmp_path / 'exports' / 'claims-2.csv'} ({len(TWO)} bytes): new"
    assert lines[-1] == "nothing read or written (--dry-run)"
    # no store yet: every file is new
    assert [line.split(" ")[0] for line in plan_ingest(tmp_path / "none.duckdb", s)[1:-1]] == ["load", "load"]
    assert not (tmp_path / "none.duckdb").exists()


def test_the_cli_ingests_a_glob_and_prints_each_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exports").mkdir()
    write(tmp_path / "exports" / "claims-1.csv", ONE)
    (tmp_path / "streams").mkdir()
    write(
        tmp_path / "streams" / "t.toml",
        '[stream]\nname = "t"\n[source]\npath = "exports/claims-*.csv"\n',
    )
    runner = CliRunner()
    done = runner.invoke(app, ["ingest", "t", "--no-compute"])
    assert done.exit_code == 0, done.output
    assert f"  file: load {tmp_path / 'exports' / 'claims-1.csv'} ({len(ONE)} bytes): new" in done.output
    dry = runner.invoke(app, ["ingest", "t", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "unchanged since run" in dry.output
    (tmp_path / "exports" / "claims-1.csv").unlink()
    none = runner.invoke(app, ["ingest", "t", "--no-compute"])
    assert none.exit_code == 3
    assert none.output.strip().splitlines() == [
        f"Error: {tmp_path / 'exports' / 'claims-*.csv'}: the [source] path pattern matches no file"
    ]


def test_init_with_a_glob_detects_from_the_first_file_and_writes_the_glob(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exports").mkdir()
    write(tmp_path / "exports" / "claims-1.csv", ONE)
    write(tmp_path / "exports" / "claims-2.csv", TWO)
    runner = CliRunner()
    done = runner.invoke(app, ["init", "t", "--source", "exports/claims-*.csv"])
    assert done.exit_code == 0, done.output
    assert f"columns detected from its first file, {tmp_path / 'exports' / 'claims-1.csv'}" in done.output
    assert 'path = "exports/claims-*.csv"' in (tmp_path / "streams" / "t.toml").read_text()
    loaded = runner.invoke(app, ["ingest", "t", "--no-compute"])
    assert loaded.exit_code == 0, loaded.output
    # 3 + 2 events, both files new
    assert "events read 5; new 5" in loaded.output
    assert loaded.output.count("  file: load ") == 2
    nothing = runner.invoke(app, ["init", "u", "--source", "exports/none-*.csv"])
    assert nothing.exit_code == 3
    assert nothing.output.strip() == "Error: exports/none-*.csv: the [source] path pattern matches no file"


def test_a_file_and_its_source_files_row_are_stored_together_or_not_at_all(store, tmp_path, monkeypatch):
    import pipeline.ingest as ingest_module

    s = drops(tmp_path, ("claims-1.csv", ONE), ("claims-2.csv", TWO))
    record = ingest_module.record_file
    calls = []

    def fail_on_the_second(con, stream, run_id, drop):  # after claims-2's events are inserted
        calls.append(drop.name)
        if len(calls) == 2:
            raise SourceError(drop.name, "disk full (simulated)")
        record(con, stream, run_id, drop)

    monkeypatch.setattr(ingest_module, "record_file", fail_on_the_second)
    with pytest.raises(FileDropError, match="disk full"):
        ingest(store, s)
    # claims-1: events and row; claims-2: its events rolled back with its row
    assert events(store) == (3, 1)
    assert [n for n, *_ in recorded(store)] == ["claims-1.csv"]
    assert store.execute("SELECT count(*) FROM runs").fetchall()[0][0] == 1
    monkeypatch.setattr(ingest_module, "record_file", record)
    again = ingest(store, s)
    assert (again.events_read, again.events_loaded) == (2, 2)
    assert [n for n, *_ in recorded(store)] == ["claims-1.csv", "claims-2.csv"]


def test_a_rejected_row_names_its_file(store, tmp_path):
    # claims-2's second row has '?' for a case id: rejected, not loaded; line 3 of claims-2
    s = drops(tmp_path, ("claims-1.csv", ONE), ("claims-2.csv", TWO.replace("c2,B", "?,B")))
    result = ingest(store, s)
    assert (result.events_loaded, result.events_rejected) == (4, 1)
    assert [(reason.endswith("(in claims-2.csv)"), n, line) for reason, n, line in result.reject_reasons] == [
        (True, 1, 3)
    ]


def test_an_unchanged_file_is_not_read_again_and_a_touched_one_is_judged_by_content(
    store, tmp_path, monkeypatch
):
    import os

    import pipeline.drops as drops_module

    s = drops(tmp_path, ("claims-1.csv", ONE), ("claims-2.csv", TWO))
    first = ingest(store, s)
    hashed = []
    real_hash = drops_module.content_hash
    monkeypatch.setattr(
        drops_module, "content_hash", lambda path: hashed.append(path.name) or real_hash(path)
    )
    # claims-2 touched: a new modified time, the same bytes
    stat = (tmp_path / "exports" / "claims-2.csv").stat()
    os.utime(tmp_path / "exports" / "claims-2.csv", ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    second = ingest(store, s)
    # claims-1: same size and modified time, not read; claims-2: read, hashed, same content
    assert hashed == ["claims-2.csv"]
    assert second.files[0].endswith(f"unchanged since run {first.run_id - 1} (same size and modified time)")
    assert second.files[1].endswith(f"unchanged since run {first.run_id} (same content)")
    assert second.events_read == 0
