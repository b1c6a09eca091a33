"""Excel connector: one sheet of a workbook in, the raw frame out (see `connectors.base`).

- Read by fastexcel (calamine, in Rust): ``.xlsx`` and ``.xlsm``. The first sheet, or the one
  named by `--sheet` / ``[source] sheet``; a sheet that is not there is an error listing the
  sheets the workbook has.
- The first row of the sheet's used range is the header. ``_line`` (UInt64) is the row
  number counted from that header (header = 1): the sheet's own row number when the table
  starts in row 1, as exports do.
- Values keep their cell types: a date-formatted column is a naive Datetime (read in the
  stream's time zone, as any naive time), numbers Float64, text String, booleans Boolean.
  A column is typed from all of its cells; one whose cells mix types (dates and text,
  numbers and 'N/A') comes as text, every cell as written (a date as '2026-03-02 08:00:00'):
  a cell is never turned into null because it does not fit the column's type.
- A column without a header is refused when it holds values, and left out when it is empty
  (an export's formatting often reaches past its table).
- A workbook is a zip: one whose parts declare an absurd unpacked size is refused before
  calamine opens it (a decompression bomb; see `connectors.compressed.inflation_limit`).
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import polars as pl

from connectors.base import LINE_COLUMN, RESERVED_COLUMNS, check_not_empty
from connectors.compressed import MAX_RATIO, inflation_limit
from pipeline.errors import SourceError, first_line

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 (.xls) and other OLE documents


def read_excel(path: Path, sheet: str = "") -> pl.DataFrame:
    """The raw frame of one sheet (the first unless `sheet` is given); see the module docstring."""
    import fastexcel

    path = Path(path)
    reader = _open(path)
    names = list(reader.sheet_names)
    if sheet and sheet not in names:
        raise SourceError(path, f"has no sheet {sheet!r}; its sheets: {', '.join(map(repr, names))}")
    if not names:
        raise SourceError(path, "is a workbook without sheets")
    chosen = sheet or names[0]
    where = f"sheet {chosen!r}"
    try:
        table = reader.load_sheet(chosen, schema_sample_rows=None)
        batch, errors = table.to_arrow_with_errors()
        if errors is not None and errors.errors:
            # Cells that do not fit their column's guessed type: read those columns as text.
            columns = table.available_columns()
            as_text = {columns[e.position[1]].name: "string" for e in errors.errors}
            table = reader.load_sheet(chosen, schema_sample_rows=None, dtypes=as_text)
            batch = table.to_arrow()
        generated = {c.name for c in table.available_columns() if c.column_name_from == "generated"}
    except fastexcel.FastExcelError as error:
        raise SourceError(path, f"{where} cannot be read: {first_line(error)}") from error
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    return _checked(path, where, frame, generated)


def _open(path: Path):
    import fastexcel

    _check_parts(path)
    # fastexcel logs a warning for every column it finds no value in; the load says what matters.
    logging.getLogger("fastexcel").setLevel(logging.ERROR)
    try:
        return fastexcel.read_excel(path)
    except fastexcel.FastExcelError as error:
        raise SourceError(
            path, f"is not a readable Excel workbook (damaged, or another format?): {first_line(error)}"
        ) from error


def _check_parts(path: Path) -> None:
    check_not_empty(path)
    size = path.stat().st_size
    with open(path, "rb") as file:
        if file.read(len(OLE_MAGIC)) == OLE_MAGIC:
            raise SourceError(
                path, "is an old binary Excel file (.xls); save it as .xlsx or CSV and load that"
            )
    try:
        with zipfile.ZipFile(path) as workbook:
            declared = sum(info.file_size for info in workbook.infolist())
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise SourceError(
            path,
            f"is not a readable Excel workbook (an .xlsx is a zip, and this is not one): {first_line(error)}",
        ) from error
    if declared > inflation_limit(size):
        raise SourceError(
            path,
            f"declares {declared:,} bytes unpacked from {size:,} (over {MAX_RATIO} times, and over "
            "256 MiB): refused as a likely decompression bomb",
        )


def _checked(path: Path, where: str, frame: pl.DataFrame, generated: set[str]) -> pl.DataFrame:
    if frame.width == 0:
        raise SourceError(path, f"{where} is empty")
    unnamed = [name for name in frame.columns if name in generated]
    holding = [frame.columns.index(n) + 1 for n in unnamed if frame[n].null_count() < frame.height]
    if holding:
        which = ", ".join(str(i) for i in holding)
        raise SourceError(path, f"{where}: column {which} of the table holds values but has no header")
    frame = frame.drop(unnamed)
    reserved = [name for name in frame.columns if name in RESERVED_COLUMNS]
    if reserved:
        raise SourceError(path, f"{where} uses reserved column name(s) {', '.join(map(repr, reserved))}")
    if frame.height == 0:
        raise SourceError(path, f"{where} has a header but no rows")
    return frame.with_columns(pl.int_range(2, frame.height + 2, dtype=pl.UInt64).alias(LINE_COLUMN))
