"""The contract every file connector fulfils.

A file connector turns one source file into a *raw* polars DataFrame:
- one row per source record (event), columns named as in the source
  (XES keys such as ``case:concept:name`` are kept verbatim);
- values as read: strings, numbers or datetimes, never repaired;
- a ``_line`` column (UInt64): where the record is in the file, for error messages and the
  rejects table (CSV: physical line where the record starts, header = line 1; JSON Lines:
  line number; Parquet: row number, 1-based; XES: 1-based event number in document order;
  OCEL: 1-based event number).

It raises `pipeline.errors.SourceError(path, message)` for anything that is not a readable
log of its format: empty, binary, truncated, malformed, or unsafe (entity expansion).
Mapping raw columns to canonical ones happens later, in the pipeline, not here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

LINE_COLUMN = "_line"
FIELD_COUNT_COLUMN = "_field_count"  # CSV: fields the record really has
EXTRA_FIELDS_COLUMN = "_extra_fields"  # CSV: surplus values of a record longer than the header
# Bookkeeping columns a connector may add; a source column may not carry these names.
RESERVED_COLUMNS = (LINE_COLUMN, FIELD_COUNT_COLUMN, EXTRA_FIELDS_COLUMN)


@dataclass(frozen=True)
class BatchedFrame:
    """A source too large to hold at once, read in batches of raw rows.

    `head` is the first batch (what column and timestamp detection look at); `batches()`
    reads the whole source again from its start, one raw frame (with `_line`) at a time;
    `height` is the number of records in all. A connector returns one when the source holds
    more rows than the batch size asked for (smaller sources come as one frame), or when it
    has a `relation`.

    `relation`, when given, is a DuckDB table expression that reads the same raw rows (the
    source's columns and `_line`) straight from the file: the load then reads the source
    through DuckDB in one statement, not batch by batch through Python, and `head` only
    serves detection."""

    head: pl.DataFrame
    height: int
    batches: Callable[[], Iterator[pl.DataFrame]]
    relation: str = ""


@dataclass(frozen=True)
class FileConnector:
    """A declared file connector: its name, the file suffixes it claims, and its reader."""

    name: str
    suffixes: tuple[str, ...]
    read: Callable[..., pl.DataFrame]
    options: tuple[str, ...] = field(default=())  # keyword options `read` accepts
    description: str = ""
    # read_batches(path, batch_rows, **options) -> pl.DataFrame | BatchedFrame: a reader that
    # streams a large source in batches (bounded memory), where the format allows it
    read_batches: Callable[..., pl.DataFrame | BatchedFrame] | None = None

    def claims(self, path: Path) -> bool:
        name = path.name.lower()
        return any(name.endswith(s) for s in self.suffixes)


def check_not_empty(path: Path) -> None:
    """A SourceError when `path` cannot be read or holds nothing (0 bytes): said before a
    reader of a binary format gives its own, less clear, error."""
    from pipeline.errors import SourceError

    try:
        size = path.stat().st_size
    except OSError as error:
        raise SourceError(path, f"cannot be read: {error.strerror or error}") from error
    if size == 0:
        raise SourceError(path, "is empty (0 bytes)")
