"""The connector registry: every file connector, declared once.

Adding a connector = adding it here; the conformance test (tests/test_connectors_conformance.py)
then runs it. Readers are imported lazily so that `vsm --help` stays fast.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import polars as pl

from connectors.base import BatchedFrame, FileConnector
from pipeline.errors import SourceError


def _lazy(module: str, function: str):
    def read(path: Path, *args, **options) -> pl.DataFrame:
        return getattr(importlib.import_module(module), function)(path, *args, **options)

    read.__name__ = function
    return read


CONNECTORS: dict[str, FileConnector] = {
    c.name: c
    for c in (
        FileConnector(
            "csv",
            (".csv", ".tsv", ".txt"),
            _lazy("connectors.csv", "read_csv"),
            ("delimiter", "encoding"),
            "delimited text; delimiter and encoding detected",
        ),
        FileConnector(
            "parquet",
            (".parquet", ".pq"),
            _lazy("connectors.parquet", "read_parquet"),
            (),
            "Apache Parquet; a large file streams in batches of row groups",
            read_batches=_lazy("connectors.parquet", "read_parquet_batches"),
        ),
        FileConnector(
            "jsonl",
            (".jsonl", ".ndjson", ".json"),
            _lazy("connectors.jsonl", "read_jsonl"),
            (),
            "JSON Lines, one event per line",
        ),
        FileConnector(
            "xes", (".xes", ".xes.gz"), _lazy("connectors.xes", "read_xes"), (), "IEEE XES, plain or gzipped"
        ),
        FileConnector(
            "ocel",
            (".jsonocel", ".xmlocel", ".sqlite", ".db", ".json", ".xml"),
            _lazy("connectors.ocel", "read_ocel"),
            ("object_type",),
            "OCEL 2.0 (JSON, XML, SQLite) flattened on one object type",
        ),
    )
}


def connector_for(path: Path, fmt: str = "auto", *, object_type: str = "") -> FileConnector:
    """The connector for `path`: the named format, or the one its suffix says."""
    if fmt != "auto":
        if fmt not in CONNECTORS:
            raise SourceError(path, f"unknown format {fmt!r}; expected one of {', '.join(CONNECTORS)}")
        return CONNECTORS[fmt]
    if object_type:  # an object type only makes sense for OCEL
        return CONNECTORS["ocel"]
    for name in ("xes", "csv", "parquet", "jsonl", "ocel"):
        if CONNECTORS[name].claims(Path(path)):
            return CONNECTORS[name]
    suffixes = sorted({s for c in CONNECTORS.values() for s in c.suffixes})
    raise SourceError(
        path,
        f"cannot tell the format from the file name; expected one of {', '.join(suffixes)} "
        "or --format csv|parquet|jsonl|xes|ocel",
    )


def read_source(
    path: Path, fmt: str = "auto", *, batch_rows: int | None = None, **options
) -> tuple[FileConnector, pl.DataFrame | BatchedFrame]:
    """The source's connector and raw rows; with `batch_rows`, a connector that can stream
    returns a `BatchedFrame` for a source with more rows than that."""
    path = Path(path)
    if not path.exists():
        raise SourceError(path, "no such file")
    if path.is_dir():
        raise SourceError(path, "is a folder, expected an event log file")
    connector = connector_for(path, fmt, object_type=options.get("object_type", ""))
    given = {k: v for k, v in options.items() if k in connector.options and v}
    if connector.name == "ocel" and not given.get("object_type"):
        raise SourceError(
            path, "an OCEL log needs --object-type: the object type whose objects are the cases"
        )
    if batch_rows and connector.read_batches is not None:
        return connector, connector.read_batches(path, batch_rows, **given)
    return connector, connector.read(path, **given)
