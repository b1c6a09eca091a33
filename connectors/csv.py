"""CSV connector: delimited text in, the raw frame out (see `connectors.base`).

`read_csv(path)` returns one row per record, every source column as String exactly as read
(an empty field is ``""``; a field a short record does not have is null), plus:

- ``_line`` (UInt64): the physical line where the record starts (header = line 1), counting
  the newlines inside quoted fields of earlier records;
- ``_field_count`` (UInt32): how many fields the record has. It equals the header's count for
  a well-formed record; the pipeline rejects the others ("expected N fields, found M");
- ``_extra_fields`` (String): for a record with more fields than the header, its surplus
  values joined by the delimiter; null otherwise. Such records are never truncated or dropped.

A blank line inside the data is a record of one empty field (``_field_count`` 1), as RFC 4180
reads it, so the pipeline reports it with its line rather than it vanishing.

Delimiter (``,`` ``;`` tab ``|``) and encoding (UTF-8, UTF-8/UTF-16 with BOM, else cp1252 or
Latin-1; UTF-8 mixed with other bytes is an error, not guessed) are detected unless given;
`sniff_csv` / `read_csv_with_dialect` report what was used. Parsing is polars'
multithreaded reader on the whole file in memory; the record bookkeeping is done with byte
counts and vectorised numpy/polars expressions, never a Python loop over rows (except to
locate the line of a parse error, on the failure path).
"""

from __future__ import annotations

import codecs
import csv
import io
import mmap
import os
import stat
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from connectors.base import EXTRA_FIELDS_COLUMN, FIELD_COUNT_COLUMN, LINE_COLUMN, RESERVED_COLUMNS
from pipeline.errors import SourceError, first_line

CANDIDATE_DELIMITERS = (",", ";", "\t", "|")
SAMPLE_BYTES = 64 * 1024  # what delimiter sniffing and the header look at
SAMPLE_RECORDS = 200
BINARY_PROBE_BYTES = 8 * 1024
MAX_EXTRA_FIELDS = 1000  # beyond this many surplus fields the delimiter is wrong, not the record
UTF8_CODECS = ("utf-8", "utf-8-sig")
# Bytes cp1252 leaves undefined: a file holding them is read as Latin-1, which maps every byte.
CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
# C0 control bytes besides tab, LF, FF and CR: rare in text, common in binary files.
CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13))

NEWLINE, QUOTE = ord("\n"), ord('"')
COUNT_BLOCK = 1 << 24  # bytes compared at a time when counting one byte (_count_byte)
ASCII_BLOCK = 1 << 20  # bytes looked at a time for the first non-ASCII one (in cache)


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file was read: worth printing and storing with the stream's settings."""

    delimiter: str
    encoding: str  # a Python codec name: 'utf-8', 'cp1252', 'iso8859-1', 'utf-16', ...
    has_bom: bool

    def describe(self) -> str:
        shown = {"\t": "tab", ",": "','", ";": "';'", "|": "'|'"}.get(self.delimiter, repr(self.delimiter))
        return f"delimiter {shown}, encoding {self.encoding}" + (" with BOM" if self.has_bom else "")


# --------------------------------------------------------------------------------------------
# Public API


def sniff_csv(path: Path, *, delimiter: str | None = None, encoding: str | None = None) -> CsvDialect:
    """The dialect `read_csv` would use for `path` (given options win over detection).

    Reads the whole file: the encoding is judged by its first non-ASCII bytes, wherever they
    are. To read and learn the dialect in one pass, use `read_csv_with_dialect`.
    """
    dialect, _ = _prepare(Path(path), _read_bytes(Path(path)), delimiter, encoding)
    return dialect


def read_csv(path: Path, *, delimiter: str | None = None, encoding: str | None = None) -> pl.DataFrame:
    """The raw frame of a CSV file; see the module docstring for its columns."""
    return read_csv_with_dialect(path, delimiter=delimiter, encoding=encoding)[0]


def read_csv_with_dialect(
    path: Path, *, delimiter: str | None = None, encoding: str | None = None
) -> tuple[pl.DataFrame, CsvDialect]:
    """`read_csv` plus the dialect it used, reading the file once."""
    path = Path(path)
    dialect, data = _prepare(path, _read_bytes(path), delimiter, encoding)
    names = _header(path, data, dialect.delimiter)
    _check_header(path, names)
    quoted = data.find(b'"') != -1  # looked for once (stops at the first; a file without any reads it all)
    if quoted:
        _check_quotes_balanced(path, data)
    values, wide = _parse(path, data, dialect.delimiter, len(names))
    if values.height == 0:
        raise SourceError(path, "has a header but no rows")
    return _annotate(path, data, values, names, dialect.delimiter, wide, quoted), dialect


