"""The store: migrations from sql/migrations applied once and recorded."""

from __future__ import annotations

import os
import shutil

import duckdb
import pytest

import pipeline.store as store_module
from pipeline.errors import StoreError
from pipeline.store import migrations, open_store


def test_migrations_are_applied_once_and_recorded(tmp_path):
    db = tmp_path / "s.duckdb"
    con = open_store(db)
    versions = [v for v, _, _ in migrations()]
    assert con.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall() == [
        (v,) for v in versions
    ]
    con.close()
    con = open_store(db)  # reopening applies nothing twice
    assert con.execute("SELECT count(*) FROM schema_migrations").fetchall()[0] == (len(versions),)
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    assert {"events", "rejects", "runs"} <= tables
    con.close()


def test_an_older_store_takes_the_migrations_it_lacks_and_records_them(tmp_path, monkeypatch):
    # a store made when only 001-003 existed; then the folder has two more, 004 and 005
    folder = tmp_path / "migrations"
    folder.mkdir()
    for name in ("001_a.sql", "002_b.sql", "003_c.sql"):
        (folder / name).write_text(f"CREATE TABLE t{name[:3]} (x INTEGER);\n")
    monkeypatch.setattr(store_module, "MIGRATIONS_DIR", folder)
    db = tmp_path / "s.duckdb"
    open_store(db).close()
    (folder / "004_d.sql").write_text("INSERT INTO t001 VALUES (4);\n-- a comment after the last statement")
    (folder / "005_e.sql").write_text("ALTER TABLE t001 ADD COLUMN y INTEGER DEFAULT 5;")
    con = open_store(db)
    assert con.execute("SELECT version, name FROM schema_migrations ORDER BY 1").fetchall() == [
        (1, "a"),
        (2, "b"),
        (3, "c"),
        (4, "d"),
        (5, "e"),
    ]
    assert con.execute("SELECT x, y FROM t001").fetchall() == [(4, 5)]
    con.close()


def test_a_failing_migration_is_named_and_leaves_the_store_as_it_was(tmp_path, monkeypatch):
    folder = tmp_path / "migrations"
    shutil.copytree(store_module.MIGRATIONS_DIR, folder)
    broken = "CREATE TABLE fine (x INTEGER);\nALTER TABLE nowhere ADD COLUMN y INTEGER;\n"
    (folder / "090_broken.sql").write_text(broken)
    (folder / "091_later.sql").write_text("CREATE TABLE later (x INTEGER);\n")
    monkeypatch.setattr(store_module, "MIGRATIONS_DIR", folder)
    db = tmp_path / "s.duckdb"
    with pytest.raises(StoreError, match=r"migration 090_broken\.sql failed: .*nowhere"):
        open_store(db)
    con = duckdb.connect(str(db))
    assert con.execute("SHOW TABLES").fetchall() == []  # not even schema_migrations
    con.close()


def test_events_table_has_the_spec_columns(store):
    cols = {r[0]: r[1] for r in store.execute("DESCRIBE events").fetchall()}
    for name in ("stream", "case_id", "activity", "ts", "lifecycle", "resource", "team"):
        assert name in cols
    assert cols["ts"] == "TIMESTAMP WITH TIME ZONE"


def test_migration_004_keeps_the_identity_of_events_loaded_before_it(tmp_path):
    """A store made before event ids became numbers: its events, ids written the old way
    (md5 hex of the content + '.' + ordinal among identical rows), are recognised by a
    re-load after the migration, duplicates included, and a new row still loads."""
    import duckdb

    from pipeline.ingest import ingest
    from pipeline.settings import Source, StreamSettings
    from tests.conftest import write

    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMPTZ NOT NULL)"
    )
    for version, name, path in migrations():
        if version < 4:
            con.execute(path.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, name])
    old_id = (
        "md5(concat_ws(chr(31), case_id, activity, CAST(epoch_us(ts) AS VARCHAR), '', '', '', '')) "
        "|| '.' || ordinal"
    )
    con.execute(
        f"INSERT INTO events SELECT 't', {old_id}, case_id, activity, ts, NULL, NULL, NULL, NULL, NULL, "
        "'old.csv', line, 1 FROM (VALUES ('c1', 'A', TIMESTAMPTZ '2026-01-01 00:00:00+00', 1, 2), "
        "('c1', 'A', TIMESTAMPTZ '2026-01-01 00:00:00+00', 2, 3), "
        "('c1', 'B', TIMESTAMPTZ '2026-01-01 01:00:00+00', 1, 4)) AS v(case_id, activity, ts, ordinal, line)"
    )
    con.close()

    store = open_store(db)
    # migration 016: the ids are numbers 1, 2, 3 in load order; the copy of each row among
    # identical ones, which the md5 ids held, is kept (the second 'c1 A' is copy 2)
    assert store.execute(
        "SELECT typeof(event_id), event_id, activity, copy_no FROM events ORDER BY source_line"
    ).fetchall() == [("BIGINT", 1, "A", 1), ("BIGINT", 2, "A", 2), ("BIGINT", 3, "B", 1)]
    log = (
        "case,activity,time\n"
        "c1,A,2026-01-01T00:00:00Z\nc1,A,2026-01-01T00:00:00Z\nc1,B,2026-01-01T01:00:00Z\n"
    )
    settings = StreamSettings(name="t", source=Source(path=str(write(tmp_path / "same.csv", log))))
    again = ingest(store, settings)
    assert (again.events_loaded, again.events_known) == (0, 3)
    newer = write(tmp_path / "newer.csv", log + "c1,A,2026-01-01T00:00:00Z\n")  # a third identical row
    third = ingest(store, StreamSettings(name="t", source=Source(path=str(newer))))
    assert (third.events_loaded, third.events_known) == (1, 3)
    assert store.execute("SELECT count(DISTINCT event_id), count(*) FROM events").fetchall() == [(4, 4)]
    store.close()


def test_memory_limit_comes_from_the_environment_and_a_bad_one_is_refused(tmp_path, monkeypatch):
    import pytest

    from pipeline.errors import StoreError

    monkeypatch.setenv("VSM_MEMORY_LIMIT", "1GB")
    con = open_store(tmp_path / "a.duckdb")
    assert con.execute("SELECT current_setting('memory_limit')").fetchall() == [("953.6 MiB",)]
    # the memory DuckDB's blocks take is kept up to the same limit (pipeline/store.py)
    assert con.execute("SELECT current_setting('block_allocator_memory')").fetchall() == [("953.6 MiB",)]
    con.close()
    monkeypatch.setenv("VSM_MEMORY_LIMIT", "lots")
    with pytest.raises(StoreError, match="VSM_MEMORY_LIMIT='lots': expected a size such as 4GB"):
        open_store(tmp_path / "b.duckdb")
    monkeypatch.delenv("VSM_MEMORY_LIMIT")
    con = open_store(tmp_path / "c.duckdb")  # 30% of this machine's memory
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    shown = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    value, unit = shown.split()
    assert abs(float(value) * {"GiB": 2**30, "MiB": 2**20}[unit] - total * 0.3) < total * 0.01
    con.close()
