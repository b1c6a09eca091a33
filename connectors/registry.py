"""The connector registry: every file connector, declared once.

Adding a connector = adding it here; the conformance test (tests/test_connectors_conformance.py)
then runs it. Readers are imported lazily so that `vsm --help` stays fast.

Compression is not a format: a gzip, Zstandard or zip file around any of these formats is
unpacked first (`connectors.compressed`), and the log inside read by its own connector.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import polars as pl

from connectors.base import BatchedFrame, FileConnector
from connectors.compressed import CONTAINER_SUFFIXES, container_of, is_workbook, unpacked
from pipeline.errors import SettingsError, SourceError
from pipeline.processes import private_temp_dir


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
        FileConnector(
            "excel",
            (".xlsx", ".xlsm"),
            _lazy("connectors.excel", "read_excel"),
            ("sheet",),
            "Excel workbook: its first sheet, or the one named",
        ),
    )
}
# What each source option is, for the line that refuses it on a connector that has no use for it.
OPTION_KEYS = {
    "delimiter": "[source] delimiter",
    "encoding": "[source] encoding",
    "object_type": "[source] object_type",
    "sheet": "[source] sheet",
}


def connector_for(path: Path, fmt: str = "auto", *, object_type: str = "") -> FileConnector:
    """The connector for `path`: the named format, or the one its suffix says."""
    if fmt != "auto":
        if fmt not in CONNECTORS:
            raise SourceError(path, f"unknown format {fmt!r}; expected one of {', '.join(CONNECTORS)}")
        return CONNECTORS[fmt]
    if object_type:  # an object type only makes sense for OCEL
        return CONNECTORS["ocel"]
    claimed = _claimed(Path(path).name)
    if claimed:
        return claimed
    suffixes = sorted({s for c in CONNECTORS.values() for s in c.suffixes})
    packed = sorted({s for kind in CONTAINER_SUFFIXES.values() for s in kind})
    raise SourceError(
        path,
        f"cannot tell the format from the file name; expected one of {', '.join(suffixes)} "
        f"(also inside {', '.join(packed)}) or --format {'|'.join(CONNECTORS)}",
    )


def _claimed(name: str) -> FileConnector | None:
    for connector in ("xes", "csv", "parquet", "jsonl", "ocel", "excel"):
        if CONNECTORS[connector].claims(Path(name)):
            return CONNECTORS[connector]
    return None


def is_log_name(name: str, fmt: str = "auto") -> bool:
    """Whether a file name (an archive member's) is that of a log: one the named format's
    connector (any, for 'auto') claims, plain or inside gzip / Zstandard."""
    lower = name.lower()
    for kind in ("gzip", "zstd"):
        for suffix in CONTAINER_SUFFIXES[kind]:
            if lower.endswith(suffix):
                lower = lower[: -len(suffix)]
    if fmt != "auto" and fmt in CONNECTORS:
        return CONNECTORS[fmt].claims(Path(lower)) or CONNECTORS[fmt].claims(Path(name.lower()))
    return _claimed(lower) is not None or _claimed(name.lower()) is not None


def read_source(
    path: Path, fmt: str = "auto", *, batch_rows: int | None = None, member: str = "", **options
) -> tuple[FileConnector, pl.DataFrame | BatchedFrame]:
    """The source's connector and raw rows; with `batch_rows`, a connector that can stream
    returns a `BatchedFrame` for a source with more rows than that.

    A gzip, Zstandard or zip file is unpacked first and the log inside read (`member`: which
    file of a zip). Options the chosen connector has no use for are refused (SettingsError)."""
    path = Path(path)
    if not path.exists():
        raise SourceError(path, "no such file")
    if path.is_dir():
        raise SourceError(path, "is a folder, expected an event log file")
    object_type = options.get("object_type", "")
    kind = container_of(path)
    if kind and not _reads_itself(path, kind, fmt, object_type):
        with private_temp_dir("unpack") as folder:  # in the store's temp folder; a killed run's goes later
            is_log = lambda name: is_log_name(name, fmt)  # noqa: E731
            with unpacked(path, kind, member, is_log, folder) as inner:
                nested = container_of(inner.path)
                if nested and not _reads_itself(inner.path, nested, fmt, object_type):
                    raise SourceError(
                        inner.label,
                        f"holds another archive or compressed file ({nested}); nested archives are not read: "
                        f"unpack {path.name} and load what it holds",
                    )
                try:
                    connector = connector_for(inner.path, fmt, object_type=object_type)
                    # Read whole: batches or a DuckDB relation would read the file after the
                    # temporary folder is gone.
                    return connector, _read(connector, inner.path, None, options)
                except SourceError as error:
                    raise _relabel(error, inner.path, inner.label) from error
    if member:
        raise SettingsError(
            f"[source] member = {member!r}: {path} is not a zip archive, so it has no members; "
            "leave member empty"
        )
    connector = connector_for(path, fmt, object_type=object_type)
    return connector, _read(connector, path, batch_rows, options)


def _reads_itself(path: Path, kind: str, fmt: str, object_type: str) -> bool:
    """Whether the connector the name (or `fmt`) says reads this container itself: XES
    streams gzip, and an Excel workbook is a zip."""
    try:
        connector = connector_for(path, fmt, object_type=object_type)
    except SourceError:
        return False
    if kind == "gzip":
        return connector.name == "xes"
    return kind == "zip" and connector.name == "excel" and is_workbook(path)


def _read(
    connector: FileConnector, path: Path, batch_rows: int | None, options: dict
) -> pl.DataFrame | BatchedFrame:
    unused = [k for k, v in options.items() if v and k not in connector.options and k in OPTION_KEYS]
    if unused:
        key = OPTION_KEYS[unused[0]]
        raise SettingsError(
            f"{key} = {options[unused[0]]!r}: a {connector.name} source has no use for it; "
            f"it applies to {_users(unused[0])} only; leave it empty"
        )
    given = {k: v for k, v in options.items() if k in connector.options and v}
    if connector.name == "ocel" and not given.get("object_type"):
        raise SourceError(
            path, "an OCEL log needs --object-type: the object type whose objects are the cases"
        )
    if batch_rows and connector.read_batches is not None:
        return connector.read_batches(path, batch_rows, **given)
    return connector.read(path, **given)


def _users(option: str) -> str:
    return " and ".join(c.name for c in CONNECTORS.values() if option in c.options) or "no source"


def _relabel(error: SourceError, temporary: Path, label: str) -> SourceError:
    """The error with the temporary file's name replaced by the container's (and member's)."""
    if error.path != str(temporary):
        return error
    return SourceError(label, str(error)[len(error.path) + 2 :])
