"""Column detection on real exports' shapes: name patterns, type and content, ranked, and
what else was possible said (issue 14, item 1)."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.columns import detect_columns
from pipeline.errors import ColumnError
from pipeline.ingest import ingest
from pipeline.settings import Source, StreamSettings
from tests.conftest import write

# A ServiceNow incident export: no column has a name on the exact lists but `number` (case),
# `assignment_group` and `assigned_to`. `incident_state` is the status (pattern *_state);
# three columns end in _at and read as day-first times, but only `sys_updated_at` changes
# within a case (INC1: 01:23, 01:23, 08:53); `sys_created_at` and `opened_at` are the case's
# own, constant. `sys_mod_count` holds whole numbers that change within a case: the sequence.
SERVICENOW_HEADER = (
    "number,incident_state,active,sys_mod_count,sys_created_at,sys_updated_at,opened_at,"
    "assignment_group,assigned_to\n"
)
SERVICENOW = (
    SERVICENOW_HEADER
    + """\
INC1,New,true,0,29/2/2016 01:16,29/2/2016 01:23,29/2/2016 01:16,?,?
INC1,Active,true,2,29/2/2016 01:16,29/2/2016 01:23,29/2/2016 01:16,Desk,ann
INC1,Resolved,false,3,29/2/2016 01:16,29/2/2016 08:53,29/2/2016 01:16,Desk,ann
INC2,New,true,0,13/3/2016 10:00,13/3/2016 10:00,13/3/2016 10:00,?,?
INC2,Closed,false,1,13/3/2016 10:00,14/3/2016 10:00,13/3/2016 10:00,Net,bob
"""
)

# An ITIL incident export: `incident_activity_number` is one per row (an id), the activity
# is `incident_activity_type` (both match *_activity*); the time is `data_stamp` (*_stamp).
ITIL = """incident_id,incident_activity_number,incident_activity_type,data_stamp
IM1,001A1,Open,2013-01-07 08:17:17
IM1,001A2,Reassignment,2013-01-07 09:00:00
IM1,001A3,Closed,2013-01-08 10:00:00
IM2,001A4,Open,2013-01-09 08:00:00
IM2,001A5,Closed,2013-01-09 11:00:00
"""


def settings_for(path) -> StreamSettings:
    return StreamSettings(name="t", source=Source(path=str(path)))


def frame(text: str) -> pl.DataFrame:
    from io import StringIO

    raw = pl.read_csv(StringIO(text), infer_schema=False)
    return raw.with_columns(pl.Series("_line", range(2, raw.height + 2), dtype=pl.UInt64))


def test_servicenow_export_is_mapped_and_says_what_else_was_possible():
    mapping = detect_columns(frame(SERVICENOW))
    c = mapping.columns
    assert (c.case_id, c.activity, c.timestamp) == ("number", ["incident_state"], "sys_updated_at")
    assert (c.team, c.resource, c.sequence) == ("assignment_group", "assigned_to", "sys_mod_count")
    # the constant times come after, in the file's order
    assert mapping.alternatives["timestamp"] == ["sys_created_at", "opened_at"]
    assert (
        "timestamp <- 'sys_updated_at' (also possible: 'sys_created_at', 'opened_at')" in mapping.describe()
    )


def test_servicenow_export_loads_without_options(store, tmp_path):
    path = write(tmp_path / "incidents.csv", SERVICENOW)
    result = ingest(store, settings_for(path))
    assert result.events_loaded == 5 and result.events_rejected == 0
    assert "day-first" in result.timestamp_format
    # 29/2/2016 08:53 (day first) is INC1's last update
    assert (
        store.execute("SELECT max(ts) FROM events WHERE case_id = 'INC1'")
        .fetchall()[0][0]
        .strftime("%Y-%m-%d %H:%M")
        == "2016-02-29 08:53"
    )
    message = store.execute("SELECT message FROM runs").fetchall()[0][0]
    assert "also possible: 'sys_created_at', 'opened_at'" in message


def test_itil_export_takes_the_repeating_activity_column():
    mapping = detect_columns(frame(ITIL))
    c = mapping.columns
    assert (c.case_id, c.activity, c.timestamp) == ("incident_id", ["incident_activity_type"], "data_stamp")
    assert mapping.alternatives["activity"] == ["incident_activity_number"]


def test_parquet_with_one_datetime_column_under_no_known_name(store, tmp_path):
    # `recorded` is named like no timestamp, but it is the only datetime-typed column
    path = tmp_path / "log.parquet"
    pl.DataFrame(
        {
            "case": ["c1", "c1", "c2"],
            "activity": ["A", "B", "A"],
            "recorded": [datetime(2026, 1, 1, 9), datetime(2026, 1, 1, 10), datetime(2026, 1, 2, 9)],
        }
    ).write_parquet(path)
    result = ingest(store, settings_for(path))
    assert result.events_loaded == 3
    assert "timestamp <- 'recorded'" in result.mapping


def test_exact_name_that_is_constant_loses_to_a_varying_pattern_column():
    # `created_at` is on the exact list but constant within c1; `changed_on` varies
    text = (
        "case,activity,created_at,changed_on\n"
        "c1,A,2026-01-01,2026-01-01 09:00\n"
        "c1,B,2026-01-01,2026-01-02 09:00\n"
    )
    mapping = detect_columns(frame(text))
    assert mapping.columns.timestamp == "changed_on"
    assert mapping.alternatives["timestamp"] == ["created_at"]


def test_lifecycle_and_start_columns_are_not_taken_by_the_patterns():
    # lifecycle_state ends in _state and start_time in _time, but both are their own roles
    text = "case,lifecycle_state,start_time,activity,end_time\nc1,start,2026-01-01 08:00,A,2026-01-01 09:00\n"
    c = detect_columns(frame(text)).columns
    assert (c.activity, c.timestamp, c.lifecycle, c.start_timestamp) == (
        ["activity"],
        "end_time",
        "lifecycle_state",
        "start_time",
    )


def test_text_that_is_no_time_is_no_timestamp():
    with pytest.raises(ColumnError, match="no timestamp column found"):
        detect_columns(frame("case,activity,comment\nc1,A,later\n"))


def test_discover_prints_the_alternatives(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "incidents.csv", SERVICENOW)
    result = CliRunner().invoke(app, ["discover", "incidents.csv", "--stream", "inc", "--no-png"])
    assert result.exit_code == 0, result.output
    assert "timestamp <- 'sys_updated_at' (also possible: 'sys_created_at', 'opened_at')" in result.output
    assert 'sequence = "sys_mod_count"' in (tmp_path / "streams" / "inc.toml").read_text()


def test_init_prints_the_alternatives(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "incidents.csv", SERVICENOW)
    result = CliRunner().invoke(app, ["init", "inc", "--source", "incidents.csv"])
    assert result.exit_code == 0, result.output
    assert "timestamp <- 'sys_updated_at' (also possible: 'sys_created_at', 'opened_at')" in result.output


def test_a_start_column_is_not_taken_for_the_timestamp_by_its_content():
    # `start` reads as times and comes first, but it is the start role's name; `end` is the time
    c = detect_columns(frame("case,activity,start,end\nc1,A,2026-03-02 08:00,2026-03-02 09:00\n")).columns
    assert (c.timestamp, c.start_timestamp) == ("end", "start")


def test_a_lifecycle_of_sub_statuses_joins_the_activity_whatever_its_case(tmp_path):
    """The lifecycle column's distinct values, lower-cased, decide: 'Waiting' and 'WAITING'
    are one sub-status, 'in review' another, 'Start' a standard transition; two of three are
    not standard, so the column joins the activity, and the note names them sorted."""
    from pipeline.streams import detect_settings

    log = (
        "case,activity,lifecycle,time\n"
        "c1,Assess,Waiting,2026-01-01 09:00\n"
        "c1,Assess,WAITING,2026-01-01 10:00\n"
        "c1,Assess,In Review,2026-01-01 11:00\n"
        "c2,Assess,Start,2026-01-01 12:00\n"
    )
    detected, notes, _ = detect_settings(
        "t", tmp_path / "log.csv", frame(log), streams_dir=tmp_path / "streams"
    )
    assert (detected.columns.activity, detected.columns.lifecycle) == (["activity", "lifecycle"], "")
    assert notes == [
        "column 'lifecycle' holds sub-statuses (in review, waiting, ...), not start/complete: "
        "activity = 'activity' + 'lifecycle'"
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["c1", "c2", "c3"]), st.one_of(st.none(), st.sampled_from(["A", "B", ""]))),
        max_size=12,
    )
)
def test_the_share_of_cases_a_text_column_varies_in(rows):
    """varying_share on text against the count worked out here: of the cases with several rows,
    those whose column takes two or more distinct given (non-null) values."""
    from pipeline.columns import varying_share

    sample = pl.DataFrame(rows, schema={"case": pl.String, "status": pl.String}, orient="row")
    per_case: dict[str, list] = {}
    for case, value in rows:
        per_case.setdefault(case, []).append(value)
    several = [values for values in per_case.values() if len(values) > 1]
    varying = [values for values in several if len({v for v in values if v is not None}) > 1]
    expected = len(varying) / len(several) if several else 0.0
    assert varying_share(sample, "status", "case") == pytest.approx(expected)
