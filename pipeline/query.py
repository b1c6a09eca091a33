"""Analyst queries: read-only SQL over the store's result tables."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from pipeline.errors import VsmError
from pipeline.memory import memory_guard
from pipeline.store import open_store, query_frame


class QueryError(VsmError):
    """The analyst's SQL failed (syntax, unknown table, ...)."""

    exit_code = 1


def run_query(db: Path, query: str) -> pl.DataFrame:
    con = open_store(db, read_only=True)
    try:
        with memory_guard("running the query", "add a LIMIT or select fewer columns"):
            return query_frame(con, query)
    except duckdb.Error as exc:
        raise QueryError(f"query failed: {exc}") from exc
    finally:
        con.close()
