"""Events of a case at the same instant are ordered by the log's sequence column where it has
one, else by file order, and the finding says how many were ordered how (issue 14, item 13)."""

from __future__ import annotations

import pytest

from pipeline.errors import SettingsError
from pipeline.flow import compute_flow
from pipeline.ingest import ingest
from pipeline.settings import Source, StreamSettings, settings_from_dict
from tests.conftest import write

# Point log, minute precision. c1's B and A share 09:00; the file lists B first, but
# sys_mod_count says A (1) came before B (2): the steps are A, B, C. c2's X and Y share 10:00
# with the same sys_mod_count (5): the sequence cannot tell, the file's order (X, Y) does.
# Ties: c1 2 events by the sequence, c2 2 by file order.
LOG = """case,activity,time,sys_mod_count
c1,B,2026-03-02 09:00,2
c1,A,2026-03-02 09:00,1
c1,C,2026-03-02 10:00,3
c2,X,2026-03-02 10:00,5
c2,Y,2026-03-02 10:00,5
c2,C,2026-03-02 11:00,6
"""


def run(store, tmp_path, text: str, **kw) -> StreamSettings:
    settings = StreamSettings(
        name="t",
        source=Source(path=str(write(tmp_path / "log.csv", text))),
        log_shape="point",
        end_activities=["C"],
        **kw,
    )
    ingest(store, settings)
    compute_flow(store, settings)
    return settings


def steps(store, case: str) -> list[str]:
    return [
        r[0]
        for r in store.execute("SELECT step FROM visits WHERE case_id = ? ORDER BY seq", [case]).fetchall()
    ]


def ties(store) -> tuple:
    return store.execute(
        "SELECT severity, count, detail FROM quality_findings WHERE rule = 'same_time_ties'"
    ).fetchall()[0]


def test_the_sequence_column_orders_ties_and_is_stored(store, tmp_path):
    settings = run(store, tmp_path, LOG)
    assert settings.columns.sequence == ""  # detected at the load, not named
    stored = store.execute("SELECT activity, sequence FROM events ORDER BY source_line").fetchall()
    assert stored == [("B", 2), ("A", 1), ("C", 3), ("X", 5), ("Y", 5), ("C", 6)]
    assert steps(store, "c1") == ["A", "B", "C"]
    assert steps(store, "c2") == ["X", "Y", "C"]
    severity, count, detail = ties(store)
    assert (severity, count) == ("warning", 4)  # c2's tie rests on the file's order
    assert "2 events by the sequence column" in detail and "2 by file order" in detail


def test_named_sequence_column_is_in_the_finding(store, tmp_path):
    text = LOG.replace("sys_mod_count", "upd")  # a name detection does not know
    settings = StreamSettings(name="x")
    settings = run(store, tmp_path, text, columns=settings.columns.__class__(sequence="upd"))
    assert steps(store, "c1") == ["A", "B", "C"]
    assert "2 events by the sequence column 'upd', 2 by file order" in ties(store)[2]


def test_all_ties_ordered_by_the_sequence_are_info(store, tmp_path):
    text = LOG.replace("c2,Y,2026-03-02 10:00,5", "c2,Y,2026-03-02 10:00,4")  # Y (4) before X (5)
    run(store, tmp_path, text)
    assert steps(store, "c2") == ["Y", "X", "C"]
    assert ties(store)[:2] == ("info", 4)


def test_without_a_sequence_ties_keep_the_file_order(store, tmp_path):
    text = "\n".join(line.rsplit(",", 1)[0] for line in LOG.splitlines()) + "\n"
    run(store, tmp_path, text)
    assert steps(store, "c1") == ["B", "A", "C"]
    severity, count, detail = ties(store)
    assert (severity, count) == ("warning", 4)
    assert "0 events by the sequence column (none: [columns] sequence names one), 4 by file order" in detail


def test_a_sequence_that_is_no_whole_number_is_a_reject(store, tmp_path):
    text = (
        "case,activity,time,seq\nc1,A,2026-03-02 09:00,1\nc1,B,2026-03-02 09:00,x2\nc1,C,2026-03-02 09:00,3\n"
    )
    path = write(tmp_path / "log.csv", text)
    from pipeline.settings import Columns

    settings = StreamSettings(name="t", source=Source(path=str(path)), columns=Columns(sequence="seq"))
    result = ingest(store, settings)
    assert (result.events_loaded, result.events_rejected) == (2, 1)
    assert store.execute("SELECT line, column_name, value, reason FROM rejects").fetchall() == [
        (3, "seq", "x2", "unparseable sequence: expected a whole number")
    ]


def test_sequence_setting_is_a_column_role():
    base = {"stream": {"name": "t"}, "source": {"path": "x.csv"}}
    assert (
        settings_from_dict(base | {"columns": {"sequence": "sys_mod_count"}}).columns.sequence
        == "sys_mod_count"
    )
    with pytest.raises(SettingsError, match="sequence = 3: expected a str"):
        settings_from_dict(base | {"columns": {"sequence": 3}})


def test_rows_that_differ_only_in_their_sequence_are_no_duplicates(store, tmp_path):
    # c1's two A rows at 09:00 are updates 1 and 2 (another field changed): not copies. Without
    # the sequence they are one duplicate.
    text = (
        "case,activity,time,sys_mod_count\n"
        "c1,A,2026-03-02 09:00,1\nc1,A,2026-03-02 09:00,2\nc1,C,2026-03-02 10:00,3\n"
    )
    run(store, tmp_path, text)
    assert store.execute(
        "SELECT count(*) FROM quality_findings WHERE rule = 'duplicate_events'"
    ).fetchall() == [(0,)]
    store.execute("DELETE FROM events; DELETE FROM quality_findings")
    run(store, tmp_path, "\n".join(line.rsplit(",", 1)[0] for line in text.splitlines()) + "\n")
    assert store.execute("SELECT count FROM quality_findings WHERE rule = 'duplicate_events'").fetchall() == [
        (1,)
    ]
