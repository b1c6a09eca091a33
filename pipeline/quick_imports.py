"""Imports with Python's cyclic garbage collector paused.

Importing a large package allocates objects by the hundred thousand, nearly all of which live
as long as the process; the collector, counting the allocations, runs pass after pass over
them meanwhile and frees next to nothing. Paused for the imports of a run's modules (`vsm
discover`: polars, pyarrow, DuckDB and the pipeline's modules, 0.36 -> 0.32 CPU-s) and for
pm4py's (pipeline/discovery.py: 0.35 -> 0.29 CPU-s; means of 6 interleaved runs each).
Reference counting frees everything as before; only cycles wait for the collector's next pass,
which runs as usual once the imports are done.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The block runs without automatic garbage collection; the collector is on again after
    it (whatever way it ends) if it was on before. Another thread that pauses it meanwhile may
    find it on again before its own block ends: a pass more, nothing else."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
