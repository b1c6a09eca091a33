"""Every real public log loads with `vsm discover`, with the counts its README gives."""

from __future__ import annotations

import pytest

from pipeline.flow import RESULTS
from pipeline.streams import discover

# file, cases, events (../shared/real_logs/README.md)
REAL_LOGS = [
    ("bpic2013_incidents.xes.gz", 7_554, 65_533),
    ("bpic2012.xes.gz", 13_087, 262_200),
    ("helpdesk.xes.gz", 4_580, 21_348),
    ("receipt.xes.gz", 1_434, 8_577),
    ("road_traffic_fines.xes.gz", 150_370, 561_470),
]


@pytest.mark.parametrize(("file", "cases", "events"), REAL_LOGS, ids=[r[0].split(".")[0] for r in REAL_LOGS])
def test_real_log_loads_with_its_published_counts(real_logs, store, tmp_path, file, cases, events):
    name = file.split(".")[0]
    result = discover(store, real_logs / file, name, streams_dir=tmp_path / "streams")
    assert result.load.events_rejected == 0
    assert result.load.events_loaded == events
    assert store.execute(
        "SELECT count(DISTINCT case_id), count(*) FROM events WHERE stream = ?", [name]
    ).fetchall()[0] == (cases, events)
    assert (tmp_path / "streams" / f"{name}.toml").exists()
    # `vsm discover` fills every result table (status tables only for status logs)
    shape = result.flow.log_shape
    for table in RESULTS:
        if table in ("status_classes", "status_periods") and shape != "status":
            continue
        steps = store.execute("SELECT count(*) FROM map_steps WHERE stream = ?", [name]).fetchall()[0][0]
        if table == "decision_points" and steps < 2:  # BPIC 2013 has one work step: nothing branches
            continue
        filled = store.execute(f"SELECT count(*) FROM {table} WHERE stream = ?", [name]).fetchall()[0][0]
        assert filled > 0, f"{table} is empty for {name} ({shape} log)"


def test_bpic2013_status_is_concept_name_plus_lifecycle(real_logs, store, tmp_path):
    result = discover(
        store, real_logs / "bpic2013_incidents.xes.gz", "vinst", streams_dir=tmp_path / "streams"
    )
    assert result.settings.columns.activity == ["concept:name", "lifecycle:transition"]
    assert result.settings.columns.team == "org:group"
    statuses = {r[0] for r in store.execute("SELECT DISTINCT activity FROM events").fetchall()}
    assert {
        "Queued / Awaiting Assignment",
        "Accepted / In Progress",
        "Accepted / Wait - User",
        "Completed / Closed",
    } <= statuses
