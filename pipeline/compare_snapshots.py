"""Two snapshots of a stream compared (`vsm compare --before-snapshot RUN --after-snapshot RUN`).

A snapshot is what a compute kept in `metric_history` (migration 012): its headline and step
figures, not its cases. So the two are put side by side with their relative change, and no
change is tested: `significant` NULL, test `none`. The maps are the ones `map_history` kept,
where it keeps them as SVG.
"""

from __future__ import annotations

import duckdb

from pipeline import compare_stats as cs
from pipeline.compare import STEP_FIGURES, STREAM_FIGURES, Comparison, figure_rows
from pipeline.errors import SettingsError
from pipeline.store import query_frame, read_sql


def compare_snapshots(
    con: duckdb.DuckDBPyConnection, stream: str, before_run: int, after_run: int
) -> Comparison:
    """Two snapshots of `stream` (metric_history, kept by every compute): their figures side by
    side. A snapshot keeps figures, not cases, so no change is tested (significant NULL)."""
    if not _columns(con, "metric_history"):
        raise SettingsError(
            "--before-snapshot/--after-snapshot: this store keeps no snapshots yet (no metric_history "
            "table; computes keep one from migration 012 on): compare windows with --before/--after"
        )
    sides = [
        _snapshot(con, stream, run, key)
        for run, key in ((before_run, "--before-snapshot"), (after_run, "--after-snapshot"))
    ]
    (label_b, figures_b), (label_a, figures_a) = sides
    keys = list(dict.fromkeys([*figures_b, *figures_a]))
    keys.sort(key=lambda k: (k[1] != "", k[1], _figure_rank(k[0])))
    why = "a snapshot keeps figures, not cases: the change cannot be tested"
    changes = [
        (figure, step, cs.untested(figures_b.get((figure, step)), figures_a.get((figure, step)), why))
        for figure, step in keys
    ]
    steps_b = {s for _, s in figures_b if s}
    steps_a = {s for _, s in figures_a if s}
    rows = figure_rows(changes, steps_b, steps_a)
    return Comparison(
        kind="snapshots",
        before=None,
        after=None,
        before_label=label_b,
        after_label=label_a,
        rows=rows,
        before_run_id=before_run,
        after_run_id=after_run,
        appeared=sorted(steps_a - steps_b),
        disappeared=sorted(steps_b - steps_a),
        stream=stream,
        page_labels=(f"run {before_run} {label_b}", f"run {after_run} {label_a}"),
    )


# Per step, a snapshot keeps step_metrics' columns: visits as counted, not per day.
SNAPSHOT_STEP_FIGURES = ("visits", *STEP_FIGURES, "wip_avg")


def _figure_rank(figure: str) -> int:
    names = (*STREAM_FIGURES, *STEP_FIGURES)
    return names.index(figure) if figure in names else len(names)


def _snapshot(con, stream: str, run_id: int, key: str) -> tuple[str, dict[tuple[str, str], float | None]]:
    params = {"stream": stream, "run_id": run_id}
    rows = query_frame(con, read_sql("compare/cmp_snapshot_figures.sql"), params)
    if rows.is_empty():
        runs = query_frame(con, read_sql("compare/cmp_snapshot_runs.sql"), {"stream": stream})["run_id"]
        shown = ", ".join(str(r) for r in runs) or "none"
        raise SettingsError(
            f"{key} {run_id}: stream {stream!r} has no snapshot of that run "
            f"(its latest: {shown}; `vsm history {stream}` lists them)"
        )
    # the figures a comparison of windows shows (metric_history keeps every number column)
    figures = {
        (r["figure"], r["step"]): r["value"]
        for r in rows.iter_rows(named=True)
        if r["figure"] in (SNAPSHOT_STEP_FIGURES if r["step"] else STREAM_FIGURES)
    }
    return rows["window_label"][0], figures


def snapshot_map_svgs(con, comparison: Comparison) -> tuple[str, str] | None:
    """The maps the two snapshots' computes drew, where map_history keeps them as SVG."""
    if "map_svg" not in _columns(con, "map_history"):
        return None
    found = []
    for run in (comparison.before_run_id, comparison.after_run_id):
        params = {"stream": comparison.stream, "run_id": run}
        svg = query_frame(con, read_sql("compare/cmp_snapshot_map.sql"), params)["map_svg"]
        found.append(svg[0] if len(svg) else "")
    return found[0], found[1]


def _columns(con, table: str) -> set[str]:
    """The columns of `table` in the store (none when it has no such table)."""
    found = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = $name",
        {"name": table},
    ).fetchall()
    return {name for (name,) in found}
