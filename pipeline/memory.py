"""Out of memory as an expected condition: one mapping from the engines' memory errors to an
`OutOfMemory` error naming the limit, the step and what to raise.

DuckDB raises `duckdb.OutOfMemoryException` when a query needs more than its memory limit
(pipeline/store.py: `VSM_MEMORY_LIMIT`, else 30% of the machine) and cannot spill what it
needs (one value's working copy, a hash table's directory). polars and pyarrow raise
`MemoryError` (pyarrow's `ArrowMemoryError` is one) when the process cannot get memory.
Either way the step's transaction rolls back (its caller's `except BaseException`), and
the user reads one line: under which limit, while doing what, and what to change.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from pipeline.errors import OutOfMemory, StoreError
from pipeline.store import MEMORY_ENV, memory_limit

_NUMBER_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$")


def out_of_memory(doing: str, advice: str = "") -> OutOfMemory:
    """The error for running out of memory while `doing` (e.g. 'checking the load'), with the
    limit in force and a larger one to try; `advice` adds a second remedy."""
    given = os.environ.get(MEMORY_ENV, "").strip()
    try:
        limit = memory_limit()
    except StoreError:  # an invalid VSM_MEMORY_LIMIT: refused when the store opened
        limit = given
    if given:
        under = f"under {MEMORY_ENV}={given}"
    else:
        under = f"under the default memory limit {limit or 'of DuckDB'} (30% of this machine's memory)"
    remedy = f"raise {MEMORY_ENV} (e.g. {_doubled(limit)})" if limit else f"set {MEMORY_ENV} (e.g. 8GB)"
    return OutOfMemory(f"out of memory {under} while {doing}: {remedy}" + (f" or {advice}" if advice else ""))


def _doubled(size: str) -> str:
    """Twice a DuckDB size, in its own unit ('2GB' -> '4GB', '1.5GiB' -> '3GiB')."""
    m = _NUMBER_UNIT.match(size)
    if not m:
        return "twice " + size
    number = float(m.group(1)) * 2
    return f"{number:g}{m.group(2)}"


@contextmanager
def memory_guard(doing: str, advice: str = "") -> Iterator[None]:
    """Turn the engines' out-of-memory errors raised inside into `out_of_memory(doing, advice)`."""
    try:
        yield
    except (duckdb.OutOfMemoryException, MemoryError) as error:
        raise out_of_memory(doing, advice) from error
