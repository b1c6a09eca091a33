"""The flow engine: a stream's events in, its value-stream results out.

Each figure is a model under `sql/flow/` (one relation per file, a SELECT with a header,
set-wise, no loop over cases or events: pipeline/models.py); this module decides WHAT runs
(which targets, which alternatives: log shape, step_by, full or incremental, SLAs), binds
their parameters and runs the Python steps between them; the runner and the engine
(pipeline/engine.py) decide HOW. Intermediate relations are named `flow_*`; publishing
replaces the stream's rows in every result table in one transaction, so analysts never
see half a recompute.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from pipeline import incremental
from pipeline.calendars import holidays_version, hour_range, stage_calendars
from pipeline.discovery import preload, write_model
from pipeline.engine import DuckDBEngine, Engine, RunRecord, StateRecord
from pipeline.errors import SettingsError, VsmError
from pipeline.memory import memory_guard
from pipeline.models import Runner, Timing
from pipeline.nulls import null_values, placeholder_statuses
from pipeline.settings import StreamSettings
from pipeline.slas import sla_first_response, stage_slas
from pipeline.statuses import classify_statuses, guess_log_shape, status_steps
from pipeline.stream_map import StreamMap, build_map
from pipeline.variant_steps import automatic_close_rule, start_end_rule
from pipeline.windows import ALL, Window, parse_window

# Result table -> the temp relation that holds its rows (without the stream column).
RESULTS = {
    "status_classes": "flow_status_classes",
    "visits": "flow_visits",
    "status_periods": "flow_status_periods",
    "cases": "flow_cases",
    "step_metrics": "flow_step_metrics",
    "transitions": "flow_transitions",
    "variants": "flow_variants",
    "wip_daily": "flow_wip_daily",
    "step_wip_daily": "flow_step_wip_daily",
    "handoffs": "flow_handoffs",
    "littles_law": "flow_littles_law",
    "quality_findings": "flow_quality_findings",
    "aging_wip": "flow_aging_wip",
    "stream_summary": "flow_stream_summary",
    "map_steps": "flow_map_steps",
    "rework_loops": "flow_rework_loops",
    "decision_points": "flow_decision_points",
    "sla": "flow_sla",
}

# Result relations the Python steps make (discover_map, the status classes), not models.
PYTHON_RESULTS = ("flow_map_steps", "flow_rework_loops", "flow_decision_points", "flow_status_classes")


class EmptyStreamError(VsmError):
    exit_code = 3


@dataclass
class FlowResult:
    stream: str
    log_shape: str
    shape_detected: bool
    as_of: datetime
    cases: int
    open_cases: int
    visits: int
    end_steps: list[str]
    ends_inferred: bool
    # inferred end steps that are automatic closes: a case ends when it becomes ready for one
    automatic_closes: list[str] = field(default_factory=list)
    status_guesses: list[tuple[str, str, str | None, str]] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    start_steps: list[str] = field(default_factory=list)  # discovered: where cases start
    main_path: list[str] = field(default_factory=list)
    # a routing map's entry lanes (pipeline/stream_map.py entry_lanes): (step, share of starts)
    entry_lanes: list[tuple[str, float]] = field(default_factory=list)
    folded_steps: list[str] = field(default_factory=list)  # drawn as "other" on the map
    model_files: list[Path] = field(default_factory=list)  # BPMN and PNML
    step_by: str = "activity"  # what a step is: activity, team or team_activity (choose_step_by)
    step_by_reason: str = ""  # why: from the settings, or what "auto" saw
    full: bool = True  # a full recompute, or an incremental one (pipeline/incremental.py)
    full_reason: str = ""  # why full: --full, no stored state, or the decision that changed
    recomputed_cases: int = 0  # cases whose visits were built anew (all of them when full)
    window: str = ALL  # the measurement window's label (pipeline/windows.py), 'all' for none
    timings: list[Timing] = field(default_factory=list)  # per model run: seconds and rows
    # the map's SVG as the compute's snapshot drew it (pipeline/history.py), which the report
    # of the same refresh shows; None when nothing was published (results current)
    map_svg: str | None = None


def discover_map(
    engine: Engine, settings: StreamSettings, model_dir: Path | None
) -> tuple[StreamMap, list[Path]]:
    """Run discovery on the completed cases' variants; register map_steps, rework_loops, decision_points."""
    variants = pl.from_arrow(engine.read_arrow("SELECT steps, cases, lead_time_mean_s FROM flow_variants"))
    d = settings.discovery
    stream_map = build_map(
        variants, noise_threshold=d.noise_threshold, coverage=d.coverage, max_steps=d.max_steps
    )
    for table, frame in (
        ("map_steps", stream_map.map_steps),
        ("rework_loops", stream_map.rework_loops),
        ("decision_points", stream_map.decision_points),
    ):
        engine.register(f"flow_{table}", frame.to_arrow())
    files = write_model(stream_map.model, model_dir, settings.name) if model_dir else []
    return stream_map, files


