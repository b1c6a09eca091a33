"""Edited rows (issue 15, item 8): a newer export's version of a keyed event ([columns]
event_key; default case, activity, timestamp, lifecycle) replaces the stored one in the
load's transaction; the run reports how many it replaced. Logs drawn here, worked by hand."""

from __future__ import annotations

import json

import pytest

from pipeline.errors import SettingsError
from pipeline.flow import compute_flow
from pipeline.ingest import ingest
from pipeline.settings import settings_from_dict
from tests.conftest import write

# v1: three events of case c1. v2 corrects B: resource bob -> bea, and its attribute
# amount 20 -> 25; A and C are as they were.
V1 = """case,activity,timestamp,resource,amount
c1,A,2026-03-02T09:00:00Z,ann,10
c1,B,2026-03-02T10:00:00Z,bob,20
c1,C,2026-03-02T12:00:00Z,cat,30
"""
V2 = V1.replace("bob,20", "bea,25")


def settings(tmp_path, log: str, name: str = "t", **columns):
    path = write(tmp_path / f"{name}-{abs(hash(log))}.csv", log)
    data = {"stream": {"name": name}, "source": {"path": str(path)}}
    if columns:
        data["columns"] = columns
    return settings_from_dict(data)


def stored(store, name: str = "t"):
    return store.execute(
        "SELECT case_id, activity, resource, attributes FROM events WHERE stream = $s ORDER BY ts, resource",
        {"s": name},
    ).fetchall()


def finding(store, rule: str, name: str = "t"):
    rows = store.execute(
        "SELECT count FROM quality_findings WHERE stream = $s AND rule = $r", {"s": name, "r": rule}
    ).fetchall()
    return rows[0][0] if rows else 0


def test_a_corrected_row_replaces_the_stored_version(store, tmp_path):
    first = ingest(store, settings(tmp_path, V1))
    assert (first.events_loaded, first.events_replaced) == (3, 0)
    second = ingest(store, settings(tmp_path, V2))
    # A and C known; B's newer version replaces the stored one: 0 new, 1 replaced, 2 known
    assert (second.events_loaded, second.events_replaced, second.events_known) == (0, 1, 2)
    rows = stored(store)
    assert [(c, a, r) for c, a, r, _ in rows] == [("c1", "A", "ann"), ("c1", "B", "bea"), ("c1", "C", "cat")]
    assert json.loads(rows[1][3]) == {"amount": "25"}
    run = store.execute(
        "SELECT events_loaded, events_replaced, events_known, message FROM runs WHERE run_id = $r",
        {"r": second.run_id},
    ).fetchall()[0]
    assert run[:3] == (0, 1, 2)
    note = "1 stored events replaced by a newer version (same case_id, activity, timestamp, lifecycle)"
    assert note in run[3]
    compute_flow(store, settings(tmp_path, V2))
    assert finding(store, "duplicate_events") == 0
    # the same export again: nothing new, nothing replaced
    again = ingest(store, settings(tmp_path, V2))
    assert (again.events_loaded, again.events_replaced, again.events_known) == (0, 0, 3)


def test_before_event_keys_the_corrected_row_was_a_second_event(store, tmp_path):
    # event_key = [] (no key) keeps today's content identity: B's two versions both stay
    ingest(store, settings(tmp_path, V1, event_key=[]))
    second = ingest(store, settings(tmp_path, V2, event_key=[]))
    assert (second.events_loaded, second.events_replaced) == (1, 0)
    assert len(stored(store)) == 4


def test_an_attribute_only_correction_replaces_the_attributes(store, tmp_path):
    # same content (case, activity, time, resource), only amount 30 -> 31: same event_id,
    # newer attributes
    ingest(store, settings(tmp_path, V1))
    second = ingest(store, settings(tmp_path, V1.replace("cat,30", "cat,31")))
    assert (second.events_loaded, second.events_replaced, second.events_known) == (0, 1, 2)
    assert json.loads(stored(store)[2][3]) == {"amount": "31"}


def test_a_custom_key_acts(store, tmp_path):
    # lifecycle corrected start -> complete on B. Default key (with lifecycle): another event,
    # so 1 new and 4 stored. Key without lifecycle: the same event, replaced: 3 stored.
    log = """case,activity,timestamp,lifecycle
c1,A,2026-03-02T09:00:00Z,complete
c1,B,2026-03-02T10:00:00Z,start
c1,C,2026-03-02T12:00:00Z,complete
"""
    fixed = log.replace("10:00:00Z,start", "10:00:00Z,complete")
    ingest(store, settings(tmp_path, log, name="d"))
    by_default = ingest(store, settings(tmp_path, fixed, name="d"))
    assert (by_default.events_loaded, by_default.events_replaced) == (1, 0)
    key = ["case_id", "activity", "timestamp"]
    ingest(store, settings(tmp_path, log, name="k", event_key=key))
    by_key = ingest(store, settings(tmp_path, fixed, name="k", event_key=key))
    assert (by_key.events_loaded, by_key.events_replaced) == (0, 1)
    lifecycles = "SELECT activity, lifecycle FROM events WHERE stream = $s ORDER BY ts, lifecycle"
    assert store.execute(lifecycles, {"s": "k"}).fetchall() == [
        ("A", "complete"),
        ("B", "complete"),
        ("C", "complete"),
    ]
    assert len(store.execute(lifecycles, {"s": "d"}).fetchall()) == 4


