"""Parquet connector: the file's columns with their stored types, plus ``_line`` (1-based row number).

See `connectors.base` for the contract.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from connectors.base import LINE_COLUMN
from pipeline.errors import SourceError


def read_parquet(path: Path) -> pl.DataFrame:
    """The raw frame of a Parquet file; `SourceError` if it is empty, not Parquet or truncated."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise SourceError(path, f"cannot be read: {error.strerror or error}") from error
    if size == 0:
        raise SourceError(path, "is empty (0 bytes)")
    try:
        # glob=False: a '[' or '*' in a file name is part of the name, not a pattern.
        frame = pl.read_parquet(path, glob=False, hive_partitioning=False)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SourceError(
            path, f"is not a readable Parquet file (truncated or another format?): {detail}"
        ) from error
    if LINE_COLUMN in frame.columns:
        raise SourceError(path, f"has a column named {LINE_COLUMN!r}, which is reserved")
    if frame.height == 0:
        raise SourceError(path, "has no rows")
    return frame.with_columns(pl.int_range(1, frame.height + 1, dtype=pl.UInt64).alias(LINE_COLUMN))