def step_map(activities: list[str], settings: StreamSettings) -> pl.DataFrame:
    """activity -> step (null when dropped), from the [steps] settings: drop, then merge, then
    rename. A placeholder status (pipeline/nulls.py: `-100`, '?') that neither [steps] nor
    [status_classes] names is dropped too, and flagged (`placeholder`)."""
    merged = {a: step for step, members in settings.steps.merge.items() for a in members}
    dropped = set(settings.steps.drop)
    named = set(merged) | dropped | set(settings.steps.rename) | set(settings.status_classes)
    placeholders = set(placeholder_statuses(activities, null_values(settings.source.null_values), named))
    steps = [
        None if a in dropped or a in placeholders else merged.get(a, settings.steps.rename.get(a, a))
        for a in activities
    ]
    return pl.DataFrame(
        {"activity": activities, "step": steps, "placeholder": [a in placeholders for a in activities]},
        schema={"activity": pl.String, "step": pl.String, "placeholder": pl.Boolean},
    )


# [flow] step_by = "auto" picks team steps on a status log with a team column and at most
# this many work statuses (after [steps]): one or two boxes would say nothing of the flow.
AUTO_TEAM_MAX_WORK_STATUSES = 2


def choose_step_by(setting: str, shape: str, work_statuses: list[str], team_events: int) -> tuple[str, str]:
    """(step_by, why): what a step is on this stream's map.

    activity: each activity (each work status of a status log); team: each team, a visit
    being a stretch of a case with one team (raw_visits__team.sql); team_activity: team and
    work status. "auto" picks team on a status log whose events have teams and whose work
    statuses are at most AUTO_TEAM_MAX_WORK_STATUSES, else activity. Team steps need a status
    log with teams: otherwise the setting is refused."""
    if setting in ("team", "team_activity"):
        if shape != "status":
            raise SettingsError(
                f"[flow] step_by = {setting!r}: team steps are built from a status log; this log is "
                f'{shape} (set [flow] step_by = "activity", or log_shape = "status" if it is one)'
            )
        if team_events == 0:
            raise SettingsError(
                f"[flow] step_by = {setting!r}: no event of the stream has a team (set [columns] team)"
            )
        return setting, "from settings"
    if setting == "activity":
        return "activity", "from settings"
    n = len(work_statuses)
    if shape == "status" and team_events > 0 and n <= AUTO_TEAM_MAX_WORK_STATUSES:
        return "team", (
            f"auto: a status log with a team column and {n} work status{'es' if n != 1 else ''} "
            f"({', '.join(work_statuses) or 'none'}); set [flow] step_by to change"
        )
    why = (
        "not a status log"
        if shape != "status"
        else ("no event has a team" if team_events == 0 else f"{n} work statuses")
    )
    return "activity", f"auto: {why}"