# --------------------------------------------------------------------------------------------
# Bytes, encoding and dialect


def _read_bytes(path: Path) -> bytes | mmap.mmap:
    """The file's bytes: memory-mapped, not read into memory (10M claims events, 883 MB: the
    read cost 0.36 CPU-s, single-threaded, and 0.75 GB of peak memory), where it can be.
    Everything here reads the bytes through slices, find and numpy, which both types have;
    polars parses a mapped file from its path (_parse). As connectors/xes.py: a file cut
    shorter by another program while it is read stops the process (SIGBUS)."""
    try:
        with path.open("rb") as f:
            info = os.fstat(f.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size > 0:
                try:
                    return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                except (OSError, ValueError):  # a file system that cannot map it: read it
                    pass
            data = f.read()  # a pipe, say
    except OSError as error:
        raise SourceError(path, f"cannot be read: {error.strerror or error}") from error
    if not data:
        raise SourceError(path, "is empty (0 bytes)")
    return data


def _prepare(path: Path, raw: bytes, delimiter: str | None, encoding: str | None) -> tuple[CsvDialect, bytes]:
    """The dialect and the file as UTF-8 bytes without BOM (what polars parses)."""
    codec, has_bom = _codec(path, encoding) if encoding else _detect_encoding(path, raw)
    if not codec.startswith(("utf-16", "utf-32")):
        _check_not_binary(path, raw[:BINARY_PROBE_BYTES])
    data, bom_char = _to_utf8(path, raw, codec)
    _check_not_binary(path, data[:BINARY_PROBE_BYTES])
    if not data or _blank(data):
        raise SourceError(path, "is empty (no text besides blank lines)")
    if data.find(b"\n") == -1 and data.find(b"\r") != -1:
        raise SourceError(
            path, "uses CR-only (classic Mac) line endings; save it with LF or CRLF line endings"
        )
    if delimiter:
        _check_delimiter(path, delimiter)
    else:
        delimiter = _sniff_delimiter(_sample_text(data, SAMPLE_BYTES), complete=len(data) <= SAMPLE_BYTES)
    return CsvDialect(delimiter=delimiter, encoding=codec, has_bom=has_bom or bom_char), data


def _blank(data: bytes | mmap.mmap) -> bool:
    """Whether `data` holds white space only (isspace stops at the first other byte; the
    whole file is copied only when its start is blank)."""
    return data[:SAMPLE_BYTES].isspace() and (len(data) <= SAMPLE_BYTES or data[:].isspace())


def _codec(path: Path, encoding: str) -> tuple[str, bool]:
    try:
        return codecs.lookup(encoding).name, False
    except LookupError as error:
        raise SourceError(
            path, f"unknown encoding {encoding!r} (try 'utf-8', 'cp1252' or 'latin-1')"
        ) from error


def _detect_encoding(path: Path, raw: bytes) -> tuple[str, bool]:
    """(codec, has BOM): BOM first, then UTF-8 if the non-ASCII bytes decode as UTF-8, else cp1252/Latin-1."""
    head = raw[:4]
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", True
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32", True
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", True
    first = _first_non_ascii(raw)
    if first is None:
        return "utf-8", False
    # Judge by the first non-ASCII stretch, wherever it is: exports are often pure ASCII for
    # many thousand rows before the first 'Müller'. A later invalid byte is caught by the parse.
    window = raw[first : first + SAMPLE_BYTES]
    try:
        codecs.getincrementaldecoder("utf-8")().decode(window, final=first + SAMPLE_BYTES >= len(raw))
        return "utf-8", False
    except UnicodeDecodeError as bad:
        if bad.start > 0:  # valid UTF-8 characters came first: reading it all as cp1252 would garble them
            line = raw[: first + bad.start].count(b"\n") + 1
            raise SourceError(
                path,
                f"mixes encodings: UTF-8 text, then bytes that are not UTF-8 on line {line}; "
                "pass encoding=... to read the whole file in one encoding",
            ) from bad
    if any(raw.find(byte) != -1 for byte in CP1252_UNDEFINED):
        return "iso8859-1", False
    return "cp1252", False


def _first_non_ascii(raw: bytes) -> int | None:
    """Where the first byte over 127 is (None: the file is ASCII). The largest byte of a block
    at a time: numpy's max takes half the time of bytes.isascii (883 MB: 0.05 against 0.11
    CPU-s), and a file that is not ASCII needs no comparison of its every byte."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    for start in range(0, len(buf), ASCII_BLOCK):
        block = buf[start : start + ASCII_BLOCK]
        if block.max() >= 0x80:
            return start + int(np.argmax(block >= 0x80))
    return None


def _check_not_binary(path: Path, head: bytes) -> None:
    # NUL never occurs in text; other control bytes only rarely, so it takes many of them.
    controls = len(head) - len(head.translate(None, CONTROL_BYTES))
    if b"\x00" in head or controls > max(16, len(head) // 20):
        raise SourceError(path, "looks binary, not a CSV/text file")


def _to_utf8(path: Path, raw: bytes, codec: str) -> tuple[bytes, bool]:
    """UTF-8 bytes without a BOM, and whether there was one."""
    if codec in UTF8_CODECS:
        if raw[: len(codecs.BOM_UTF8)] == codecs.BOM_UTF8:
            return raw[len(codecs.BOM_UTF8) :], True
        return raw, False
    # Polars parses UTF-8 only, so any other encoding is transcoded in memory: a big
    # non-UTF-8 file pays one decode/encode pass and about twice its size in memory.
    try:
        text = raw[:].decode(codec)
    except UnicodeDecodeError as error:
        line = raw[: error.start].decode(codec, errors="replace").count("\n") + 1
        raise SourceError(path, f"cannot be decoded as {codec} at line {line}: {error.reason}") from error
    has_bom = text.startswith("\ufeff")
    return text[1 if has_bom else 0 :].encode("utf-8"), has_bom


def _check_delimiter(path: Path, delimiter: str) -> None:
    # Letters and digits are refused too: they would clash with the synthetic header of _parse_wide.
    if len(delimiter) != 1 or not delimiter.isascii() or delimiter.isalnum() or delimiter in '"\r\n':
        raise SourceError(
            path,
            f"delimiter {delimiter!r} cannot be used: expected one ASCII punctuation or space "
            "character other than a quote, e.g. ',' ';' '\\t' '|'",
        )


def _sample_text(data: bytes, size: int) -> str:
    # The incremental decoder leaves a multi-byte character cut by the sample end out.
    return codecs.getincrementaldecoder("utf-8")("replace").decode(data[:size], final=size >= len(data))


def _sample_records(sample: str, delimiter: str, *, complete: bool, limit: int) -> list[list[str]]:
    """Up to `limit` whole records of `sample`; the last one is left out if the sample may have cut it."""
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
    records: list[list[str]] = []
    try:
        for record in reader:
            records.append(record)
            if len(records) > limit:
                return records[:limit]
    except csv.Error:
        # A sample can end inside a quoted field; the records before it are still whole.
        # A real quoting error is reported with its line by the full parse.
        return records
    return records if complete else records[:-1]


def _sniff_delimiter(sample: str, *, complete: bool) -> str:
    """The candidate giving the header's field count on every sampled record (the widest such)."""
    best: tuple[tuple[bool, float, int, int], str] | None = None
    for rank, candidate in enumerate(CANDIDATE_DELIMITERS):
        records = [
            r for r in _sample_records(sample, candidate, complete=complete, limit=SAMPLE_RECORDS) if r
        ]
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        rows = records[1:]
        share = sum(len(r) == width for r in rows) / len(rows) if rows else 1.0
        key = (share == 1.0, share, width, -rank)
        if best is None or key > best[0]:
            best = (key, candidate)
    return best[1] if best else ","  # no candidate splits the header: one column


# --------------------------------------------------------------------------------------------
# Header and quoting checks


def _header(path: Path, data: bytes, delimiter: str) -> list[str]:
    """The header's names as written (polars would rename duplicates before we could see them)."""
    size = SAMPLE_BYTES
    while True:
        complete = size >= len(data)
        records = _sample_records(_sample_text(data, size), delimiter, complete=complete, limit=1)
        if records:
            if not records[0]:
                raise SourceError(path, "line 1 (the header) is blank")
            return records[0]
        if complete:
            raise SourceError(path, "has no readable header line (check the quoting of line 1)")
        size *= 16


def _check_header(path: Path, names: list[str]) -> None:
    empty = [i for i, name in enumerate(names, start=1) if not name.strip()]
    if empty:
        which = ", ".join(str(i) for i in empty)
        raise SourceError(path, f"header has an empty column name (column {which} of {len(names)})")
    seen: dict[str, int] = {}
    repeats: list[str] = []
    for i, name in enumerate(names, start=1):
        if name in seen:
            repeats.append(f"{name!r} (columns {seen[name]} and {i})")
        seen.setdefault(name, i)
    if repeats:
        raise SourceError(path, f"header repeats column names: {', '.join(repeats)}")
    reserved = [name for name in names if name in RESERVED_COLUMNS]
    if reserved:
        raise SourceError(path, f"header uses reserved column name(s) {', '.join(map(repr, reserved))}")


def _check_quotes_balanced(path: Path, data: bytes) -> None:
    """An odd number of quote characters means a quoted field never closes (polars would fail vaguely)."""
    if _count_byte(data, QUOTE) % 2 == 0:
        return
    buf = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(buf == QUOTE)
    newlines = np.flatnonzero(buf == NEWLINE)
    # A newline with an even number of quotes before it ends a record; the last such one is
    # where the record holding the unclosed quote begins.
    ends = np.flatnonzero(np.searchsorted(quotes, newlines) % 2 == 0)
    start_line = int(ends[-1]) + 2 if ends.size else 1
    raise SourceError(
        path,
        f"unbalanced quote: a quoted field in the record starting on line {start_line} is never closed "
        "(or a field holds a stray '\"')",
    )


# --------------------------------------------------------------------------------------------
# Parsing


def _polars_read(data: bytes | Path, delimiter: str) -> pl.DataFrame:
    return pl.read_csv(
        data,
        separator=delimiter,
        has_header=True,
        infer_schema=False,  # every column String: the pipeline parses types later
        empty_string_is_null=False,  # keep "" apart from a missing field (null)
        truncate_ragged_lines=False,  # a longer record must fail here, never be cut
        quote_char='"',
        glob=False,
    )


def _polars_read_mapped(path: Path, data: mmap.mmap, delimiter: str) -> pl.DataFrame:
    """Polars parsing the file from its path (it maps the file itself: no copy), which must
    still be the bytes mapped here, or the counts made on them would not match its records."""
    values = _polars_read(path, delimiter)
    if path.stat().st_size != len(data):
        raise SourceError(path, "changed while it was read (another program writing it?); load it again")
    return values


def _is_ragged(error: BaseException) -> bool:
    return "more fields than defined" in str(error)


def _parse(path: Path, data: bytes, delimiter: str, width: int) -> tuple[pl.DataFrame, bool]:
    """(values, wide): the header-named frame, or on records longer than the header a frame
    of positional columns c0..cW-1 wide enough for the longest one (header row dropped)."""
    try:
        if isinstance(data, mmap.mmap):  # a mapped file (_read_bytes) is its own UTF-8 text
            return _polars_read_mapped(path, data, delimiter), False
        return _polars_read(data, delimiter), False
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as error:
        if not _is_ragged(error):
            raise _diagnose(path, data, delimiter, error) from error
    return _parse_wide(path, data, delimiter, width), True


def _parse_wide(path: Path, data: bytes, delimiter: str, width: int) -> pl.DataFrame:
    # Polars takes the column count from the header, so a synthetic header wider than the
    # longest record lets it read every field; costs one copy and one more parse, only here.
    # Most ragged files have one stray delimiter, so start at one spare column and double:
    # a wider first guess would cost a full column of "" per spare column.
    columns = width + 1
    while columns <= width + MAX_EXTRA_FIELDS:
        header = delimiter.join(f"c{i}" for i in range(columns)).encode() + b"\n"
        try:
            return _polars_read(header + data, delimiter).slice(1)
        except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as error:
            if not _is_ragged(error):
                raise _diagnose(path, data, delimiter, error) from error
        columns = width + 2 * (columns - width)
    fields, line = _widest_record(data, delimiter)
    raise SourceError(
        path,
        f"the record on line {line} has {fields} fields but the header has {width}; "
        "is the delimiter right? (pass delimiter=...)",
    )


def _widest_record(data: bytes, delimiter: str) -> tuple[int, int]:
    """(fields, start line) of the record with the most fields, judged by quote parity."""
    buf = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(buf == QUOTE)
    newlines = np.flatnonzero(buf == NEWLINE)
    delims = np.flatnonzero(buf == ord(delimiter))
    record_end = np.searchsorted(quotes, newlines) % 2 == 0
    ends = newlines[record_end]
    outside = delims[np.searchsorted(quotes, delims) % 2 == 0]
    per_record = np.bincount(np.searchsorted(ends, outside), minlength=1)
    widest = int(np.argmax(per_record))
    line = int(np.flatnonzero(record_end)[widest - 1]) + 2 if widest else 1
    return int(per_record[widest]) + 1, line


def _diagnose(path: Path, data: bytes, delimiter: str, error: BaseException) -> SourceError:
    """A SourceError naming the line, for a parse polars refused (this path may loop over rows)."""
    data = data[:]  # bytes (of a mapped file, a copy: this path may be slow)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as bad:
        line = data.count(b"\n", 0, bad.start) + 1
        return SourceError(
            path, f"is not valid UTF-8 at line {line} (mixed encodings?); pass encoding=... e.g. 'cp1252'"
        )
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=delimiter, strict=True)
    try:
        deque(reader, maxlen=0)
    except csv.Error as bad:
        return SourceError(path, f"malformed CSV at line {reader.line_num}: {bad}")
    return SourceError(path, f"cannot be parsed as CSV: {first_line(error)}")


