"""The store: migrations from sql/migrations applied once and recorded."""

from __future__ import annotations

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


def test_events_table_has_the_spec_columns(store):
    cols = {r[0]: r[1] for r in store.execute("DESCRIBE events").fetchall()}
    for name in ("stream", "case_id", "activity", "ts", "lifecycle", "resource", "team"):
        assert name in cols
    assert cols["ts"] == "TIMESTAMP WITH TIME ZONE"