def names_column(values: list, names: list[str]) -> pa.DictionaryArray:
    """`values` as a dictionary column over `names` (sorted): the engine's hint that the
    column holds names of one set (DuckDB makes it an ENUM: pipeline/engine.py); two columns
    with the same `names` hold the same type."""
    names = sorted(set(names))
    index = {n: i for i, n in enumerate(names)}
    # made by polars, not pa.array: pyarrow's conversion of a Python list first asks whether
    # it is a pandas object, and imports pandas to ask (0.28 CPU-s that nothing else needs).
    # The names stay polars' large_string: a cast to string would import pyarrow.compute
    # (0.05 CPU-s), and DuckDB and Spark (engine_spark.spark_ready) read either alike.
    return pa.DictionaryArray.from_arrays(
        pl.Series([index.get(v) if v is not None else None for v in values], dtype=pl.Int32).to_arrow(),
        pl.Series(names, dtype=pl.String).to_arrow(),
    )


def first_row(table: pa.Table) -> dict:
    """The table's first row as Python values, converted by polars: pyarrow's conversion of a
    time with a zone (Scalar.as_py, to_pylist) first asks whether pandas is installed and
    imports it to ask (0.28 CPU-s), which nothing else in a run needs. The same values: a
    zoned time in the column's zone (zoneinfo), a decimal as Decimal."""
    return pl.from_arrow(table).row(0, named=True)


# Relations the Python steps and publish read (never freed by the runner before the end).
KEEP = {
    "flow_activities",
    "flow_case_names",
    "flow_owner_names",
    "flow_case_fingerprints",
    "flow_recompute",
    "flow_kept_cases",
    "flow_lifecycle",
    "flow_end_steps",
    "flow_step_ends",
    "flow_window",
    *RESULTS.values(),
}


def compute_flow(
    con: duckdb.DuckDBPyConnection,
    settings: StreamSettings,
    *,
    as_of: datetime | None = None,
    model_dir: Path | None = None,
    on_stage: Callable[[str], None] = lambda _: None,
    full: bool = False,
    engine: Engine | None = None,
    out_dir: Path | None = None,
) -> FlowResult:
    """Compute every result table of the stream and publish them atomically.

    Incremental unless `full` (pipeline/incremental.py): only the cases whose events changed
    since the last compute get their visits built anew; a full recompute when there is no
    stored state or a global decision (settings, activities, ...) changed.
    `model_dir`: where to write the discovered model (<stream>.bpmn, <stream>.pnml).
    The models run through `engine` (pipeline/engine.py; default DuckDB on `con`, the store,
    which keeps the incremental state and receives the results either way). With none given
    and [engine] name = "spark", the models run on Spark (pipeline/engine_spark.py
    spark_compute: the events exported to Parquet, the results published into the store and,
    with `out_dir` or [engine] out, kept there as Parquet); a Spark compute is always full."""
    if engine is None and settings.engine.name == "spark":
        from pipeline.engine_spark import spark_compute

        with spark_compute(con, settings, out_dir) as spark:
            return compute_flow(
                con, settings, as_of=as_of, model_dir=model_dir, on_stage=on_stage, full=full, engine=spark
            )
    if out_dir is not None and (engine is None or engine.name == "duckdb"):
        raise SettingsError(
            f"--out {out_dir}: Parquet results are written by the spark engine (--engine spark); a DuckDB "
            "compute keeps its results in the store (vsm export writes them out)"
        )
    started_at = datetime.now(UTC)  # the run's started_at: when the compute began, not when it published
    engine = engine or DuckDBEngine(con)
    runner = Runner(engine, keep=set(KEEP))
    stream = settings.name
    runner.run("flow_activities", params={"stream": stream})
    activities = pl.from_arrow(engine.read_arrow("SELECT * FROM flow_activities ORDER BY activity"))
    if activities.is_empty():
        raise EmptyStreamError(
            f"stream {stream!r} has no events in the store; load it first (vsm ingest {stream})"
        )
    preload()  # pm4py's import, for discovery at the end, runs while the SQL below does
    engine.set_timezone(settings.timezone)  # validated IANA name; days bucket in it
    try:
        with memory_guard(f"computing the flow of stream {stream!r}"):
            return _compute(
                con, engine, runner, settings, activities, as_of, model_dir, on_stage, started_at, full
            )
    finally:
        engine.set_timezone("UTC")
        if os.environ.get("VSM_PROFILE"):
            print_profile(runner.timings)


