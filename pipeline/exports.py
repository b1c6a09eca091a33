"""`vsm export`: a query's result to one file, or a stream's result tables to a folder.

The one argument is told apart by its form, never by guessing at its text:

- **a stream**: one word that is a valid stream name (letters, digits, `_`, `-`, `.`: no
  space, so never a query that reads anything). `--out` is a folder; every table of the
  results contract that carries the stream (STREAM_TABLES) is written to
  `<folder>/<table>.parquet` or `.csv` (`--format`, default parquet), its rows of that
  stream only. A name that has neither settings in `streams/` nor rows in the store is
  refused; a stream with settings but nothing computed yet gets every file, empty.
- **a query**: anything else (it has a space: `FROM step_metrics`), written by
  pipeline.query.export_query to the one file `--out`, whose ending names the format.

All the tables of a stream are read through one read-only connection (the analysts' door,
query.open_for_analysts), so they are one consistent state of the store. They are written
into a hidden folder inside `--out` (`.vsm-export-<pid>`) and renamed into place only once
every one of them is written: a failed or killed export leaves no half file under a
table's name, and the files of the last good export stay until the new ones replace them.
A folder left by a killed export is removed by the next export into that folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb

from pipeline import query
from pipeline.errors import SettingsError, first_line
from pipeline.flow import RESULTS
from pipeline.history import HISTORY_TABLES
from pipeline.settings import check_stream_name, settings_path

STREAM_FORMATS = ("parquet", "csv")
# events (the cleaned log), rejects (rows not loaded, with why) and runs (loads and
# recomputes) belong to a stream as much as its flow tables: a tool fed by the export can
# check counts and reasons without the store. source_files and source_cursors are the
# load's bookkeeping (where the next load starts), not results: not exported. The history of
# its computes (metric_history, map_history: pipeline/history.py) is, and so are its
# comparisons (`vsm compare`: pipeline/compare.py) and simulations (`vsm simulate`: simulations,
# simulation_validations).
STREAM_TABLES = (
    "events",
    "rejects",
    "runs",
    *RESULTS,
    *HISTORY_TABLES,
    "comparisons",
    "simulations",
    "simulation_validations",
)
PART_PREFIX = ".vsm-export-"


def is_stream_name(text: str) -> bool:
    """True when `text` names a stream (one word of a stream name's characters), not a query."""
    try:
        check_stream_name(text)
    except SettingsError:
        return False
    return True


def export(db: Path, what: str, out: Path, fmt: str | None, streams_dir: Path) -> list[tuple[Path, int]]:
    """`vsm export`: the files written and their rows, for a stream name or a query (see above)."""
    if is_stream_name(what):
        return export_stream(db, what, out, fmt or "parquet", streams_dir)
    if fmt is not None:
        raise SettingsError(
            f"--format {fmt}: only for a stream's tables; for a query, the ending of --out names the format"
        )
    return [(Path(out), query.export_query(db, what, out))]


def export_stream(
    db: Path, stream: str, out_dir: Path, fmt: str, streams_dir: Path
) -> list[tuple[Path, int]]:
    """Write each of STREAM_TABLES, filtered to `stream`, to `out_dir/<table>.<fmt>`; the files
    written and their rows, in STREAM_TABLES' order."""
    out_dir = Path(out_dir)
    _check_target(out_dir, fmt)
    con = query.open_for_analysts(db)
    try:
        if not settings_path(stream, streams_dir).exists() and not _in_store(con, stream):
            raise SettingsError(
                f"stream {stream!r}: no settings ({settings_path(stream, streams_dir)}) and no results in "
                f"{db}; expected a stream name (vsm streams lists them) or a SQL query"
            )
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            _remove_leftovers(out_dir)
            part = out_dir / f"{PART_PREFIX}{os.getpid()}"
            part.mkdir(exist_ok=True)
        except OSError as exc:
            raise query.QueryError(f"--out {out_dir}: cannot be written: {exc.strerror or exc}") from exc
        try:
            written = [
                (table, _write_table(con, table, stream, part / f"{table}.{fmt}", fmt))
                for table in STREAM_TABLES
            ]
            for table, _ in written:
                os.replace(part / f"{table}.{fmt}", out_dir / f"{table}.{fmt}")
        except OSError as exc:
            raise query.QueryError(f"--out {out_dir}: cannot be written: {exc.strerror or exc}") from exc
        finally:
            shutil.rmtree(part, ignore_errors=True)
    finally:
        con.close()
    return [(out_dir / f"{table}.{fmt}", rows) for table, rows in written]


def _check_target(out_dir: Path, fmt: str) -> None:
    if fmt not in STREAM_FORMATS:
        raise SettingsError(f"--format {fmt}: expected one of {', '.join(STREAM_FORMATS)}")
    if out_dir.exists() and not out_dir.is_dir():
        raise SettingsError(
            f"--out {out_dir}: is a file; a stream's tables go to a folder (one file per table)"
        )
    if not out_dir.exists() and out_dir.suffix.lower() in query.EXPORT_FORMATS:
        raise SettingsError(
            f"--out {out_dir}: a stream's tables go to a folder (one file per table), not to one "
            f"{out_dir.suffix} file; to export one table, give a query "
            "(\"FROM step_metrics WHERE stream = '...'\")"
        )


def _in_store(con: duckdb.DuckDBPyConnection, stream: str) -> bool:
    found = con.execute(
        "SELECT EXISTS (FROM runs WHERE stream = $s) OR EXISTS (FROM events WHERE stream = $s)", {"s": stream}
    ).fetchone()
    return bool(found[0])


def _write_table(con: duckdb.DuckDBPyConnection, table: str, stream: str, target: Path, fmt: str) -> int:
    try:
        relation = con.sql(f'SELECT * FROM "{table}" WHERE stream = $stream', params={"stream": stream})
        return query.WRITERS[fmt](query.arrow_batches(relation, query.EXPORT_BATCH_ROWS), target)
    except duckdb.Error as exc:
        raise query.QueryError(f"exporting {table} of stream {stream!r} failed: {first_line(exc)}") from exc


def _remove_leftovers(out_dir: Path) -> None:
    """The hidden folders of exports into `out_dir` whose process is gone (killed)."""
    for folder in out_dir.glob(f"{PART_PREFIX}*"):
        pid = folder.name.removeprefix(PART_PREFIX)
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
