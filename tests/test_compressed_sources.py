"""Compressed, archived and Excel sources (issue 14, item 2).

Each packed form of one tiny claims log must load the very events the plain CSV gives;
damaged or ambiguous containers must fail with a message naming the file (and member) and
what is wrong.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter
from backports import zstd
from typer.testing import CliRunner

import connectors.compressed as compressed
from connectors.registry import read_source
from pipeline.cli import app
from pipeline.errors import SettingsError, SourceError
from pipeline.settings import Source, read_settings, settings_from_dict
from pipeline.streams import discover

# The plain log: 2 cases, 4 events. Naive times are read as UTC (the default time zone).
CSV = (
    "case_id,activity,timestamp,resource\n"
    "c1,Register,2026-03-02 08:00:00,ann\n"
    "c1,Assess,2026-03-02 09:30:00,bob\n"
    "c2,Register,2026-03-03 10:00:15,ann\n"
    "c1,Close,2026-03-04 16:45:00,cy\n"
)
# What every form must load: (case, activity, instant, resource, source line), by line.
EXPECTED = [
    ("c1", "Register", datetime(2026, 3, 2, 8, 0, tzinfo=UTC), "ann", 2),
    ("c1", "Assess", datetime(2026, 3, 2, 9, 30, tzinfo=UTC), "bob", 3),
    ("c2", "Register", datetime(2026, 3, 3, 10, 0, 15, tzinfo=UTC), "ann", 4),
    ("c1", "Close", datetime(2026, 3, 4, 16, 45, tzinfo=UTC), "cy", 5),
]


def _load(store, path: Path, folder: Path, **options) -> list[tuple]:
    discover(
        store,
        path,
        "claims",
        source_options=Source(**options),
        streams_dir=folder / "streams",
        compute=False,
    )
    return store.execute(
        "SELECT case_id, activity, ts, resource, source_line FROM events ORDER BY source_line"
    ).fetchall()


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _xlsx(path: Path, rows: list[list], sheets: tuple[str, ...] = ("Events",)) -> Path:
    """A workbook whose first sheet holds `rows` (header first); datetimes written as typed,
    date-formatted cells, as Excel exports write them; the other sheets hold a note."""
    book = xlsxwriter.Workbook(path)
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for index, name in enumerate(sheets):
        sheet = book.add_worksheet(name)
        if index:
            sheet.write(0, 0, "note")
            continue
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, datetime):
                    sheet.write_datetime(r, c, value, when)
                elif value is not None:
                    sheet.write(r, c, value)
    book.close()
    return path


def _log_rows() -> list[list]:
    header, *lines = CSV.strip().split("\n")
    rows = [header.split(",")]
    for line in lines:
        case, activity, ts, resource = line.split(",")
        rows.append([case, activity, datetime.fromisoformat(ts), resource])
    return rows


# --------------------------------------------------------------------------- the same events


def test_plain_csv_is_the_reference(store, tmp_path):
    path = tmp_path / "claims.csv"
    path.write_text(CSV)
    assert _load(store, path, tmp_path) == EXPECTED


FORMS = {
    "csv.gz": lambda d: _write(d / "claims.csv.gz", gzip.compress(CSV.encode())),
    "csv.zst": lambda d: _write(d / "claims.csv.zst", zstd.compress(CSV.encode())),
    "zip of one csv": lambda d: _zip(d / "claims.zip", {"export/claims.csv": CSV.encode()}),
    # macOS litter is no second log
    "zip with litter": lambda d: _zip(
        d / "claims.zip",
        {"claims.csv": CSV.encode(), "__MACOSX/._claims.csv": b"\x00\x05", ".DS_Store": b"x"},
    ),
    "zip stored": lambda d: _zip(d / "claims.zip", {"claims.csv": CSV.encode()}, zipfile.ZIP_STORED),
    "gzipped file named .csv": lambda d: _write(d / "claims.csv", gzip.compress(CSV.encode())),
    "jsonl.gz": lambda d: _write(d / "claims.jsonl.gz", gzip.compress(_jsonl())),
    "xlsx": lambda d: _xlsx(d / "claims.xlsx", _log_rows()),
    "xlsx in a zip": lambda d: _zip(
        d / "claims.zip", {"claims.xlsx": _xlsx(d / "in.xlsx", _log_rows()).read_bytes()}
    ),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _jsonl() -> bytes:
    return pl.read_csv(io.StringIO(CSV)).write_ndjson().encode()


@pytest.mark.parametrize("form", sorted(FORMS))
def test_each_packed_form_loads_the_plain_events(form, store, tmp_path):
    path = FORMS[form](tmp_path)
    expected = _without_header(EXPECTED) if form.startswith("jsonl") else EXPECTED
    assert _load(store, path, tmp_path) == expected


def _without_header(events: list[tuple]) -> list[tuple]:
    """JSON Lines and Parquet have no header: their lines (rows) count from the first event."""
    return [(*event[:4], event[4] - 1) for event in events]


def test_parquet_gz_loads_with_its_types(store, tmp_path):
    frame = pl.read_csv(io.StringIO(CSV)).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    path = _write(tmp_path / "claims.parquet.gz", gzip.compress(buffer.getvalue()))
    assert _load(store, path, tmp_path) == _without_header(EXPECTED)


def test_format_csv_on_a_csv_gz_decompresses_first(store, tmp_path):
    # before: "looks binary, not a CSV/text file"
    path = _write(tmp_path / "claims.csv.gz", gzip.compress(CSV.encode()))
    assert _load(store, path, tmp_path, format="csv") == EXPECTED


def test_format_names_the_inner_format_of_a_gz_without_one(store, tmp_path):
    path = _write(tmp_path / "export.gz", gzip.compress(CSV.encode()))
    with pytest.raises(SourceError, match=r"export\.gz: cannot tell the format"):
        read_source(path)
    assert _load(store, path, tmp_path, format="csv") == EXPECTED


def test_member_picks_one_log_of_several_and_is_kept_in_the_settings(store, tmp_path):
    other = CSV.replace("c1", "x1").replace("c2", "x2")
    path = _zip(tmp_path / "exports.zip", {"jan/claims.csv": other.encode(), "feb/claims.csv": CSV.encode()})
    assert _load(store, path, tmp_path, member="feb/claims.csv") == EXPECTED
    settings = read_settings(tmp_path / "streams" / "claims.toml")
    assert settings.source.member == "feb/claims.csv"


def test_member_by_its_base_name_where_unique(tmp_path):
    path = _zip(tmp_path / "exports.zip", {"jan/claims.csv": CSV.encode(), "readme.md": b"hello"})
    connector, frame = read_source(path, member="claims.csv")
    assert (connector.name, frame.height) == ("csv", 4)


def test_an_excel_sheet_by_name(store, tmp_path):
    # The log is on the second sheet; the first holds a note.
    book = xlsxwriter.Workbook(tmp_path / "claims.xlsx")
    book.add_worksheet("Summary").write(0, 0, "note")
    when = book.add_format({"num_format": "dd/mm/yyyy hh:mm:ss"})
    events = book.add_worksheet("Events")
    for r, row in enumerate(_log_rows()):
        for c, value in enumerate(row):
            if isinstance(value, datetime):
                events.write_datetime(r, c, value, when)
            else:
                events.write(r, c, value)
    book.close()
    assert _load(store, tmp_path / "claims.xlsx", tmp_path, sheet="Events") == EXPECTED
    assert read_settings(tmp_path / "streams" / "claims.toml").source.sheet == "Events"


# --------------------------------------------------------------------------- Excel values


def test_excel_typed_dates_come_as_datetimes(tmp_path):
    path = _xlsx(tmp_path / "claims.xlsx", _log_rows())
    _, frame = read_source(path)
    assert frame.schema["timestamp"] == pl.Datetime("ms")
    assert frame["timestamp"].to_list()[0] == datetime(2026, 3, 2, 8, 0)
    assert frame["_line"].to_list() == [2, 3, 4, 5]  # header = row 1


def test_excel_mixed_cells_stay_as_written_not_null(tmp_path):
    # 'amount' is a number column with one 'N/A' cell; 'when' mixes date cells and text.
    # fastexcel alone would type 'amount' as a number and turn 'N/A' into null.
    rows = [
        ["case_id", "activity", "when", "amount"],
        ["c1", "Register", datetime(2026, 3, 2, 8, 0), 12.5],
        ["c1", "Close", "2026-03-02 09:30", "N/A"],
    ]
    _, frame = read_source(_xlsx(tmp_path / "claims.xlsx", rows))
    assert frame["amount"].to_list() == ["12.5", "N/A"]
    assert frame["when"].to_list() == ["2026-03-02 08:00:00", "2026-03-02 09:30"]


def test_excel_column_with_values_but_no_header_is_refused(tmp_path):
    rows = [["case_id", "activity", "when", None], ["c1", "A", datetime(2026, 3, 2), "stray"]]
    with pytest.raises(
        SourceError, match=r"sheet 'Events': column 4 of the table holds values but has no header"
    ):
        read_source(_xlsx(tmp_path / "claims.xlsx", rows))


def test_an_old_xls_or_a_text_file_is_no_workbook(tmp_path):
    old = _write(tmp_path / "claims.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    with pytest.raises(
        SourceError, match=r"claims.xls: is an old binary Excel file \(.xls\); save it as .xlsx"
    ):
        read_source(old, "excel")
    text = _write(tmp_path / "claims.xlsx", CSV.encode())
    with pytest.raises(SourceError, match=r"claims.xlsx: is not a readable Excel workbook"):
        read_source(text)


# --------------------------------------------------------------------------- errors


def test_two_logs_in_a_zip_are_refused_with_their_names(tmp_path):
    path = _zip(tmp_path / "exports.zip", {"a.csv": CSV.encode(), "b.csv": CSV.encode(), "notes.md": b"x"})
    with pytest.raises(SourceError) as error:
        read_source(path)
    assert str(error.value) == (
        f"{path}: holds 2 logs (a.csv, b.csv); choose one with --member NAME or [source] member"
    )


def test_a_member_not_there_lists_what_is(tmp_path):
    path = _zip(tmp_path / "exports.zip", {"a.csv": CSV.encode(), "b.csv": CSV.encode()})
    with pytest.raises(SourceError) as error:
        read_source(path, member="c.csv")
    assert str(error.value) == f"{path}: has no member 'c.csv'; it holds a.csv, b.csv"


def test_a_sheet_not_there_lists_the_sheets(tmp_path):
    path = _xlsx(tmp_path / "claims.xlsx", _log_rows(), sheets=("Events", "Notes"))
    with pytest.raises(SourceError) as error:
        read_source(path, sheet="Incidents")
    assert str(error.value) == f"{path}: has no sheet 'Incidents'; its sheets: 'Events', 'Notes'"


def test_a_corrupt_gz_names_the_file(tmp_path):
    data = bytearray(gzip.compress(CSV.encode()))
    data[-8] ^= 0xFF  # the CRC
    path = _write(tmp_path / "claims.csv.gz", bytes(data))
    with pytest.raises(SourceError, match=rf"^{path}: is a corrupt gzip file \(CRC check failed"):
        read_source(path)


def test_a_truncated_zst_names_the_file(tmp_path):
    data = zstd.compress((CSV * 200).encode())
    path = _write(tmp_path / "claims.csv.zst", data[: len(data) // 2])
    with pytest.raises(SourceError, match=rf"^{path}: is a truncated Zstandard file"):
        read_source(path)


def test_a_damaged_zip_member_names_the_member(tmp_path):
    path = _zip(tmp_path / "claims.zip", {"claims.csv": (CSV * 50).encode()})
    data = bytearray(path.read_bytes())
    data[60] ^= 0xFF  # inside the member's compressed data
    path.write_bytes(bytes(data))
    with pytest.raises(SourceError, match=rf"^{path} \(member claims.csv\): "):
        read_source(path)


def test_a_cut_zip_is_damaged(tmp_path):
    path = _zip(tmp_path / "claims.zip", {"claims.csv": CSV.encode()})
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(SourceError, match=rf"^{path}: is a damaged zip archive"):
        read_source(path)


def test_an_inner_error_names_the_container_not_a_temporary_file(tmp_path):
    path = _zip(tmp_path / "claims.zip", {"claims.csv": b'case,activity,ts\n"c1,A,2026-03-02\n'})
    with pytest.raises(SourceError) as error:
        read_source(path)
    assert str(error.value).startswith(f"{path} (member claims.csv): unbalanced quote")


def test_a_zip_bomb_is_refused_by_its_declared_size(tmp_path, monkeypatch):
    # 1 MB of zeros deflates to about 1 KB (over 200 times); the floor is lowered to see it.
    monkeypatch.setattr(compressed, "MIN_LIMIT_BYTES", 64 * 1024)
    path = _zip(tmp_path / "bomb.zip", {"claims.csv": b"0" * (1 << 20)})
    with pytest.raises(
        SourceError, match=r"\(member claims.csv\): declares 1,048,576 bytes .* decompression bomb"
    ):
        read_source(path)


def test_a_gz_bomb_is_cut_while_it_streams_and_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(compressed, "MIN_LIMIT_BYTES", 64 * 1024)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    path = _write(tmp_path / "bomb.csv.gz", gzip.compress(b"0" * (1 << 20)))
    with pytest.raises(SourceError, match=r"bomb.csv.gz: decompresses to more than .* decompression bomb"):
        read_source(path)
    assert list(scratch.iterdir()) == []


def test_a_nested_archive_is_refused(tmp_path):
    inner = gzip.compress(CSV.encode())
    path = _zip(tmp_path / "claims.zip", {"claims.csv.gz": inner})
    with pytest.raises(
        SourceError, match=r"\(member claims.csv.gz\): holds another archive or compressed file \(gzip\)"
    ):
        read_source(path)


def test_a_tar_gz_is_refused_with_what_to_do(tmp_path):
    info = tarfile.TarInfo("claims.csv")
    info.size = len(CSV)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.addfile(info, io.BytesIO(CSV.encode()))
    path = _write(tmp_path / "claims.tar.gz", gzip.compress(buffer.getvalue()))
    with pytest.raises(SourceError, match=r"claims.tar.gz: holds another archive or compressed file \(tar\)"):
        read_source(path)
    plain = _write(tmp_path / "claims.tar", buffer.getvalue())
    with pytest.raises(SourceError, match=r"claims.tar: is a tar archive, which is not read: unpack it"):
        read_source(plain)


# --------------------------------------------------------------------------- options act or are refused


def test_sheet_on_a_csv_is_refused(tmp_path):
    path = tmp_path / "claims.csv"
    path.write_text(CSV)
    with pytest.raises(SettingsError, match=r"\[source\] sheet = 'Events': a csv source has no use for it"):
        read_source(path, sheet="Events")


def test_sheet_with_a_non_excel_format_is_refused_in_settings():
    data = {"stream": {"name": "c"}, "source": {"path": "x.csv", "format": "csv", "sheet": "Events"}}
    with pytest.raises(SettingsError, match=r"\[source\] sheet = 'Events': only an Excel source has sheets"):
        settings_from_dict(data)


def test_member_on_a_file_that_is_no_zip_is_refused(tmp_path):
    plain = tmp_path / "claims.csv"
    plain.write_text(CSV)
    with pytest.raises(SettingsError, match=r"\[source\] member = 'a.csv': .* is not a zip archive"):
        read_source(plain, member="a.csv")
    packed = _write(tmp_path / "claims.csv.gz", gzip.compress(CSV.encode()))
    with pytest.raises(SettingsError, match=r"is a gzip file, not a zip archive"):
        read_source(packed, member="a.csv")


def test_delimiter_on_a_parquet_is_refused(tmp_path):
    path = tmp_path / "claims.parquet"
    pl.read_csv(io.StringIO(CSV)).write_parquet(path)
    with pytest.raises(
        SettingsError, match=r"\[source\] delimiter = ';': a parquet source has no use for it"
    ):
        read_source(path, delimiter=";")


# --------------------------------------------------------------------------- the command line


def test_cli_member_and_exit_code_of_a_corrupt_archive(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _zip(tmp_path / "exports.zip", {"a.csv": CSV.encode(), "b.csv": CSV.encode()})
    runner = CliRunner()
    refused = runner.invoke(app, ["init", "claims", "--source", "exports.zip"])
    assert refused.exit_code == 3
    assert "choose one with --member NAME" in refused.output
    done = runner.invoke(app, ["init", "claims", "--source", "exports.zip", "--member", "b.csv"])
    assert done.exit_code == 0, done.output
    assert 'member = "b.csv"' in (tmp_path / "streams" / "claims.toml").read_text()
    _write(tmp_path / "bad.csv.gz", gzip.compress(CSV.encode())[:30])
    cut = runner.invoke(app, ["init", "bad", "--source", "bad.csv.gz"])
    assert cut.exit_code == 3
    assert "bad.csv.gz: is a truncated gzip file" in cut.output