def test_same_key_rows_of_one_export_are_kept_and_matched_in_order(store, tmp_path):
    # two people on B at the same instant: both kept. The next export corrects the second
    # (bob -> bea) and lists the rows the other way round: ann's row is matched by its id,
    # so bob's (the only stored B not in the export as is) is the one replaced.
    log = """case,activity,timestamp,resource
c1,A,2026-03-02T09:00:00Z,ann
c1,B,2026-03-02T10:00:00Z,ann
c1,B,2026-03-02T10:00:00Z,bob
"""
    fixed = """case,activity,timestamp,resource
c1,A,2026-03-02T09:00:00Z,ann
c1,B,2026-03-02T10:00:00Z,bea
c1,B,2026-03-02T10:00:00Z,ann
"""
    assert ingest(store, settings(tmp_path, log)).events_loaded == 3
    second = ingest(store, settings(tmp_path, fixed))
    assert (second.events_loaded, second.events_replaced, second.events_known) == (0, 1, 2)
    assert [r for _, _, r, _ in stored(store)] == ["ann", "ann", "bea"]
    # a third person added at that instant later: a new event, nothing replaced
    third = ingest(store, settings(tmp_path, fixed + "c1,B,2026-03-02T10:00:00Z,cat\n"))
    assert (third.events_loaded, third.events_replaced) == (1, 0)


def test_a_true_duplicate_is_still_reported(store, tmp_path):
    # B twice, identical, in one export: both kept, duplicate_events counts 1 copy; a re-load
    # neither adds nor replaces
    log = V1 + "c1,B,2026-03-02T10:00:00Z,bob,20\n"
    first = ingest(store, settings(tmp_path, log))
    assert (first.events_loaded, first.events_replaced) == (4, 0)
    again = ingest(store, settings(tmp_path, log))
    assert (again.events_loaded, again.events_replaced, again.events_known) == (0, 0, 4)
    compute_flow(store, settings(tmp_path, log))
    assert finding(store, "duplicate_events") == 1


def test_a_corrected_reject_simply_loads(store, tmp_path):
    # B's timestamp was unreadable in v1 (a reject); v2 has it right: B loads as a new event
    broken = V1.replace("2026-03-02T10:00:00Z", "not a time")
    first = ingest(store, settings(tmp_path, broken))
    assert (first.events_loaded, first.events_rejected) == (2, 1)
    second = ingest(store, settings(tmp_path, V1))
    assert (second.events_loaded, second.events_replaced, second.events_known) == (1, 0, 2)
    assert [a for _, a, _, _ in stored(store)] == ["A", "B", "C"]


def test_a_failed_load_replaces_nothing(store, tmp_path, monkeypatch):
    # the replacement is in the load's transaction: a failure after it leaves v1 as it was
    from pipeline import ingest as ingest_module

    ingest(store, settings(tmp_path, V1))
    real = ingest_module.read_sql

    def failing(name):
        if name == "load/insert_rejects.sql":
            raise RuntimeError("boom")
        return real(name)

    monkeypatch.setattr(ingest_module, "read_sql", failing)
    with pytest.raises(RuntimeError):
        ingest(store, settings(tmp_path, V2))
    assert [r for _, _, r, _ in stored(store)] == ["ann", "bob", "cat"]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (["case_id", "step"], "'step' is not a role"),
        (["case_id", "case_id"], "expected each role once"),
        (["activity", "timestamp"], "expected the case_id among them"),
        ("case_id", "expected a list of strings"),
    ],
)
def test_a_wrong_event_key_is_refused(tmp_path, key, expected):
    with pytest.raises(SettingsError, match=expected):
        settings(tmp_path, V1, event_key=key)


def test_events_loaded_before_migration_008_are_matched_by_their_values(store, tmp_path):
    # events stored without a version_hash (as before migration 008): a re-load compares
    # them by attributes and sequence, finds all 3 unchanged, and fills their version_hash
    ingest(store, settings(tmp_path, V1))
    store.execute("UPDATE events SET version_hash = NULL")
    again = ingest(store, settings(tmp_path, V1))
    assert (again.events_loaded, again.events_replaced, again.events_known) == (0, 0, 3)
    assert store.execute("SELECT count(version_hash) FROM events").fetchall() == [(3,)]
    # and a correction of such an event still replaces it
    store.execute("UPDATE events SET version_hash = NULL")
    fixed = ingest(store, settings(tmp_path, V2))
    assert (fixed.events_loaded, fixed.events_replaced, fixed.events_known) == (0, 1, 2)
    assert [r for _, _, r, _ in stored(store)] == ["ann", "bea", "cat"]


def test_the_load_prints_how_many_it_replaced(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pipeline.cli import app

    monkeypatch.chdir(tmp_path)
    write(tmp_path / "v1.csv", V1)
    write(tmp_path / "v2.csv", V2)
    runner = CliRunner()
    first = runner.invoke(app, ["discover", "v1.csv", "--stream", "t", "--no-png"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["ingest", "t", "--source", "v2.csv", "--no-png"])
    assert second.exit_code == 0, second.output
    assert (
        "events read 3; new 0; already in the store 2; rejected 0; "
        "1 replaced by a newer version (same case_id, activity, timestamp, lifecycle)"
    ) in second.output