# --------------------------------------------------------------------------------------------
# Record bookkeeping: _line, _field_count, _extra_fields


def _annotate(
    path: Path, data: bytes, values: pl.DataFrame, names: list[str], delimiter: str, wide: bool, quoted: bool
) -> pl.DataFrame:
    """`quoted`: whether the file holds a quote character (else no field holds a newline or
    a delimiter)."""
    width = len(names)
    if not wide and values.width != width:
        raise SourceError(path, f"header parsed as {values.width} columns, expected {width}")
    header_lines = 1 + sum(name.count("\n") for name in names)
    spans = _record_spans(path, data, values, header_lines) if quoted else None
    if spans is None:  # every record one line
        starts = np.arange(header_lines + 1, header_lines + 1 + values.height, dtype=np.int64)
    else:
        starts = np.cumsum(spans) - spans + header_lines + 1
    counts = _field_counts(data, values, names, delimiter, starts, spans, wide, quoted)
    if wide:  # positional columns: the header's names, then the surplus ones (dropped below)
        surplus = [f"\x00surplus{k}" for k in range(values.width - width)]
        values = values.select(
            pl.col(old).alias(new) for old, new in zip(values.columns, names + surplus, strict=True)
        )
    return _with_bookkeeping(values, names, delimiter, starts, counts)


