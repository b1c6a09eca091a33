"""Missing-value tokens ('?', 'NULL', 'N/A', ...) are missing values, reported; placeholder
statuses (ServiceNow's -100) are flagged and not drawn (issue 14, item 3)."""

from __future__ import annotations

import tomllib

import pytest

from pipeline.errors import SettingsError
from pipeline.flow import compute_flow, step_map
from pipeline.ingest import ingest
from pipeline.nulls import BUILTIN_NULL_VALUES
from pipeline.settings import Columns, Source, Steps, StreamSettings, render_settings, settings_from_dict
from tests.conftest import write

# t1: '?' for team and resource on its first row; t2: 'N/A' for team, 'NULL' in the
# attribute `contact`. 5 rows, all loadable.
LOG = """ticket,status,time,group,owner,contact
t1,New,2026-03-02T08:00:00Z,?,?,phone
t1,Active,2026-03-02T09:00:00Z,Desk,ann,phone
t1,Closed,2026-03-02T11:00:00Z,Desk,ann,phone
t2,New,2026-03-02T09:00:00Z,N/A,bob,NULL
t2,Closed,2026-03-02T10:00:00Z,Net,bob,email
"""
COLUMNS = Columns(case_id="ticket", activity=["status"], timestamp="time", team="group", resource="owner")


def settings_for(path, null_values=None, **kw) -> StreamSettings:
    return StreamSettings(
        name="t", source=Source(path=str(path), null_values=null_values), columns=COLUMNS, **kw
    )


def test_tokens_in_optional_columns_and_attributes_are_missing_and_reported(store, tmp_path):
    result = ingest(store, settings_for(write(tmp_path / "log.csv", LOG)))
    assert result.events_loaded == 5 and result.events_rejected == 0
    rows = store.execute(
        "SELECT case_id, activity, team, resource, attributes->>'contact' FROM events ORDER BY source_line"
    ).fetchall()
    assert rows[0] == ("t1", "New", None, None, "phone")
    assert rows[3] == ("t2", "New", None, "bob", None)
    # by count, then column: group has '?' once and 'N/A' once; owner '?' once; contact 'NULL' once
    assert result.missing_values == [
        ("contact", "NULL", 1),
        ("group", "?", 1),
        ("group", "N/A", 1),
        ("owner", "?", 1),
    ]
    assert result.missing_note == (
        "4 values were missing-value tokens, read as missing: 'NULL' in 'contact' (1), "
        "'?' in 'group' (1), 'N/A' in 'group' (1), '?' in 'owner' (1)"
    )
    assert result.missing_note in store.execute("SELECT message FROM runs").fetchall()[0][0]


def test_missing_values_finding_and_no_team_named_question_mark(store, tmp_path):
    settings = settings_for(write(tmp_path / "log.csv", LOG))
    ingest(store, settings)
    compute_flow(store, settings)
    finding = store.execute(
        "SELECT severity, count, detail FROM quality_findings WHERE rule = 'missing_values'"
    ).fetchall()
    assert finding[0][:2] == ("info", 4)
    assert finding[0][2].startswith(
        "4 values were missing-value tokens, read as missing: 'NULL' in 'contact'"
    )
    teams = store.execute("SELECT DISTINCT team FROM visits WHERE team IS NOT NULL ORDER BY 1").fetchall()
    assert ("?",) not in teams and ("N/A",) not in teams


def test_a_team_written_empty_is_no_team(store, tmp_path):
    # The WABO receipt log writes its missing group as EMPTY: t1 goes Desk -> EMPTY -> Desk, one
    # team all along (no handoff), and no team is called EMPTY.
    log = """ticket,status,time,group,owner
t1,Active,2026-03-02T08:00:00Z,Desk,ann
t1,Active,2026-03-02T09:00:00Z,EMPTY,ann
t1,Closed,2026-03-02T11:00:00Z,Desk,ann
"""
    settings = settings_for(write(tmp_path / "log.csv", log))
    assert ingest(store, settings).missing_values == [("group", "EMPTY", 1)]
    compute_flow(store, settings)
    assert store.execute("SELECT DISTINCT team FROM events ORDER BY team").fetchall() == [("Desk",), (None,)]
    assert store.execute("SELECT handoffs FROM cases").fetchall() == [(0,)]


def test_a_token_in_a_required_column_rejects_the_row_with_the_reason(store, tmp_path):
    text = (
        "ticket,status,time\n"
        "?,New,2026-03-02T08:00:00Z\n"  # line 2: no case
        "t1,-,2026-03-02T08:00:00Z\n"  # line 3: no activity
        "t1,New,NULL\n"  # line 4: no time
        "t1,New,2026-03-02T08:00:00Z\n"
    )
    path = write(tmp_path / "log.csv", text)
    result = ingest(store, StreamSettings(name="t", source=Source(path=str(path))))
    assert (result.events_loaded, result.events_rejected) == (1, 3)
    rejects = store.execute("SELECT line, column_name, value, reason FROM rejects ORDER BY line").fetchall()
    assert rejects == [
        (2, "ticket", "?", "missing case id: '?' is a missing-value token ([source] null_values)"),
        (3, "status", "-", "missing activity: '-' is a missing-value token ([source] null_values)"),
        (4, "time", "NULL", "missing timestamp: 'NULL' is a missing-value token ([source] null_values)"),
    ]