def print_profile(timings: list[Timing]) -> None:
    """Per model: seconds and rows (VSM_PROFILE=1; '-': a view, or not counted on Spark),
    slowest first, to stderr."""
    total = sum(t.seconds for t in timings)
    print(f"models: {len(timings)}, {total:.2f} s", file=sys.stderr)
    for t in sorted(timings, key=lambda t: -t.seconds):
        rows = "-" if t.rows is None else f"{t.rows:,}"  # a view, or an engine that does not count
        print(f"  {t.model:<32} {t.seconds:8.3f} s  {rows:>14} rows", file=sys.stderr)


def _compute(
    con, engine, runner, settings, activities, as_of, model_dir, on_stage, started_at, full
) -> FlowResult:
    stream = settings.name
    on_stage("mapping steps")
    names = activities["activity"].to_list()
    mapping = step_map(names, settings)
    steps = mapping["step"].to_list()
    engine.register(
        "flow_step_map",
        pa.table(
            {
                "activity": names_column(names, names),
                "step": names_column(steps, [s for s in steps if s is not None]),
                "placeholder": mapping["placeholder"].to_arrow(),
            }
        ),
    )
    placeholders = mapping.filter("placeholder").join(activities.select("activity", "events"), on="activity")
    # the placeholder statuses dropped from the map, with their events (quality_findings.sql)
    engine.register(
        "flow_placeholder_statuses",
        placeholders.select(pl.col("activity").alias("status"), "events").to_arrow(),
    )
    params = {"stream": stream}
    runner.run("flow_events", params=params)

    detected = settings.log_shape == "auto"
    shape = (
        guess_log_shape(
            has_start_column=int(activities["with_start"].sum()) > 0,
            lifecycle_starts=int(activities["starts"].sum()),
            activities=activities["activity"].to_list(),
        )
        if detected
        else settings.log_shape
    )

    classes = classify_statuses(activities.select("activity", "events"), settings.status_classes)
    if shape == "status":  # [steps] merge / drop and [flow] end_activities act on the statuses
        classes = status_steps(classes, mapping, settings.status_classes, settings.end_activities)
    else:
        classes = classes.clear().with_columns(is_exit=pl.lit(False))
    work = classes.filter(pl.col("status_class") == "work").join(
        mapping, left_on="status", right_on="activity"
    )
    step_by, step_by_reason = choose_step_by(
        settings.step_by,
        shape,
        sorted(work["step"].drop_nulls().unique().to_list()),
        int(activities["with_team"].sum()),
    )
    # statuses are activities: one set of names, so they join and compare as numbers
    class_table = classes.to_arrow()
    for column, members in (
        ("status", names),
        ("status_class", classes["status_class"].to_list()),
        ("wait_kind", classes["wait_kind"].to_list()),
    ):
        class_table = class_table.set_column(
            class_table.schema.get_field_index(column),
            column,
            names_column(classes[column].to_list(), [m for m in members if m is not None]),
        )
    engine.register("flow_status_classes", class_table)

    started = mapping.join(activities.filter(pl.col("starts") > 0).select("activity"), on="activity")
    started_steps = sorted(started["step"].drop_nulls().unique().to_list())
    # the decisions every case's visits depend on: any change, and the compute is full
    decisions = {
        "settings": incremental.settings_digest(settings),
        "flow_sql": incremental.flow_sql_digest(),
        "activities": incremental.digest(sorted(names)),
        "step_map": incremental.frame_digest(mapping),
        "status_classes": incremental.frame_digest(classes.drop("events", strict=False)),
        "log_shape": shape,
        "step_by": step_by,
        "started_steps": started_steps if shape != "status" else [],
        "holidays": holidays_version(settings.calendar, settings.calendars),
        "engine": engine.name,
    }
    previous = incremental.previous_decisions(con, stream)
    plan = incremental.plan(previous, decisions, full)
    on_duckdb = engine.name == "duckdb"
    if not on_duckdb and not full:  # no incremental state on Spark: every case, every time
        plan = incremental.Plan(True, f"the {engine.name} engine always computes every case", previous)
    on_stage("finding changed cases")
    runner.choices |= {
        "full": plan.full,
        "incremental": not plan.full,
        "log_shape": shape,
        "step_by": step_by,
        "sla": bool(settings.sla),
    }
    runner.run("flow_recompute", "flow_kept_cases", params=params | {"full": plan.full})
    recomputed = engine.read_arrow("SELECT count(*) AS n FROM flow_recompute").column(0)[0].as_py()
    first_event, last_event = first_row(
        engine.read_arrow("SELECT min(ts), max(ts) FROM events WHERE stream = $stream", {"stream": stream})
    ).values()
    as_of = as_of or last_event
    window = measurement_window(runner, settings, as_of, first_event)
    params |= {
        "as_of": as_of,
        # the instant as the findings' texts give it: formatted here, one text on every engine
        "as_of_text": f"{_utc(as_of)} UTC",
        "window_label": window.label,
        "window_start": window.start,
        "window_end": window.end,
    }
    if not plan.full and recomputed == 0:  # nothing changed: the stored results may be current
        current = incremental.current_result(con, stream, as_of, model_dir, window.label)
        if current is not None:
            on_stage("results are current")
            publish_unchanged(engine, stream, current, started_at)
            return current
    on_stage("building visits")
    sequence_column = (
        repr(settings.columns.sequence)
        if settings.columns.sequence
        else "(none: [columns] sequence names one)"
    )
    # the findings read off the events alone, before the visits are built: their grouping of
    # every (case, instant) is then not held on top of the visits (event_findings.sql)
    runner.run(
        "flow_event_findings", params=params | {"log_shape": shape, "sequence_column": sequence_column}
    )
    first_ts, last_ts = first_row(engine.read_arrow("SELECT min(ts), max(ts) FROM flow_events")).values()
    last_ts = max(last_ts, as_of) if last_ts else as_of
    stream_calendar, idle_teams = stage_calendars(
        engine, settings.calendar, settings.calendars, first_ts, last_ts
    )
    first_hour, last_hour = hour_range(first_ts, last_ts)
    # no calendar at all: every visit is 24x7, its business times its times (visits_built__no_calendar.sql)
    runner.choices["any_calendar"] = stream_calendar is not None or bool(settings.calendars)
    params |= {
        "first_hour": first_hour,
        "last_hour": last_hour,
        "start_steps": settings.start_activities,
        "started_steps": started_steps,
        "team_activity": step_by == "team_activity",
        "calendar": stream_calendar,
    }
    # the visits: of the changed cases only (visit_events__incremental.sql) when incremental,
    # then the kept cases' read back from the store (visits__incremental.sql, ...)
    runner.run("flow_visits", "flow_lifecycle", "flow_status_periods", params=params)

    on_stage("finding exits")
    runner.run("flow_step_ends")
    discovered = start_end_rule(pl.from_arrow(engine.read_arrow("flow_step_ends")))
    runner.drop("flow_step_ends")
    start_steps = discovered.filter("is_start")["step"].to_list()
    ends_inferred = not settings.end_activities and shape != "status"  # status: the done statuses
    end_steps = discovered.filter("is_end")["step"].to_list() if ends_inferred else settings.end_activities
    # configured end activities are terminal: work after them is trailing (exits__end_steps.sql)
    terminal = discovered.filter("is_terminal")["step"].to_list() if ends_inferred else end_steps
    # an inferred terminal end step the system reaches by itself a fixed time after the case was
    # ready for it is an automatic close: the case ends when it became ready (automatic_closes.sql)
    runner.run("flow_automatic_closes", params={"ends_inferred": ends_inferred, "terminal_steps": terminal})
    delays = pl.from_arrow(engine.read_arrow("flow_automatic_closes"))
    automatic_closes = automatic_close_rule(delays)
    # the step an automatic close follows (helpdesk: 'Resolve ticket') ends a case too: one that
    # reached it and went no further awaits only the close. Not terminal: a case may go on.
    for before in delays.filter(pl.col("step").is_in(automatic_closes))["before_step"].drop_nulls():
        if before not in end_steps:
            end_steps = sorted([*end_steps, before])
    params |= {
        "end_steps": end_steps,
        "terminal_steps": terminal,
        "automatic_closes": automatic_closes,
        "target_s": settings.lead_time_target_s,
        "stale_after_s": settings.stale_after_s,
        "log_shape": shape,
        "timezone": settings.timezone,
        "step_by": step_by,
        "sequence_column": sequence_column,
        "any_calendar": stream_calendar is not None or bool(settings.calendars),
        "ends_inferred": ends_inferred,
        "start_activities": ", ".join(settings.start_activities)
        or f"first event (discovered start steps: {', '.join(start_steps) or 'none'})",
    }
    events = runner.rows("flow_events")
    # what reads the events (exits, the quality findings' and quiet stretches' share of them,
    # boundary markers, handoffs) before the cases: the events, the flow's largest table, are
    # then freed rather than held through every table below
    runner.run("flow_exits", "flow_event_days", "flow_exit_findings", "flow_handoff_counter", params=params)
    runner.run("flow_cases", params=params)
    if settings.sla:
        stage_slas(con, engine, settings.sla, stream, shape)
        params["first_response"] = sla_first_response(settings.sla)
    runner.run("flow_sla", params=params)

    on_stage("measuring flow")
    runner.run(*(r for r in RESULTS.values() if r not in PYTHON_RESULTS), params=params)

    on_stage("discovering the map")
    stream_map, model_files = discover_map(engine, settings, model_dir)

    on_stage("publishing results")
    summary = first_row(engine.read_arrow("flow_stream_summary"))
    total_cases = engine.read_arrow("SELECT count(*) FROM flow_case_names").column(0)[0].as_py()
    message = (
        ("" if on_duckdb else f"on {engine.name}: ")
        + _compute_message(plan.full, plan.reason, recomputed, total_cases)
        + "; "
        + _window_message(window, summary)
        + _run_message(shape, detected, summary, step_by_reason)
        + (
            f"; [calendars.teams] names teams no event has (their calendars measure nothing yet): "
            f"{', '.join(idle_teams)}"
            if idle_teams
            else ""
        )
    )

    end_steps = [
        r["step"]
        for r in engine.read_arrow(
            "SELECT CAST(step AS VARCHAR) AS step FROM flow_end_steps ORDER BY step"
        ).to_pylist()
    ]
    result = FlowResult(
        stream=stream,
        log_shape=shape,
        shape_detected=detected,
        as_of=as_of,
        cases=summary["cases"],
        open_cases=summary["open_cases"],
        visits=engine.read_arrow("SELECT count(*) FROM flow_visits").column(0)[0].as_py(),
        end_steps=end_steps if shape != "status" else classes.filter("is_exit")["status"].sort().to_list(),
        ends_inferred=bool(summary["ends_inferred"]),
        automatic_closes=automatic_closes,
        status_guesses=[
            tuple(r)
            for r in classes.filter(
                (pl.col("decided_by") != "settings")
                & ~pl.col("status").is_in(placeholders["activity"].implode())
            )
            .select("status", "status_class", "wait_kind", "decided_by")
            .iter_rows()
        ],
        summary=summary,
        start_steps=start_steps,
        main_path=stream_map.main_path,
        entry_lanes=[
            (r["step"], r["start_share"])
            for r in stream_map.map_steps.filter("entry_lane")
            .sort(["starts", "position"], descending=[True, False])  # as the map orders them
            .iter_rows(named=True)
        ],
        folded_steps=stream_map.folded_steps,
        model_files=model_files,
        step_by=step_by,
        step_by_reason=step_by_reason,
        full=plan.full,
        full_reason=plan.reason,
        recomputed_cases=recomputed,
        window=window.label,
        timings=runner.timings,
    )
    result.map_svg = engine.publish(
        stream,
        RESULTS,
        RunRecord(stream, message, started_at, events),
        # no per-case state off DuckDB (its fingerprints are the store's): the next DuckDB
        # compute of the stream is full (decision "engine", forget_cases.sql)
        StateRecord(
            json.dumps(decisions), as_of, incremental.result_json(result), not plan.full, cases=on_duckdb
        ),
    )
    return result