def _record_spans(path: Path, data: bytes, values: pl.DataFrame, header_lines: int) -> np.ndarray | None:
    """Physical lines each record covers: 1 + the newlines inside its quoted fields; None when
    every record is one line. (Called only for a file holding a quote: without one no field
    holds a newline, and polars makes a record of every line, a blank one too, so the
    newlines need no count: 10M claims events, 0.15 CPU-seconds.)"""
    total_lines = _count_byte(data, NEWLINE) + (0 if data[-1:] == b"\n" else 1)
    if header_lines + values.height == total_lines:
        return None  # no field holds a newline
    inner = values.select(pl.sum_horizontal(pl.all().str.count_matches("\n", literal=True))).to_series()
    spans = inner.cast(pl.Int64).to_numpy() + 1
    if header_lines + int(spans.sum()) != total_lines:
        raise SourceError(
            path,
            f"its {values.height} records do not add up to its {total_lines} lines; "
            "is the quoting malformed?",
        )
    return spans


def _field_counts(
    data: bytes,
    values: pl.DataFrame,
    names: list[str],
    delimiter: str,
    starts: np.ndarray,
    spans: np.ndarray | None,
    wide: bool,
    quoted: bool,
) -> np.ndarray | None:
    """Fields per record, or None when every record has exactly the header's count. `starts`:
    each record's first line (1 = the header's); `spans`: its lines, None when one each.

    Fields = 1 + delimiters in the record's bytes - delimiters inside its values (quoted).
    Polars pads a short record with "" so the values alone cannot tell "a,b," from "a,b".
    But they can tell that no record is short: then no value of the last column is "" (a
    longer record failed the parse or made it `wide`), and no delimiter is counted (10M
    claims events: 0.2 CPU-seconds, a pass over the file's bytes).
    """
    width = len(names)
    if not wide and not (values.to_series(width - 1) == "").any():
        return None
    inside = _delimiters_in_values(values, delimiter, quoted)
    header_inside = sum(name.count(delimiter) for name in names)
    outside = _count_byte(data, ord(delimiter)) - header_inside - (width - 1) - int(inside.sum())
    if not wide and outside == values.height * (width - 1):
        return None  # none is longer (polars would have failed), so none is shorter either
    per_line = _delimiters_per_line(data, delimiter)
    first = starts - 1  # 0-based line index where each record starts
    return 1 + per_line[first + (1 if spans is None else spans)] - per_line[first] - inside


