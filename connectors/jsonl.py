"""JSON Lines connector: one JSON object per line in, the raw frame out (see `connectors.base`).

- Values keep their JSON types (Int64, Float64, String, Boolean; a key that is null on every
  line is a Null column). A key whose values mix types across lines (1 and "1") becomes
  String, as polars unifies it. Every line is looked at to find the keys, not a sample.
- Nested objects and arrays are kept as JSON text in a String column (re-serialised by polars,
  e.g. ``{"x": 1}``), so every column is a plain value the pipeline can store.
- ``_line`` (UInt64) is the line number; blank lines are skipped but counted.
- A line that is not a JSON object means a broken export: `SourceError` naming the line.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import numpy as np
import polars as pl

from connectors.base import LINE_COLUMN
from pipeline.errors import SourceError, first_line

BINARY_PROBE_BYTES = 8 * 1024
SNIPPET_CHARS = 60


def read_jsonl(path: Path) -> pl.DataFrame:
    """The raw frame of a JSON Lines file (`.jsonl`, `.ndjson`, or `.json` holding JSON Lines)."""
    path = Path(path)
    data = _read_text_bytes(path)
    frame = _parse(path, data)
    if LINE_COLUMN in frame.columns:
        raise SourceError(path, f"uses the reserved key {LINE_COLUMN!r}")
    return frame.with_columns(
        pl.Series(LINE_COLUMN, _object_lines(path, data, frame.height), dtype=pl.UInt64)
    )


def _read_text_bytes(path: Path) -> bytes:
    """The file's bytes without a UTF-8 BOM, refusing empty and binary files."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SourceError(path, f"cannot be read: {error.strerror or error}") from error
    if not data:
        raise SourceError(path, "is empty (0 bytes)")
    if b"\x00" in data[:BINARY_PROBE_BYTES]:
        raise SourceError(path, "looks binary, not a JSON Lines/text file")
    if data.startswith(codecs.BOM_UTF8):  # polars rejects the BOM; it is no part of the first line
        data = data[len(codecs.BOM_UTF8) :]
    if not data or data.isspace():
        raise SourceError(path, "has no JSON lines (only blank lines)")
    if data.lstrip()[:1] == b"[":
        raise SourceError(path, "is a JSON array, not JSON Lines (expected one JSON object per line)")
    return data


def _parse(path: Path, data: bytes) -> pl.DataFrame:
    try:
        # infer_schema_length=None: a key first seen after the sample would otherwise vanish.
        frame = pl.read_ndjson(data, infer_schema_length=None)
        nested = {name: pl.String for name, dtype in frame.schema.items() if dtype.is_nested()}
        if nested:  # read again with those keys as JSON text
            frame = pl.read_ndjson(data, infer_schema_length=None, schema_overrides=nested)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as error:
        raise _diagnose(path, data, error) from error
    return frame


def _object_lines(path: Path, data: bytes, rows: int) -> np.ndarray:
    """1-based line number of each object, skipping blank lines (vectorised)."""
    total = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if total == rows:
        return np.arange(1, rows + 1, dtype=np.uint64)
    # Some lines are blank. Every object line holds a '{' and a blank line holds none, so the
    # lines owning a '{' are the object lines.
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == ord("\n"))
    brace_lines = np.searchsorted(newlines, np.flatnonzero(buf == ord("{")))
    lines = brace_lines[np.diff(brace_lines, prepend=-1) != 0] + 1
    if lines.size != rows:
        raise SourceError(path, f"has {rows} objects on {lines.size} non-blank lines; is a line malformed?")
    return lines.astype(np.uint64)


def _diagnose(path: Path, data: bytes, error: BaseException) -> SourceError:
    """A SourceError naming the first bad line (this failure path loops over lines in Python)."""
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        problem = _line_problem(raw)
        if problem:
            snippet = raw.decode("utf-8", errors="replace").strip()
            if len(snippet) > SNIPPET_CHARS:
                snippet = snippet[:SNIPPET_CHARS] + "..."
            return SourceError(path, f"line {number} {problem}: {snippet}")
    return SourceError(path, f"cannot be read as JSON Lines: {first_line(error)}")


def _line_problem(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "is not valid UTF-8 (JSON Lines must be UTF-8)"
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as bad:
        return f"is not valid JSON ({bad.msg} at column {bad.colno})"
    except ValueError as bad:
        return f"is not valid JSON ({bad})"
    if not isinstance(value, dict):
        return f"is a JSON {type(value).__name__}, not an object"
    return None


def _reject_constant(name: str) -> None:
    # Python's json accepts NaN and Infinity; JSON (and polars) do not.
    raise ValueError(f"{name} is not a JSON value")
