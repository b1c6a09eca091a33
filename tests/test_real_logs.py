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
        if table == "sla":  # a row per case and [[sla]]: the settings discover writes have none
            assert filled == 0, f"{name}: sla rows without a [[sla]]"
            continue
        assert filled > 0, f"{table} is empty for {name} ({shape} log)"
    assert_trustworthy(store, name)


def one(store, sql: str, name: str):
    return store.execute(sql, [name]).fetchall()[0][0]


def assert_trustworthy(store, name: str) -> None:
    """What an operations analyst checks first on a map of a real log (issue 14)."""
    negative = one(
        store,
        "SELECT count(*) FROM visits WHERE stream = ? AND (queue_time_s < 0 OR process_time_s < 0 "
        "OR elapsed_s < 0 OR queue_internal_s < 0 OR queue_external_s < 0)",
        name,
    )
    assert negative == 0, f"{name}: {negative} visits with a negative duration"
    assert one(store, "SELECT count(*) FROM cases WHERE stream = ? AND lead_time_s < 0", name) == 0
    assert one(store, "SELECT count(*) FROM status_periods WHERE stream = ? AND duration_s < 0", name) == 0
    # a case's work cannot take longer than the case: lead time >= its process time
    over = one(
        store,
        "SELECT count(*) FROM cases WHERE stream = ? AND NOT is_open AND lead_time_s < process_time_s - 1e-6",
        name,
    )
    assert over == 0, f"{name}: {over} completed cases whose process time exceeds their lead time"
    # WIP changes by what arrives and what leaves, day by day
    broken = one(
        store,
        "SELECT count(*) FROM (SELECT wip_end - coalesce(lag(wip_end) OVER (ORDER BY day), 0) AS change, "
        "arrivals - departures AS net FROM wip_daily WHERE stream = ?) WHERE change <> net",
        name,
    )
    assert broken == 0, f"{name}: {broken} days where the change of wip_end is not arrivals - departures"
    verdict, why = store.execute(
        "SELECT verdict, why FROM littles_law WHERE stream = ? AND window_kind = 'all'", [name]
    ).fetchall()[0]
    assert verdict != "data gap", f"{name}: Little's Law says data gap: {why}"
    steps = one(store, "SELECT count(*) FROM map_steps WHERE stream = ?", name)
    assert steps >= 3, f"{name}: the map has {steps} steps"


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