def _count_byte(data: bytes, byte: int) -> int:
    """How many times `byte` occurs in `data`: numpy compares a block at a time several times
    faster than bytes.count (88 MB: 0.03 s against 0.23 s), in memory of one block."""
    buf = np.frombuffer(data, dtype=np.uint8)
    return sum(
        int(np.count_nonzero(buf[i : i + COUNT_BLOCK] == byte)) for i in range(0, len(buf), COUNT_BLOCK)
    )


def _delimiters_in_values(values: pl.DataFrame, delimiter: str, quoted: bool) -> np.ndarray:
    if not quoted:  # unquoted fields cannot hold the delimiter
        return np.zeros(values.height, dtype=np.int64)
    per_record = values.select(pl.sum_horizontal(pl.all().str.count_matches(delimiter, literal=True)))
    return per_record.to_series().cast(pl.Int64).to_numpy()


def _delimiters_per_line(data: bytes, delimiter: str) -> np.ndarray:
    """Cumulative delimiter count: element j = delimiters in physical lines 0..j-1."""
    buf = np.frombuffer(data, dtype=np.uint8)
    line_ends = np.flatnonzero(buf == NEWLINE)
    if data[-1:] != b"\n":
        line_ends = np.append(line_ends, len(buf))
    delims = np.flatnonzero(buf == ord(delimiter))
    return np.concatenate(([0], np.searchsorted(delims, line_ends, side="right")))