def measurement_window(runner: Runner, settings: StreamSettings, as_of: datetime, first: datetime) -> Window:
    """The compute's measurement window ([flow] window, or --window: settings.window), resolved
    at `as_of` in the stream's zone, staged as flow_window (window.sql; the window macros of
    macros.sql read the same bounds, as parameters).
    A window that misses the stream's events (the first at `first`) altogether is refused: its
    figures would all be empty, and the cause is a typo in the window far likelier than a wish."""
    window = parse_window(settings.window, settings.timezone, as_of, settings.window_key)
    if not window.is_all:
        if window.end <= first or window.start > as_of:
            raise SettingsError(
                f"{settings.window_key} = {settings.window!r} ({window.label}) does not meet the events of "
                f"stream {settings.name!r}, from {_utc(first)} to {_utc(as_of)} UTC "
                "(the last event, as of): choose a window inside that span"
            )
    runner.run(
        "flow_window",
        params={
            "window_label": window.label,
            "window_start": window.start,
            "window_end": window.end,
            "as_of": as_of,
        },
    )
    return window


def _compute_message(full: bool, reason: str, recomputed: int, cases: int) -> str:
    if full:
        return f"full recompute ({reason})"
    if recomputed == 0:
        return f"incremental: no case changed since the last compute (0 of {cases} cases recomputed)"
    return f"incremental: {recomputed} of {cases} cases recomputed (new or changed since the last compute)"


