"""One conformance test for every registered connector.

The same tiny log is written in each connector's format; loading it must give the same
canonical events: non-null keys, unique stable event ids, tz-aware UTC timestamps.
Adding a connector to connectors/registry.py without a writer here fails this test.
"""

from __future__ import annotations

import gzip
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter
from backports import zstd

from connectors.registry import CONNECTORS
from pipeline.ingest import ingest
from pipeline.settings import Source, StreamSettings

# (case, activity, instant UTC, resource)
LOG = [
    ("c1", "Register", datetime(2026, 3, 2, 8, 0, tzinfo=UTC), "ann"),
    ("c1", "Assess", datetime(2026, 3, 2, 9, 30, tzinfo=UTC), "bob"),
    ("c2", "Register", datetime(2026, 3, 3, 10, 0, 15, tzinfo=UTC), "ann"),
    ("c1", "Close", datetime(2026, 3, 4, 16, 45, tzinfo=UTC), "cy"),
]


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "case:concept:name": [r[0] for r in LOG],
            "concept:name": [r[1] for r in LOG],
            "time:timestamp": [r[2].isoformat() for r in LOG],
            "org:resource": [r[3] for r in LOG],
        }
    )


def write_csv(folder: Path) -> Path:
    path = folder / "log.csv"
    _frame().write_csv(path)
    return path


def write_parquet(folder: Path) -> Path:
    path = folder / "log.parquet"
    _frame().with_columns(pl.col("time:timestamp").str.to_datetime(time_zone="UTC")).write_parquet(path)
    return path


def write_jsonl(folder: Path) -> Path:
    path = folder / "log.jsonl"
    _frame().write_ndjson(path)
    return path


def write_xes(folder: Path) -> Path:
    traces = {}
    for case, activity, ts, resource in LOG:
        traces.setdefault(case, []).append(
            f'<event><string key="concept:name" value="{activity}"/>'
            f'<string key="org:resource" value="{resource}"/>'
            f'<date key="time:timestamp" value="{ts.isoformat()}"/></event>'
        )
    body = "".join(
        f'<trace><string key="concept:name" value="{case}"/>{"".join(events)}</trace>'
        for case, events in traces.items()
    )
    path = folder / "log.xes"
    path.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?><log xes.version="1.0">{body}</log>', encoding="utf-8"
    )
    return path


def write_ocel(folder: Path) -> Path:
    doc = {
        "objectTypes": [{"name": "claim", "attributes": []}],
        "eventTypes": [
            {"name": a, "attributes": [{"name": "org:resource", "type": "string"}]}
            for a in sorted({r[1] for r in LOG})
        ],
        "objects": [{"id": c, "type": "claim"} for c in sorted({r[0] for r in LOG})],
        "events": [
            {
                "id": f"e{i}",
                "type": a,
                "time": ts.isoformat().replace("+00:00", "Z"),
                "attributes": [{"name": "org:resource", "value": r}],
                "relationships": [{"objectId": c, "qualifier": "of"}],
            }
            for i, (c, a, ts, r) in enumerate(LOG, start=1)
        ],
    }
    path = folder / "log.jsonocel"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def write_excel(folder: Path) -> Path:
    path = folder / "log.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("log")
    sheet.write_row(0, 0, _frame().columns)
    for r, (case, activity, ts, resource) in enumerate(LOG, start=1):
        # typed cells as Excel writes them: the instant in UTC wall-clock time, no offset
        sheet.write_row(r, 0, [case, activity])
        sheet.write_datetime(
            r, 2, ts.replace(tzinfo=None), book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        )
        sheet.write(r, 3, resource)
    book.close()
    return path


WRITERS = {
    "csv": write_csv,
    "parquet": write_parquet,
    "jsonl": write_jsonl,
    "xes": write_xes,
    "ocel": write_ocel,
    "excel": write_excel,
}


def _gzip(path: Path) -> Path:
    packed = path.with_name(path.name + ".gz")
    packed.write_bytes(gzip.compress(path.read_bytes()))
    return packed


def _zstd(path: Path) -> Path:
    packed = path.with_name(path.name + ".zst")
    packed.write_bytes(zstd.compress(path.read_bytes()))
    return packed


def _zip(path: Path) -> Path:
    packed = path.with_name("export.zip")
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(path, f"exports/{path.name}")
    return packed


# Every connector's log also inside each container (connectors/compressed.py)
PACKERS = {"gz": _gzip, "zst": _zstd, "zip": _zip}


def test_every_registered_connector_has_a_writer_here():
    assert set(CONNECTORS) == set(WRITERS)


@pytest.mark.parametrize("packer", [None, *sorted(PACKERS)])
@pytest.mark.parametrize("name", sorted(CONNECTORS))
def test_connector_conforms(name, packer, store, tmp_path):
    path = WRITERS[name](tmp_path)
    if packer:
        path = PACKERS[packer](path)
    settings = StreamSettings(
        name="conf", source=Source(path=str(path), object_type="claim" if name == "ocel" else "")
    )
    result = ingest(store, settings)
    assert (result.events_read, result.events_loaded, result.events_rejected) == (len(LOG), len(LOG), 0)
    rows = store.execute("SELECT case_id, activity, ts, resource FROM events ORDER BY ts").fetchall()
    assert rows == sorted(LOG, key=lambda r: r[2])
    assert all(r[2].tzinfo is not None and r[2].utcoffset().total_seconds() == 0 for r in rows)
    checks = store.execute(
        "SELECT count(*) FILTER (WHERE case_id IS NULL OR activity IS NULL OR ts IS NULL), "
        "count(DISTINCT event_id), count(*) FILTER (WHERE source_line IS NULL) FROM events"
    ).fetchall()[0]
    assert checks == (0, len(LOG), 0)
    # stable ids: loading again adds nothing
    assert ingest(store, settings).events_loaded == 0
