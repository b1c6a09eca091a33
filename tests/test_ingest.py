"""Loading tiny logs drawn here, with every stored value checked by eye."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import store as store_module
from pipeline.errors import ColumnError, SourceError, TimestampFormatError
from pipeline.ingest import ingest
from pipeline.settings import Columns, Source, StreamSettings
from tests.conftest import write

CLAIMS = """case_id,activity,lifecycle,timestamp,resource,team,amount
c1,Register,start,2026-03-02T09:00:00+01:00,ann,Intake,100.50
c1,Register,complete,2026-03-02T09:30:00+01:00,ann,Intake,100.50
c1,Assess,start,2026-03-02T12:00:00+01:00,bob,Assessment,100.50
c2,Register,start,2026-03-03 10:00,ann,Intake,7
"""


def settings_for(path, **kw) -> StreamSettings:
    s = StreamSettings(name="t", source=Source(path=str(path)), **kw)
    return s


def events(con):
    return con.execute(
        "SELECT case_id, activity, lifecycle, ts, resource, team, attributes->>'amount', source_line "
        "FROM events ORDER BY source_line"
    ).fetchall()


def test_empty_store_has_no_events(store):
    assert store.execute("SELECT count(*) FROM events").fetchall()[0] == (0,)


def test_loads_canonical_columns_offsets_and_naive_times(store, tmp_path):
    path = write(tmp_path / "claims.csv", CLAIMS)
    result = ingest(store, settings_for(path, timezone="Europe/Amsterdam"))
    assert (result.events_read, result.events_loaded, result.events_rejected) == (4, 4, 0)
    rows = events(store)
    assert rows[0] == (
        "c1",
        "Register",
        "start",
        datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
        "ann",
        "Intake",
        "100.50",
        2,
    )
    assert rows[2][3] == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    # naive "2026-03-03 10:00" read in Europe/Amsterdam (UTC+1 in March) = 09:00 UTC, and said so
    assert rows[3][3] == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert "1 timestamp values have no UTC offset" in result.timezone_note
    assert "Europe/Amsterdam" in result.timezone_note
    run = store.execute("SELECT status, events_read, events_loaded, events_rejected FROM runs").fetchall()
    assert run == [("ok", 4, 4, 0)]


def test_reload_adds_nothing_and_newer_export_adds_only_new(store, tmp_path):
    path = write(tmp_path / "claims.csv", CLAIMS)
    ingest(store, settings_for(path))
    again = ingest(store, settings_for(path))
    assert (again.events_loaded, again.events_known) == (0, 4)
    newer = write(tmp_path / "claims2.csv", CLAIMS + "c2,Register,complete,2026-03-03 10:20,ann,Intake,7\n")
    third = ingest(store, settings_for(newer))
    assert (third.events_loaded, third.events_known) == (1, 4)
    assert store.execute("SELECT count(*) FROM events").fetchall()[0] == (5,)
    assert store.execute("SELECT count(*) FROM runs").fetchall()[0] == (3,)


def test_identical_rows_in_one_export_are_both_kept(store, tmp_path):
    dup = "case,activity,time\nc1,A,2026-01-01T00:00:00Z\nc1,A,2026-01-01T00:00:00Z\n"
    path = write(tmp_path / "dup.csv", dup)
    assert ingest(store, settings_for(path)).events_loaded == 2
    assert ingest(store, settings_for(path)).events_loaded == 0
    assert store.execute("SELECT count(DISTINCT event_id) FROM events").fetchall()[0] == (2,)


def test_bad_timestamps_are_rejected_with_line_and_reason_good_rows_load(store, tmp_path):
    text = (
        "case,activity,time\n"
        "c1,A,2026-01-01T10:00:00Z\n"
        "c1,B,not a time\n"
        "c2,A,2026-13-45T10:00:00Z\n"
        ",A,2026-01-02T10:00:00Z\n"
        "c3,A,2026-01-03T10:00:00Z\n"
    )
    path = write(tmp_path / "bad.csv", text)
    result = ingest(store, settings_for(path))
    assert (result.events_read, result.events_loaded, result.events_rejected) == (5, 2, 3)
    rejects = store.execute(
        "SELECT line, column_name, value, reason, raw->>'case' FROM rejects ORDER BY line"
    ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rejects] == [
        (3, "time", "not a time"),
        (4, "time", "2026-13-45T10:00:00Z"),
        (5, "case", ""),
    ]
    assert rejects[0][3].startswith("unparseable timestamp: expected ISO 8601")
    assert rejects[2][3].startswith("missing case id")
    assert rejects[0][4] == "c1"
    assert store.execute("SELECT status, events_rejected FROM runs").fetchall()[0] == ("ok_with_rejects", 3)
    # loading the same file again keeps one copy of each reject
    ingest(store, settings_for(path))
    assert store.execute("SELECT count(*) FROM rejects").fetchall()[0] == (3,)


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("31/12/2016 23:59", datetime(2016, 12, 31, 23, 59, tzinfo=UTC)),
        ("1483228740", datetime(2016, 12, 31, 23, 59, tzinfo=UTC)),
        ("1483228740000", datetime(2016, 12, 31, 23, 59, tzinfo=UTC)),
        ("2016-12-31T23:59:00.250+00:00", datetime(2016, 12, 31, 23, 59, 0, 250000, tzinfo=UTC)),
        ("2017-01-01T00:59:00+01:00", datetime(2016, 12, 31, 23, 59, tzinfo=UTC)),
    ],
)
def test_timestamp_formats(store, tmp_path, stamp, expected):
    path = write(tmp_path / "t.csv", f"case,activity,time\nc1,A,{stamp}\n")
    ingest(store, settings_for(path))
    assert store.execute("SELECT ts FROM events").fetchall()[0][0] == expected


def test_day_first_decided_from_the_data(store, tmp_path):
    path = write(
        tmp_path / "t.csv", "case,activity,time\nc1,A,01/02/2016 10:00:05\nc1,B,13/02/2016 10:00:05\n"
    )
    ingest(store, settings_for(path))
    assert store.execute("SELECT ts FROM events ORDER BY source_line").fetchall()[0][0] == datetime(
        2016, 2, 1, 10, 0, 5, tzinfo=UTC
    )


# One day-first instant per form the plan reads (pipeline/timestamps.py _time_formats), with
# the instant each must give. The plan tries first the form of the column's first value.
DAY_FIRST_FORMS = [
    ("13/02/2016 10:00:05", datetime(2016, 2, 13, 10, 0, 5, tzinfo=UTC)),
    ("14/02/2016 11:30", datetime(2016, 2, 14, 11, 30, tzinfo=UTC)),
    ("15/02/2016 12:00:01.250", datetime(2016, 2, 15, 12, 0, 1, 250000, tzinfo=UTC)),
    ("16/02/2016", datetime(2016, 2, 16, tzinfo=UTC)),
    ("17/02/2016T08:15:30", datetime(2016, 2, 17, 8, 15, 30, tzinfo=UTC)),
    ("18/02/2016T09:45", datetime(2016, 2, 18, 9, 45, tzinfo=UTC)),
]


@pytest.mark.parametrize("first", range(len(DAY_FIRST_FORMS)))
def test_every_form_of_a_day_first_column_loads_whichever_comes_first(store, tmp_path, first):
    forms = DAY_FIRST_FORMS[first:] + DAY_FIRST_FORMS[:first]
    rows = "".join(f"c{i},A,{stamp}\n" for i, (stamp, _) in enumerate(forms))
    result = ingest(store, settings_for(write(tmp_path / "t.csv", "case,activity,time\n" + rows)))
    assert (result.events_loaded, result.events_rejected) == (len(forms), 0)
    assert "day-first" in result.timestamp_format
    loaded = store.execute("SELECT ts FROM events ORDER BY source_line").fetchall()
    assert [ts for (ts,) in loaded] == [expected for _, expected in forms]


def test_ambiguous_day_month_order_is_refused_asking_for_a_format(store, tmp_path):
    path = write(tmp_path / "t.csv", "case,activity,time\nc1,A,01/02/2016 10:00\n")
    with pytest.raises(TimestampFormatError, match="--timestamp-format"):
        ingest(store, settings_for(path))
    path2 = write(tmp_path / "t2.csv", "case,activity,time\nc1,A,01/02/2016 10:00\n")
    s = settings_for(path2)
    s.source.timestamp_format = "%m/%d/%Y %H:%M"
    ingest(store, s)
    assert store.execute("SELECT ts FROM events").fetchall()[0][0] == datetime(2016, 1, 2, 10, 0, tzinfo=UTC)


def test_missing_required_column_lists_the_columns_found(store, tmp_path):
    # 'when' holds no time (a date written in the file would now be found by its content)
    path = write(tmp_path / "t.csv", "ticket,when,owner\nT1,soon,ann\n")
    with pytest.raises(ColumnError) as info:
        ingest(store, settings_for(path))
    message = str(info.value)
    assert "no activity / timestamp column found" in message
    assert "columns found: ticket, when, owner" in message


def test_status_and_sub_status_columns_combine_into_the_activity(store, tmp_path):
    path = write(tmp_path / "t.csv", "case,status,sub,time\nc1,Accepted,In Progress,2026-01-01T00:00Z\n")
    ingest(store, settings_for(path, columns=Columns(activity=["status", "sub"])))
    assert store.execute("SELECT activity FROM events").fetchall()[0] == ("Accepted / In Progress",)


@pytest.mark.parametrize("sample_rows", [1, 10_000])
def test_a_first_load_numbers_identical_rows_whichever_way_they_are_written(
    store, tmp_path, monkeypatch, sample_rows
):
    # A first load writes plain rows straight into events and checks the others (a token, a
    # reject) in a second pass: line 3 (a token in an attribute) is still the second copy of
    # line 2's event, and line 5 the third. With the token among the first rows looked at
    # (10,000), the load checks every row into load_checked first: the same result.
    monkeypatch.setattr("pipeline.ingest.TOKEN_SAMPLE_ROWS", sample_rows)
    log = (
        "case,activity,time,channel\n"
        "c1,A,2026-01-01T00:00:00Z,web\n"
        "c1,A,2026-01-01T00:00:00Z,n/a\n"
        "c1,B,not a time,web\n"
        "c1,A,2026-01-01T00:00:00Z,web\n"
    )
    path = write(tmp_path / "copies.csv", log)
    result = ingest(store, settings_for(path))
    assert (result.events_loaded, result.events_rejected, result.events_known) == (3, 1, 0)
    assert result.missing_values == [("channel", "n/a", 1)]
    assert store.execute(
        "SELECT event_id, copy_no, attributes->>'channel' FROM events ORDER BY event_id"
    ).fetchall() == [(2, 1, "web"), (3, 2, None), (5, 3, "web")]
    assert store.execute("SELECT line, column_name, value FROM rejects").fetchall() == [
        (4, "time", "not a time")
    ]
    again = ingest(store, settings_for(path))
    assert (again.events_loaded, again.events_known) == (0, 3)


def test_a_first_load_of_plain_rows_numbers_its_repeated_events(store, tmp_path):
    """Every row plain (no token, no reject), and the repeats still numbered: a load whose
    events' content hashes all differ skips the numbering (pipeline/ingest.py _repeats), this
    one may not. Line 4 is line 2's event written otherwise (white space, the same instant at
    another offset): its second copy. Line 3 differs in its resource only."""
    log = (
        "case,activity,time,resource\n"
        "c1,A,2026-01-01T01:00:00+01:00,ann\n"
        "c1,A,2026-01-01T00:00:00Z,bob\n"
        " c1 ,A,2026-01-01T00:00:00Z, ann\n"
        "c2,A,2026-01-01T00:00:00Z,ann\n"
    )
    result = ingest(store, settings_for(write(tmp_path / "plain.csv", log)))
    assert (result.events_loaded, result.events_rejected) == (4, 0)
    assert store.execute("SELECT event_id, copy_no FROM events ORDER BY event_id").fetchall() == [
        (2, 1),
        (3, 1),
        (4, 2),
        (5, 1),
    ]


def fail_after_the_events_are_inserted(monkeypatch) -> None:
    """The next load fails inside its transaction, once its events are inserted (the rejects'
    statement raises)."""
    real = store_module.read_sql

    def failing(relative):
        if relative == "load/insert_rejects.sql":
            raise RuntimeError("disk full")
        return real(relative)

    monkeypatch.setattr("pipeline.ingest.read_sql", failing)


def test_a_failed_first_load_leaves_the_store_empty(store, tmp_path, monkeypatch):
    path = write(tmp_path / "claims.csv", CLAIMS + "c9,A,start,x,ann,Intake,1\n")
    fail_after_the_events_are_inserted(monkeypatch)
    with pytest.raises(RuntimeError):
        ingest(store, settings_for(path))
    counts = [
        store.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in ("events", "rejects", "runs")
    ]
    assert counts == [0, 0, 0]
    # the connection's optimizers are all back on for what it runs next
    assert store.execute("SELECT current_setting('disabled_optimizers')").fetchall() == [("",)]


def test_a_failed_load_leaves_the_store_exactly_as_before(store, tmp_path, monkeypatch):
    path = write(tmp_path / "claims.csv", CLAIMS)
    ingest(store, settings_for(path))
    before = [
        store.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in ("events", "rejects", "runs")
    ]
    newer = write(
        tmp_path / "newer.csv",
        CLAIMS + "c9,A,start,2026-03-05T10:00Z,ann,Intake,1\nc9,A,complete,x,ann,Intake,1\n",
    )
    fail_after_the_events_are_inserted(monkeypatch)
    with pytest.raises(RuntimeError):
        ingest(store, settings_for(newer))
    after = [
        store.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in ("events", "rejects", "runs")
    ]
    assert after == before


def test_empty_file_is_refused(store, tmp_path):
    path = write(tmp_path / "empty.csv", "")
    with pytest.raises(SourceError, match="empty"):
        ingest(store, settings_for(path))


def test_a_parquet_file_loads_alike_read_by_duckdb_in_batches_or_whole(tmp_path, monkeypatch):
    """A Parquet file is read by DuckDB itself (the connector's relation); where it cannot
    be, polars reads it whole, or in batches when it has more rows than BATCH_ROWS. All four
    ways (polars whole, polars in batches of 3 rows, DuckDB with either batch size) must
    store the same: the same event ids (identical rows in different batches keep their
    ordinals), the same attributes, the same rejects with their lines and raw rows, the same
    counts and the same note on naive times, counted over every row."""
    import polars as pl

    import pipeline.ingest as ingest_module
    from connectors import parquet
    from connectors.base import BatchedFrame
    from pipeline.store import open_store

    real_relation = parquet._relation

    frame = pl.DataFrame(
        {
            "case": ["c1", "c1", "c2", "c1", "c2", "c2", "c3", "c1", "c3", "c3"],
            "activity": ["A", "B", "A", "B", "B", "C", "A", "B", "", "B"],
            "time": [
                "2026-01-01 09:00",
                "2026-01-01 10:00",
                "2026-01-02T09:00:00+01:00",
                "2026-01-01 10:00",  # identical to line 2, in another batch
                "not a time",
                "2026-01-02 11:00",
                "2026-01-03 09:00",
                "2026-01-01 10:00",  # identical again, a third batch
                "2026-01-03 10:00",
                "2026-01-03 11:00",
            ],
            "note": [f"n{i}" for i in range(10)],
        }
    )
    path = tmp_path / "log.parquet"
    frame.write_parquet(path, row_group_size=4)
    stored = {}
    for batch_rows, read_by in ((1_000, "polars"), (3, "polars"), (3, "duckdb"), (1_000, "duckdb")):
        monkeypatch.setattr(ingest_module, "BATCH_ROWS", batch_rows)
        monkeypatch.setattr(
            parquet, "_relation", real_relation if read_by == "duckdb" else lambda path, names: ""
        )
        name, raw = ingest_module.read_events(settings_for(path))
        assert isinstance(raw, BatchedFrame) == (batch_rows == 3 or read_by == "duckdb")
        assert bool(isinstance(raw, BatchedFrame) and raw.relation) == (read_by == "duckdb")
        con = open_store(tmp_path / f"{batch_rows}{read_by}.duckdb")
        result = ingest(con, settings_for(path))
        stored[(batch_rows, read_by)] = (
            (result.events_read, result.events_loaded, result.events_rejected, result.timezone_note),
            con.execute(
                "SELECT event_id, case_id, activity, ts, source_line, attributes FROM events ORDER BY 1"
            ).fetchall(),
            con.execute("SELECT line, column_name, value, reason, raw FROM rejects ORDER BY line").fetchall(),
        )
        con.close()
    assert stored[(3, "polars")] == stored[(1_000, "polars")]
    assert stored[(3, "duckdb")] == stored[(1_000, "polars")]
    assert stored[(1_000, "duckdb")] == stored[(1_000, "polars")]
    counts, events_, rejects = stored[(3, "polars")]
    assert counts == (10, 8, 2, "8 timestamp values have no UTC offset and were read as UTC local time")
    assert len({e[0] for e in events_}) == 8  # the three identical rows: three ids
    assert [(r[0], r[1]) for r in rejects] == [(5, "time"), (9, "activity")]
    assert '"note":"n4"' in rejects[0][4]


def test_a_parquet_file_of_one_row_group_loads_from_its_frame_as_duckdb_would_read_it(tmp_path):
    """A file of one row group is handed to the load as the frame polars read (DuckDB reads a
    row group on one thread); the same rows written in several row groups are read by DuckDB
    itself. Typed columns (instants with and without a zone, dates, decimals, whole and
    decimal numbers with NaN, booleans, categories, lists, nulls) give the same events,
    attributes and rejects either way."""
    from datetime import date
    from decimal import Decimal

    import polars as pl

    from connectors.base import BatchedFrame
    from pipeline.ingest import read_events
    from pipeline.store import open_store

    frame = pl.DataFrame(
        {
            "case": ["c1", "c1", "c2", "c2", "c3", "c3"],
            "activity": ["A", "B", "A", "B", "A", None],
            "time": [
                datetime(2026, 1, 1, 9, tzinfo=UTC),
                datetime(2026, 1, 1, 10, 30, 15, 250000, tzinfo=UTC),
                datetime(2026, 1, 2, 9, tzinfo=UTC),
                None,
                datetime(2026, 1, 3, 9, tzinfo=UTC),
                datetime(2026, 1, 3, 10, tzinfo=UTC),
            ],
            "seen": [
                datetime(2025, 12, 31, 8, 0, 0, 123456),
                None,
                datetime(2026, 1, 2, 8),
                None,
                datetime(2026, 1, 3, 8),
                None,
            ],
            "due": [date(2026, 2, 1), None, date(2026, 2, 2), None, date(2026, 2, 3), None],
            "amount": [Decimal("12.50"), Decimal("0.01"), None, Decimal("-3.00"), Decimal("7.25"), None],
            "count": [1, None, 3, 4, 5, 6],
            "score": [0.5, float("nan"), None, float("inf"), 1e-9, 2.0],
            "urgent": [True, False, None, True, False, True],
            "channel": pl.Series(["web", "mail", "web", None, "phone", "web"], dtype=pl.Categorical),
            "tags": [["a", "b"], [], None, ["c"], ["a"], ["b"]],
        },
        schema_overrides={"amount": pl.Decimal(10, 2)},
    )
    stored = {}
    for groups, rows_per_group in (("one", 6), ("several", 2)):
        path = tmp_path / f"{groups}.parquet"
        frame.write_parquet(path, row_group_size=rows_per_group)
        _, raw = read_events(settings_for(path))
        assert isinstance(raw, BatchedFrame) == (groups == "several")  # several: DuckDB's relation
        con = open_store(tmp_path / f"{groups}.duckdb")
        result = ingest(con, settings_for(path, timezone="Europe/Paris"))
        stored[groups] = (
            (result.events_read, result.events_loaded, result.events_rejected),
            con.execute(
                "SELECT case_id, activity, ts, source_line, CAST(attributes AS VARCHAR) "
                "FROM events ORDER BY 4"
            ).fetchall(),
            con.execute("SELECT line, column_name, value, reason FROM rejects ORDER BY line").fetchall(),
        )
        con.close()
    assert stored["one"] == stored["several"]
    counts, loaded, rejects = stored["one"]
    assert counts == (6, 4, 2)
    assert [(r[0], r[1]) for r in rejects] == [(4, "time"), (6, "activity")]
    assert loaded[1][2] == datetime(2026, 1, 1, 10, 30, 15, 250000, tzinfo=UTC)
    assert loaded[0][4] == (
        '{"seen":"2025-12-31 08:00:00.123456","due":"2026-02-01","amount":12.5,"count":1,"score":0.5,'
        '"urgent":true,"channel":"web","tags":["a","b"]}'
    )
    assert '"score":null' in loaded[1][4] and '"tags":[]' in loaded[1][4]  # NaN: null


def test_a_large_parquet_with_a_column_named_like_duckdbs_row_number_loads_in_batches(tmp_path, monkeypatch):
    """DuckDB reads a large Parquet file itself, numbering rows in a column `file_row_number`;
    a file that has such a column of its own is read batch by batch instead, and loses nothing."""
    import polars as pl

    import pipeline.ingest as ingest_module
    from pipeline.store import open_store

    path = tmp_path / "log.parquet"
    pl.DataFrame(
        {
            "case": ["c1", "c1", "c2", "c2"],
            "activity": ["A", "B", "A", "B"],
            "time": ["2026-01-01 09:00", "2026-01-01 10:00", "2026-01-02 09:00", "2026-01-02 10:00"],
            "file_row_number": [7, 8, 9, 10],
        }
    ).write_parquet(path)
    monkeypatch.setattr(ingest_module, "BATCH_ROWS", 3)
    _, raw = ingest_module.read_events(settings_for(path))
    assert raw.relation == ""
    con = open_store(tmp_path / "s.duckdb")
    assert ingest(con, settings_for(path)).events_loaded == 4
    assert con.execute(
        "SELECT source_line, attributes->>'file_row_number' FROM events ORDER BY 1"
    ).fetchall() == [(1, "7"), (2, "8"), (3, "9"), (4, "10")]


@pytest.mark.parametrize("zone", [None, "Asia/Tokyo"])
def test_typed_parquet_times_count_as_naive_by_their_type(tmp_path, monkeypatch, zone):
    """A Parquet timestamp column is naive or zoned by its type: DuckDB's read counts its
    non-null values from the type (pipeline/ingest.py _naive_in), and says what polars'
    read, value by value, says."""
    import polars as pl

    from connectors import parquet
    from pipeline.store import open_store

    times = [datetime(2026, 1, 1, 9), None, datetime(2026, 1, 1, 10), datetime(2026, 1, 2, 8)]
    frame = pl.DataFrame({"case": ["c1", "c1", "c2", "c2"], "activity": ["A", "B", "A", "B"], "time": times})
    if zone:
        frame = frame.with_columns(pl.col("time").dt.replace_time_zone(zone))
    path = tmp_path / "log.parquet"
    frame.write_parquet(path)
    real_relation = parquet._relation
    notes = {}
    for read_by in ("duckdb", "polars"):
        monkeypatch.setattr(
            parquet, "_relation", real_relation if read_by == "duckdb" else lambda path, names: ""
        )
        con = open_store(tmp_path / f"{read_by}.duckdb")
        result = ingest(con, settings_for(path))
        con.close()
        assert (result.events_read, result.events_rejected) == (4, 1)  # the missing time
        notes[read_by] = result.timezone_note
    assert notes["duckdb"] == notes["polars"]
    expected = "" if zone else "3 timestamp values have no UTC offset and were read as UTC local time"
    assert notes["duckdb"] == expected


WHITE_SPACE = (  # Unicode White_Space, what polars strips
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


@cache
def _staging_macros():
    """An in-memory DuckDB holding load/staging.sql's macros (nothing else: one for all the
    examples below, which each register their own values)."""
    import duckdb

    from pipeline.store import read_sql

    con = duckdb.connect()
    con.execute(read_sql("load/staging.sql"))
    return con


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet=st.sampled_from(WHITE_SPACE + "ab é日\x1c-_.\u0301"), max_size=6), max_size=40)
)
def test_staged_text_is_stripped_as_polars_strips_it(values):
    """strip_text (load/staging.sql) against polars' strip_chars() on the same values: every
    Unicode White_Space character goes, whichever end, and nothing else (not U+001C, which
    Python's str.strip() would take, nor a combining mark)."""
    import polars as pl

    con = _staging_macros()
    series = pl.Series("v", values, dtype=pl.String)
    con.register("t", pl.DataFrame({"i": range(len(values)), "v": series}).to_arrow())
    got = [r[0] for r in con.execute("SELECT strip_text(v) FROM t ORDER BY i").fetchall()]
    assert got == series.str.strip_chars().to_list()


# Timestamp text: ISO with and without an offset, date only, other forms, and no time at all.
TIME_TEXTS = (
    "2026-01-01",
    "2026-01-01 10:00",
    "2026-01-01T10:00:00",
    "2026-01-01T10:00:00,5",
    "2026-01-01T10:00:00+01:00",
    "2026-01-01T10:00:00-0530",
    "2026-01-01 10:00 Z",
    "2026-01-01 10:00UTC",
    "2026-01-01 10:00 +01",
    "31/12/2026 10:00",
    "1767225600",
    "10:00",
    "not a time",
    "",
)
PADDED_TIMES = st.lists(
    st.one_of(
        st.none(),
        st.tuples(
            st.text(alphabet=st.sampled_from(WHITE_SPACE + "\x1c"), max_size=2),
            st.sampled_from(TIME_TEXTS),
            st.text(alphabet=st.sampled_from(WHITE_SPACE + "\x1c"), max_size=2),
        ).map("".join),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(PADDED_TIMES)
def test_iso_values_without_an_offset_are_counted_as_written_as_when_stripped(values):
    """The load counts the ISO values without an offset (read in the stream's timezone) on the
    text as written (pipeline/timestamps.py _iso_naive): the same count as on the values
    stripped as polars strips them, blanks left out, tested against ISO and OFFSET."""
    import polars as pl

    from pipeline.timestamps import ISO, OFFSET, _iso_naive

    text = pl.Series("t", values, dtype=pl.String)
    # polars' patterns, as the load tests: Python's \s would also take U+001C
    stripped = text.str.strip_chars().filter(text.is_not_null() & (text.str.strip_chars() != ""))
    expected = stripped.filter(~stripped.str.contains(OFFSET)).str.contains(ISO).sum()
    assert _iso_naive(text) == expected


def test_a_timestamp_plan_judges_the_first_given_values_and_counts_every_naive_one(monkeypatch):
    """Drawn by hand: the kind is judged on the first SAMPLE (here 2) given values, blanks
    skipped, whatever comes after them; the naive ISO values are counted over every row, as
    written: lines 3 and 6 (line 4 has an offset, line 5 is no ISO)."""
    import polars as pl

    from pipeline import timestamps

    monkeypatch.setattr(timestamps, "SAMPLE", 2)
    values = ["", " ", "2026-01-01 10:00", "2026-01-01T10:00Z ", "31/12/2026", "\t2026-01-02 08:00\u00a0"]
    plan = timestamps.plan_timestamps(pl.Series("t", values), column="t")
    assert (plan.kind, plan.naive_values) == ("iso", 2)
    with pytest.raises(TimestampFormatError, match="'t' is empty"):
        timestamps.plan_timestamps(pl.Series("t", ["", " ", None, "\u3000"]), column="t")


@settings(max_examples=300, deadline=None)
@given(PADDED_TIMES, st.integers(min_value=1, max_value=4))
def test_a_timestamp_plan_reads_values_as_it_reads_them_stripped(values, sample):
    """White space around the values changes no plan nor any error: the plan strips only the
    first values it judges the kind on (`sample` of them here), and strips every value only
    when it needs them all or blanks come first."""
    import polars as pl

    from pipeline import timestamps

    def plan(series):
        try:
            return timestamps.plan_timestamps(series, column="t")
        except TimestampFormatError as error:
            return str(error)

    text = pl.Series("t", values, dtype=pl.String)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timestamps, "SAMPLE", sample)
        assert plan(text) == plan(text.str.strip_chars())


def test_attributes_are_written_as_polars_writes_json(tmp_path):
    """The columns left over become the event's attributes, a JSON object made in DuckDB
    (pipeline/ingest.py stage_sql). Checked against polars' own JSON of the same columns:
    numbers, NaN and infinities (null), flags, dates, naive and zoned instants (milliseconds
    kept as three digits, zones as UTC), lists with NaN in them, text with quotes and
    control characters, and nulls."""
    from datetime import date
    from datetime import datetime as dt

    import polars as pl

    from pipeline.store import open_store

    extra = pl.DataFrame(
        {
            "n": [1, None, -3],
            "x": [2980.8, float("nan"), float("inf")],
            "flag": [True, None, False],
            "day": [date(2024, 1, 2), None, date(1999, 12, 31)],
            "at": [dt(2024, 1, 1, 0, 1, 10, 860000), dt(1960, 5, 1, 3, 4, 5, 123), None],
            "zoned": pl.Series(
                [dt(2011, 10, 31, 14, 25, 2, 728000), dt(2011, 1, 1), None]
            ).dt.replace_time_zone("UTC"),
            "scores": [[1.5, float("nan")], None, []],
            "note": ['say "hi"\n\ttab \\ /', "", None],
        }
    )
    frame = pl.DataFrame(
        {
            "case": ["c1", "c1", "c2"],
            "activity": ["A", "B", "A"],
            "time": ["2026-01-01 09:00", "2026-01-01 10:00", "2026-01-02 09:00"],
        }
    ).hstack(extra)
    path = tmp_path / "log.parquet"
    frame.write_parquet(path)
    con = open_store(tmp_path / "s.duckdb")
    ingest(con, settings_for(path, timezone="America/New_York"))
    stored = [r[0] for r in con.execute("SELECT attributes FROM events ORDER BY source_line").fetchall()]
    expected = extra.select(pl.struct(pl.all()).struct.json_encode())[:, 0].to_list()
    assert stored == expected
    assert '"x":null' in stored[1] and '"zoned":"2011-10-31T14:25:02.728+00:00"' in stored[0]

    local = frame.select(
        "case", "activity", "time", pl.col("zoned").dt.convert_time_zone("Europe/Amsterdam").alias("local")
    )
    local.write_parquet(path)
    con = open_store(tmp_path / "local.duckdb")
    ingest(con, settings_for(path, timezone="America/New_York"))
    assert con.execute("SELECT attributes->>'local' FROM events ORDER BY source_line").fetchall() == [
        ("2011-10-31T14:25:02.728+00:00",),
        ("2011-01-01T00:00:00+00:00",),
        (None,),
    ]


def test_a_parquet_file_damaged_past_the_part_read_for_detection_is_refused_by_name(tmp_path, monkeypatch):
    """DuckDB reads the whole file after detection has read only its first batch: a damaged
    page further on must stop the load with the file's name and nothing stored, not with a
    database error."""
    import polars as pl

    import pipeline.ingest as ingest_module
    from pipeline.store import open_store

    rows = 200_000
    path = tmp_path / "damaged.parquet"
    pl.DataFrame(
        {
            "case": [f"c{i}" for i in range(rows)],
            "activity": ["A"] * rows,
            "time": ["2026-01-01 09:00"] * rows,
        }
    ).write_parquet(path, row_group_size=50_000, compression="zstd")
    data = bytearray(path.read_bytes())
    for i in range(len(data) * 2 // 3, len(data) * 2 // 3 + 2000):  # inside a later row group
        data[i] = (data[i] * 7 + 13) % 256
    path.write_bytes(bytes(data))
    monkeypatch.setattr(ingest_module, "BATCH_ROWS", 50_000)
    con = open_store(tmp_path / "s.duckdb")
    with pytest.raises(SourceError, match=r"damaged\.parquet: cannot be read to its end"):
        ingest(con, settings_for(path))
    assert con.execute("SELECT count(*) FROM events").fetchall() == [(0,)]
    assert con.execute("SELECT count(*) FROM runs").fetchall() == [(0,)]


def test_dates_alone_have_no_offset_and_are_counted_as_read_in_the_timezone(store, tmp_path):
    """Worked by hand: '2026-03-02' is a date read at midnight in the stream's timezone, its
    '-02' the day, not an offset of -2 h (DuckDB reads no offset after a date alone), so the
    note counts it with the naive time of line 3: 2 values. Line 4 has an offset after its
    time; line 5 ('2026-03-04-02', a date with an offset) is no timestamp and is rejected."""
    path = write(
        tmp_path / "dates.csv",
        "case,activity,time\n"
        "c1,A,2026-03-02\n"
        "c1,B,2026-03-03 10:00\n"
        "c2,A,2026-03-03T10:00:00-05:00\n"
        "c2,B,2026-03-04-02\n",
    )
    result = ingest(store, settings_for(path, timezone="Europe/Amsterdam"))
    assert (result.events_read, result.events_loaded, result.events_rejected) == (4, 3, 1)
    assert result.timezone_note == (
        "2 timestamp values have no UTC offset and were read as Europe/Amsterdam local time"
    )
    times = store.execute("SELECT case_id, activity, ts FROM events ORDER BY ts").fetchall()
    assert times == [
        ("c1", "A", datetime(2026, 3, 1, 23, 0, tzinfo=UTC)),  # midnight in Amsterdam (UTC+1)
        ("c1", "B", datetime(2026, 3, 3, 9, 0, tzinfo=UTC)),
        ("c2", "A", datetime(2026, 3, 3, 15, 0, tzinfo=UTC)),
    ]
    rejects = store.execute("SELECT line, column_name, value FROM rejects").fetchall()
    assert rejects == [(5, "time", "2026-03-04-02")]
