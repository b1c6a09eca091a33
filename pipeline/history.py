"""The history of a stream's computes: each compute's headline figures and map, kept.

Value stream mapping is a cycle (map, change, map again, compare), so an earlier map must
stay readable after the events change. Every compute that publishes results appends, in the
same transaction (pipeline/flow.py publish), one snapshot (migration 012):

- `metric_history`: one row per figure: every number column of `stream_summary` (step '')
  and of `step_metrics` (per step), by the column's name, so a later figure column (say a
  business-hours one) is kept without a change here;
- `map_history`: one row: the map's boxes (`map_steps`, JSON), everything the map is drawn
  from (`map_data`, JSON of pipeline/vsm_map.py MapData) and the SVG as drawn.

A compute that finds its results current publishes nothing and adds no snapshot. Recomputes
never delete snapshots. `vsm history STREAM` lists them (`history_table`); the report's
trend section reads them (sql/report/rpt_trend.sql).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime

import duckdb
import polars as pl

from pipeline.errors import SettingsError
from pipeline.store import query_frame, read_sql, table_columns

HISTORY_TABLES = ("metric_history", "map_history")

# The figures `vsm history` shows per snapshot (stream_summary columns), in this order.
HEADLINE = (
    "completed_cases",
    "lead_time_p50_s",
    "lead_time_p85_s",
    "throughput_per_day",
    "wip_avg",
    "first_pass_yield",
)

NUMBER_TYPES = (
    "BIGINT",
    "INTEGER",
    "DOUBLE",
    "FLOAT",
    "HUGEINT",
    "SMALLINT",
    "TINYINT",
    "UBIGINT",
    "DECIMAL",
)


def _number_columns(columns: list[tuple[str, str]]) -> list[str]:
    return [c for c, t in columns if t.split("(")[0] in NUMBER_TYPES]


def append_snapshot(
    con: duckdb.DuckDBPyConnection,
    stream: str,
    run_id: int,
    computed_at: datetime,
    columns: dict[str, list[tuple[str, str]]] | None = None,
) -> str:
    """Append the stream's just-published figures and map as one snapshot (inside the
    publishing transaction: the snapshot is of exactly the results it commits with).
    `columns`: the store's table_columns, when the caller has them. Returns the map's SVG
    as drawn: the map of the results it commits with (the report of the same compute shows
    it rather than reading and drawing it again: pipeline/streams.py refresh)."""
    params = {"stream": stream, "run_id": run_id, "computed_at": computed_at}
    store_columns = columns if columns is not None else table_columns(con)
    for table, step in (("stream_summary", "''"), ("step_metrics", "step")):
        figures = _number_columns(store_columns.get(table, []))
        if not figures:
            continue
        columns = ", ".join(f'CAST("{c}" AS DOUBLE) AS "{c}"' for c in figures)
        on = ", ".join(f'"{c}"' for c in figures)
        # names from the schema, quoted; the stream and run are bound
        con.execute(
            "INSERT INTO metric_history "
            'SELECT $stream, $computed_at, $run_id, w."window", w.window_start, w.window_end, '
            "u.figure, u.step, u.value "
            f"FROM (SELECT {step} AS step, {columns} FROM {table} WHERE stream = $stream) "
            f"UNPIVOT INCLUDE NULLS (value FOR figure IN ({on})) AS u "
            'CROSS JOIN (SELECT "window", window_start, window_end FROM stream_summary '
            "WHERE stream = $stream) AS w",
            params,
        )
    from pipeline.vsm_map import load_map_data, map_svg

    data = load_map_data(con, stream)
    svg = map_svg(data)
    con.execute(
        "INSERT INTO map_history "
        'SELECT $stream, $computed_at, $run_id, "window", window_start, window_end, $steps, $data, $svg '
        "FROM stream_summary WHERE stream = $stream",
        params
        | {
            "steps": json.dumps([asdict(s) for s in data.steps], default=str),
            "data": json.dumps(asdict(data), default=str),
            "svg": svg,
        },
    )
    return svg


def snapshot_map_svg(map_data: str) -> str:
    """The map of a snapshot, redrawn from its `map_history.map_data` alone."""
    from pipeline.vsm_map import Branch, Handoff, MapData, MapStep, ReworkLoop, Summary, map_svg

    raw = json.loads(map_data)
    summary = raw.get("summary")
    if summary is not None and summary.get("as_of"):
        summary["as_of"] = datetime.fromisoformat(summary["as_of"])
    return map_svg(
        MapData(
            stream=raw["stream"],
            summary=Summary(**summary) if summary is not None else None,
            steps=tuple(MapStep(**{**s, "teams": tuple(s["teams"])}) for s in raw["steps"]),
            loops=tuple(ReworkLoop(**r) for r in raw["loops"]),
            branches=tuple(Branch(**b) for b in raw["branches"]),
            handoffs=tuple(Handoff(**h) for h in raw["handoffs"]),
        )
    )


def history_table(
    con: duckdb.DuckDBPyConnection, stream: str, figure: str | None = None, limit: int = 20
) -> pl.DataFrame:
    """The stream's snapshots, newest first (at most `limit`): computed_at, window, run_id and
    the HEADLINE figures, one column each; with `figure`, that figure alone (a step figure:
    one row per snapshot and step). SettingsError (exit 2) for a stream with no snapshot
    and no stored events, or a figure no snapshot holds."""
    known = con.execute(
        "SELECT EXISTS (FROM map_history WHERE stream = $s) OR EXISTS (FROM events WHERE stream = $s)",
        {"s": stream},
    ).fetchall()[0][0]
    if not known:
        raise SettingsError(f"stream {stream!r}: nothing in the store (vsm streams lists the streams)")
    if figure is not None:
        figures = [r[0] for r in con.execute(
            "SELECT DISTINCT figure FROM metric_history WHERE stream = $s ORDER BY figure", {"s": stream}
        ).fetchall()]  # fmt: skip
        if figures and figure not in figures:
            raise SettingsError(
                f"--figure {figure}: no snapshot of stream {stream!r} holds it; expected a column of "
                f"stream_summary or step_metrics: {', '.join(figures)}"
            )
    frame = query_frame(
        con,
        read_sql("report/rpt_history.sql"),
        {"stream": stream, "figure": figure, "limit": limit},
    )
    if figure is not None:
        return frame.drop("figure").rename({"value": figure})
    frame = frame.drop("step")
    if frame.is_empty():
        return pl.DataFrame(schema={"computed_at": pl.Datetime, "window": pl.String, "run_id": pl.Int64})
    return frame.pivot(
        on="figure", index=["computed_at", "window", "run_id"], values="value", sort_columns=False
    ).select("computed_at", "window", "run_id", *[f for f in HEADLINE if f in frame["figure"].unique()])


SHARES = ("first_pass_yield", "rolled_fpy", "flow_efficiency", "case_share", "share", "batch_share")


def _text(name: str, value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    if name.endswith("_s"):
        return f"{value / 86400:.2f} d"
    if name in SHARES:
        return f"{value:.1%}"
    if isinstance(value, float) and value.is_integer() and name in ("completed_cases", "cases", "visits"):
        return f"{int(value):,}"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def shown(frame: pl.DataFrame) -> pl.DataFrame:
    """`history_table`'s frame as text for a terminal: durations in days, shares in percent,
    computed_at in UTC to the second."""
    columns = {}
    for name in frame.columns:
        if name == "computed_at":
            columns[name] = [f"{v.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" for v in frame[name]]
        elif name in ("window", "run_id", "step"):
            columns[name] = [str(v) for v in frame[name]]
        else:
            columns[name] = [_text(name, v) for v in frame[name]]
    return pl.DataFrame(columns, schema={name: pl.String for name in frame.columns})