def _window_message(window: Window, summary: dict) -> str:
    if window.is_all:
        return ""
    return (
        f"window {window.label} ({_utc(summary['window_start'])} to {_utc(summary['window_end'])} UTC: "
        f"{summary['completed_cases']} cases completed in it); "
    )


def _utc(instant: datetime) -> str:
    return f"{instant.astimezone(UTC):%Y-%m-%d %H:%M}"


def _run_message(shape: str, detected: bool, summary: dict, step_by_reason: str = "") -> str:
    ends = summary["end_activities"] or "none"
    return (
        f"log shape {shape} ({'detected' if detected else 'from settings'}); {summary['cases']} cases, "
        f"{summary['open_cases']} open ({summary['stale_cases']} stale); end steps "
        f"{'inferred' if summary['ends_inferred'] else 'set'}: {ends}; "
        f"steps by {summary['step_by']} ({step_by_reason})"
    )


def publish_unchanged(engine: Engine, stream: str, result: FlowResult, started_at: datetime) -> None:
    """Record a compute that found the stored results current (no case changed, the same
    as_of and decisions): a runs row, no result table touched."""
    message = (
        f"incremental: no case changed and as of unchanged since the last compute: its results are "
        f"current (0 of {result.cases} cases recomputed, nothing republished)"
    )
    engine.publish(stream, {}, RunRecord(stream, message, started_at, 0), None)