def test_an_empty_list_means_no_tokens(store, tmp_path):
    result = ingest(store, settings_for(write(tmp_path / "log.csv", LOG), null_values=[]))
    assert result.missing_values == []
    assert store.execute("SELECT team FROM events ORDER BY source_line LIMIT 1").fetchall() == [("?",)]


def test_a_given_list_replaces_the_built_in_one(store, tmp_path):
    result = ingest(store, settings_for(write(tmp_path / "log.csv", LOG), null_values=["N/A"]))
    assert result.missing_values == [("group", "N/A", 1)]
    teams = [r[0] for r in store.execute("SELECT team FROM events ORDER BY source_line").fetchall()]
    assert teams == ["?", "Desk", "Desk", None, "Net"]


def test_a_long_token_is_found_whatever_its_length(store, tmp_path):
    # The load looks a value up in the tokens only when it is no longer (in bytes) than the
    # longest token: here 'não informado' (14 bytes: 'ã' takes two); 'não informado!' (15) and
    # '?' beside other text are values. Line 5's case id is the token: the row is rejected.
    text = (
        "ticket,status,time,group,owner\n"
        "t1,New,2026-03-02T08:00:00Z,não informado,ann\n"
        "t1,Closed,2026-03-02T09:00:00Z,Desk,não informado!\n"
        "t2,New,2026-03-02T09:00:00Z,?,bob?\n"
        "não informado,New,2026-03-02T09:00:00Z,Desk,bob\n"
    )
    path = write(tmp_path / "log.csv", text)
    result = ingest(store, settings_for(path, null_values=["?", "não informado"]))
    assert (result.events_loaded, result.events_rejected) == (3, 1)
    assert result.missing_values == [("group", "?", 1), ("group", "não informado", 1)]
    rows = store.execute("SELECT case_id, team, resource FROM events ORDER BY source_line").fetchall()
    assert rows == [("t1", None, "ann"), ("t1", "Desk", "não informado!"), ("t2", None, "bob?")]
    assert store.execute("SELECT line, column_name, value FROM rejects").fetchall() == [
        (5, "ticket", "não informado")
    ]


def test_null_values_setting_is_validated_and_written_back():
    base = {"stream": {"name": "t"}, "source": {"path": "x.csv"}}
    with pytest.raises(SettingsError, match=r"\[source\] null_values = '\?': expected a list of strings"):
        settings_from_dict(base | {"source": {"path": "x.csv", "null_values": "?"}})
    assert settings_from_dict(base).source.null_values == list(BUILTIN_NULL_VALUES)
    given = settings_from_dict(base | {"source": {"path": "x.csv", "null_values": ["?", "n.v."]}})
    assert given.source.null_values == ["?", "n.v."]
    again = settings_from_dict(tomllib.loads(render_settings(given)))
    assert again.source.null_values == ["?", "n.v."]
    # the default is written out as the built-in list, for a person to see and edit: same effect
    written = settings_from_dict(tomllib.loads(render_settings(settings_from_dict(base))))
    assert written.source.null_values == list(BUILTIN_NULL_VALUES)


# ---------------------------------------------------------------- placeholder statuses


def test_step_map_drops_placeholder_statuses_unless_named():
    settings = StreamSettings(name="t")
    mapping = step_map(["Active", "-100", "Closed", "New"], settings)
    assert mapping.rows() == [
        ("Active", "Active", False),
        ("-100", None, True),  # negative number
        ("Closed", "Closed", False),
        ("New", "New", False),
    ]
    named = StreamSettings(name="t", status_classes={"-100": "wait"})
    assert step_map(["Active", "-100"], named)["step"].to_list() == ["Active", "-100"]
    renamed = StreamSettings(name="t", steps=Steps(rename={"-100": "Unknown"}))
    assert step_map(["Active", "-100"], renamed)["step"].to_list() == ["Active", "Unknown"]
    # a log whose statuses are all codes keeps them (only a negative one is a placeholder)
    assert step_map(["10", "20", "-1"], settings)["step"].to_list() == ["10", "20", None]
    # among words, a lone number is a placeholder too
    assert step_map(["New", "Active", "Closed", "0"], settings)["step"].to_list() == [
        "New",
        "Active",
        "Closed",
        None,
    ]