def _with_bookkeeping(
    values: pl.DataFrame, names: list[str], delimiter: str, starts: np.ndarray, counts: np.ndarray | None
) -> pl.DataFrame:
    width = len(names)
    line = pl.Series(LINE_COLUMN, starts, dtype=pl.UInt64)
    if counts is None:  # every record well formed: the usual case, and the one kept fast
        return values.hstack(
            [
                _chunked_like(values, series)
                for series in (
                    line,
                    pl.repeat(width, values.height, dtype=pl.UInt32, eager=True).alias(FIELD_COUNT_COLUMN),
                    pl.repeat(None, values.height, dtype=pl.String, eager=True).alias(EXTRA_FIELDS_COLUMN),
                )
            ]
        )
    found = pl.Series(FIELD_COUNT_COLUMN, counts, dtype=pl.UInt32)
    # A field the record does not have is null, not the "" polars pads it with. (pl.nth, as
    # pl.col would read a name like "^a.*$" as a pattern.)
    present = [pl.when(found > i).then(pl.nth(i)).alias(name) for i, name in enumerate(names)]
    return values.select(*present, line, found, _extra_fields(values, width, delimiter, counts))


def _chunked_like(values: pl.DataFrame, series: pl.Series) -> pl.Series:
    """`series` (one chunk) cut where the columns of `values` are (polars parses a file in
    chunks). A frame whose columns are chunked alike goes to Arrow (the load's handoff to
    DuckDB) as one record batch a chunk, without a copy; a column in one piece beside them made
    polars copy every column into one piece first (10M claims events: 0.7 CPU-seconds, and the
    load's peak memory 120 MB higher)."""
    lengths = [len(chunk) for chunk in values.to_series(0).get_chunks()]
    if len(lengths) < 2:
        return series
    starts = np.cumsum(lengths) - lengths
    return pl.concat([series.slice(int(s), n) for s, n in zip(starts, lengths, strict=True)], rechunk=False)


def _extra_fields(values: pl.DataFrame, width: int, delimiter: str, counts: np.ndarray) -> pl.Series:
    """The surplus values of each longer record joined by the delimiter; null for the others."""
    extra = pl.repeat(None, values.height, dtype=pl.String, eager=True).alias(EXTRA_FIELDS_COLUMN)
    longer = np.flatnonzero(counts > width)
    if longer.size == 0:
        return extra
    # Built on the few longer records only: list expressions over every row are slow.
    surplus = values[longer, width:]
    found = pl.Series(counts[longer])
    joined = surplus.select(
        pl.concat_list([pl.when(found > width + k).then(pl.col(c)) for k, c in enumerate(surplus.columns)])
        .list.drop_nulls()
        .list.join(delimiter)
    ).to_series()
    return extra.scatter(longer, joined)