# i1: New, -100, Active, Closed; i2: New, -100, Closed. -100 has 2 events, no setting names it.
PLACEHOLDER = """number,state,updated
i1,New,2026-03-02T08:00:00Z
i1,-100,2026-03-02T08:30:00Z
i1,Active,2026-03-02T09:00:00Z
i1,Closed,2026-03-02T11:00:00Z
i2,New,2026-03-02T09:00:00Z
i2,-100,2026-03-02T09:10:00Z
i2,Closed,2026-03-02T10:00:00Z
"""


def test_placeholder_status_is_flagged_and_no_step(store, tmp_path):
    settings = StreamSettings(name="t", source=Source(path=str(write(tmp_path / "log.csv", PLACEHOLDER))))
    ingest(store, settings)
    flow = compute_flow(store, settings)
    # not offered as a status to classify either: it is no status at all
    assert "-100" not in [g[0] for g in flow.status_guesses]
    unmapped = store.execute(
        "SELECT detail FROM quality_findings WHERE rule = 'unmapped_statuses'"
    ).fetchall()
    assert all("-100" not in d for (d,) in unmapped)
    finding = store.execute(
        "SELECT severity, count, example, detail FROM quality_findings WHERE rule = 'placeholder_statuses'"
    ).fetchall()
    assert finding == [
        (
            "warning",
            2,
            "-100",
            "statuses that only hold a place, not drawn as a work step: '-100' (2 events); "
            "treated as dropped; name it in [status_classes] or [steps] to keep it",
        )
    ]
    assert store.execute("SELECT count(*) FROM visits WHERE step = '-100'").fetchall() == [(0,)]
    # not also listed as dropped by [steps]
    assert store.execute("SELECT count(*) FROM quality_findings WHERE rule = 'dropped_steps'").fetchall() == [
        (0,)
    ]


def test_tokens_are_counted_over_every_row_whichever_way_parquet_is_read(tmp_path, monkeypatch):
    """Polars whole, polars in batches of 3 rows, DuckDB reading the file itself with either
    batch size: the same teams stored and the same counts of tokens (over all 7 rows: '?'
    three times in `group`, 'NULL' once; 'N/A' once in `note`), and the same sequences."""
    import polars as pl

    import pipeline.ingest as ingest_module
    from connectors import parquet
    from pipeline.store import open_store

    real_relation = parquet._relation
    path = tmp_path / "log.parquet"
    pl.DataFrame(
        {
            "case": ["c1", "c1", "c1", "c2", "c2", "c3", "c3"],
            "activity": ["A", "B", "C", "A", "B", "A", "B"],
            "time": [f"2026-01-0{d} 09:00" for d in (1, 2, 3, 1, 2, 1, 2)],
            "group": ["?", "g1", "?", "NULL", "g2", "?", "g3"],
            "note": ["x", "N/A", "y", "z", "w", "v", "u"],
            "version": [1, 2, 3, 1, 2, 1, 2],
        }
    ).write_parquet(path, row_group_size=3)
    found = {}
    for batch_rows, read_by in ((1_000, "polars"), (3, "polars"), (3, "duckdb"), (1_000, "duckdb")):
        monkeypatch.setattr(ingest_module, "BATCH_ROWS", batch_rows)
        monkeypatch.setattr(
            parquet, "_relation", real_relation if read_by == "duckdb" else lambda path, names: ""
        )
        con = open_store(tmp_path / f"{batch_rows}{read_by}.duckdb")
        settings = StreamSettings(name="t", source=Source(path=str(path)), columns=Columns(team="group"))
        result = ingest(con, settings)
        found[(batch_rows, read_by)] = (
            result.missing_values,
            con.execute(
                "SELECT team, sequence, attributes->>'note' FROM events ORDER BY source_line"
            ).fetchall(),
        )
        con.close()
    assert len(set(map(repr, found.values()))) == 1
    missing, rows = found[(3, "duckdb")]
    assert missing == [("group", "?", 3), ("group", "NULL", 1), ("note", "N/A", 1)]
    assert [r[0] for r in rows] == [None, "g1", None, None, "g2", None, "g3"]
    assert [r[1] for r in rows] == [1, 2, 3, 1, 2, 1, 2]
    assert rows[1][2] is None


def test_a_start_written_as_a_token_is_a_missing_start(store, tmp_path):
    # line 3's start is '?': no start (a point in time), not an unparseable start
    text = "case,activity,start,end\nc1,A,2026-03-02 08:00,2026-03-02 09:00\nc1,B,?,2026-03-02 10:00\n"
    path = write(tmp_path / "log.csv", text)
    result = ingest(store, StreamSettings(name="t", source=Source(path=str(path))))
    assert (result.events_loaded, result.events_rejected) == (2, 0)
    assert result.missing_values == [("start", "?", 1)]
    assert store.execute("SELECT activity, start_ts IS NULL FROM events ORDER BY 1").fetchall() == [
        ("A", False),
        ("B", True),
    ]
