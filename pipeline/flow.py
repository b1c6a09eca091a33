"""The flow engine: a stream's events in, its value-stream results out.

Each figure is a SQL file under `sql/flow/` (one relation per file, set-wise, no loop over
cases or events); this module only decides which files run, binds their parameters and
publishes the results. Intermediate relations are temp tables named `flow_*`; publishing
replaces the stream's rows in every result table in one transaction, so analysts never
see half a recompute.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from pipeline import incremental
from pipeline.calendars import holidays_version, hour_range, stage_calendars
from pipeline.discovery import preload, write_model
from pipeline.errors import SettingsError, VsmError
from pipeline.history import append_snapshot
from pipeline.memory import memory_guard
from pipeline.nulls import null_values, placeholder_statuses
from pipeline.settings import StreamSettings
from pipeline.slas import sla_first_response, stage_slas
from pipeline.statuses import classify_statuses, guess_log_shape, status_steps
from pipeline.store import query_frame, read_sql, sql_literal
from pipeline.stream_map import StreamMap, build_map
from pipeline.variant_steps import start_end_rule
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

# Result tables whose rows of a case depend on that case's events only (and on the global
# decisions an incremental compute keeps): it rewrites the rows of the recomputed cases alone.
CASE_TABLES = ("visits", "status_periods")

# More activities or steps than this are held as text, not as an ENUM (enum_type).
ENUM_MAX_NAMES = 100_000

# Result columns that hold a resource's or team's number in the flow (flow_owner_names).
OWNER_COLUMNS = ("resource", "team", "from_team", "to_team")


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
    status_guesses: list[tuple[str, str, str | None, str]] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    start_steps: list[str] = field(default_factory=list)  # discovered: where cases start
    main_path: list[str] = field(default_factory=list)
    folded_steps: list[str] = field(default_factory=list)  # drawn as "other" on the map
    model_files: list[Path] = field(default_factory=list)  # BPMN and PNML
    step_by: str = "activity"  # what a step is: activity, team or team_activity (choose_step_by)
    step_by_reason: str = ""  # why: from the settings, or what "auto" saw
    full: bool = True  # a full recompute, or an incremental one (pipeline/incremental.py)
    full_reason: str = ""  # why full: --full, no stored state, or the decision that changed
    recomputed_cases: int = 0  # cases whose visits were built anew (all of them when full)
    window: str = ALL  # the measurement window's label (pipeline/windows.py), 'all' for none


def discover_map(
    con: duckdb.DuckDBPyConnection, settings: StreamSettings, model_dir: Path | None
) -> tuple[StreamMap, list[Path]]:
    """Run discovery on the completed cases' variants; stage map_steps, rework_loops, decision_points."""
    variants = query_frame(con, "SELECT steps, cases, lead_time_mean_s FROM flow_variants")
    d = settings.discovery
    stream_map = build_map(
        variants, noise_threshold=d.noise_threshold, coverage=d.coverage, max_steps=d.max_steps
    )
    for table, frame in (
        ("map_steps", stream_map.map_steps),
        ("rework_loops", stream_map.rework_loops),
        ("decision_points", stream_map.decision_points),
    ):
        con.register(f"flow_{table}_in", frame.to_arrow())
        con.execute(f"CREATE OR REPLACE TEMP TABLE flow_{table} AS SELECT * FROM flow_{table}_in")
        con.unregister(f"flow_{table}_in")
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
    being a stretch of a case with one team (int_visits_team.sql); team_activity: team and
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


def enum_type(names: pl.Series) -> str:
    """The SQL type the flow holds activities and steps in: an ENUM of the names in text
    order (so comparisons, min/max and ORDER BY go as with the text). VARCHAR when there is
    none (every activity dropped) or more than ENUM_MAX_NAMES: the type is spelled out in
    SQL (50,000 names take 0.35 s), and a column of that many activities is rather a mapping
    mistake. Names ride through every window and sort of the flow: as small numbers they
    sort and hash several times cheaper than as text (10M events: the flow 17.9 s ->
    14.2 s), and they read as text wherever text is needed (string functions, published
    columns)."""
    values = sorted(set(names.drop_nulls().to_list()))  # code-point order is UTF-8 byte order
    if not values or len(values) > ENUM_MAX_NAMES:
        return "VARCHAR"
    return "ENUM(" + ", ".join(sql_literal(v) for v in values) + ")"


def _run(con: duckdb.DuckDBPyConnection, name: str, params: dict | None = None, folder: str = "flow") -> None:
    sql = read_sql(f"{folder}/{name}.sql")
    for statement in (s for s in sql.split(";\n") if s.strip() and not _only_comments(s)):
        used = {k: v for k, v in (params or {}).items() if f"${k}" in statement}
        con.execute(statement, used or None)


def _only_comments(statement: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in statement.splitlines())


def compute_flow(
    con: duckdb.DuckDBPyConnection,
    settings: StreamSettings,
    *,
    as_of: datetime | None = None,
    model_dir: Path | None = None,
    on_stage: Callable[[str], None] = lambda _: None,
    full: bool = False,
) -> FlowResult:
    """Compute every result table of the stream and publish them atomically.

    Incremental unless `full` (pipeline/incremental.py): only the cases whose events changed
    since the last compute get their visits built anew; a full recompute when there is no
    stored state or a global decision (settings, activities, ...) changed.
    `model_dir`: where to write the discovered model (<stream>.bpmn, <stream>.pnml)."""
    started_at = datetime.now(UTC)  # the run's started_at: when the compute began, not when it published
    stream = settings.name
    activities = query_frame(con, read_sql("flow/int_activities.sql"), {"stream": stream})
    if activities.is_empty():
        raise EmptyStreamError(
            f"stream {stream!r} has no events in the store; load it first (vsm ingest {stream})"
        )
    preload()  # pm4py's import, for discovery at the end, runs while the SQL below does
    con.execute(f"SET TimeZone = '{settings.timezone}'")  # validated IANA name; days bucket in it
    # With a session TimeZone, `b - a` on TIMESTAMPTZ is a calendar interval (a DST day is
    # 24 h), so every duration goes through this macro: true elapsed seconds.
    con.execute("CREATE OR REPLACE TEMP MACRO seconds_between(a, b) AS epoch(b) - epoch(a)")
    try:
        with memory_guard(f"computing the flow of stream {stream!r}"):
            return _compute(con, settings, activities, as_of, model_dir, on_stage, started_at, full)
    finally:
        con.execute("SET TimeZone = 'UTC'")


def _compute(con, settings, activities, as_of, model_dir, on_stage, started_at, full) -> FlowResult:
    stream = settings.name
    on_stage("mapping steps")
    mapping = step_map(activities["activity"].to_list(), settings)
    con.register("flow_step_map_in", mapping.to_arrow())
    activity_type = enum_type(mapping["activity"])
    con.execute(
        "CREATE OR REPLACE TEMP TABLE flow_step_map AS "
        f"SELECT CAST(activity AS {activity_type}) AS activity, "
        f"CAST(step AS {enum_type(mapping['step'])}) AS step, placeholder FROM flow_step_map_in"
    )
    placeholders = mapping.filter("placeholder").join(activities.select("activity", "events"), on="activity")
    con.register("flow_placeholder_statuses_in", placeholders.select("activity", "events").to_arrow())
    con.execute(  # the placeholder statuses dropped from the map, with their events (fct_quality_findings)
        "CREATE OR REPLACE TEMP TABLE flow_placeholder_statuses AS "
        "SELECT CAST(activity AS VARCHAR) AS status, events FROM flow_placeholder_statuses_in"
    )
    _run(con, "int_flow_events", {"stream": stream})

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
    con.register("flow_status_classes_in", classes.to_arrow())
    con.execute(  # statuses are activities: the same ENUM, so they join and compare as numbers
        "CREATE OR REPLACE TEMP TABLE flow_status_classes AS SELECT * REPLACE ("
        f"CAST(status AS {activity_type}) AS status, "
        f"CAST(status_class AS {enum_type(classes['status_class'])}) AS status_class, "
        f"CAST(wait_kind AS {enum_type(classes['wait_kind'])}) AS wait_kind) FROM flow_status_classes_in"
    )

    started = mapping.join(activities.filter(pl.col("starts") > 0).select("activity"), on="activity")
    started_steps = sorted(started["step"].drop_nulls().unique().to_list())
    # the decisions every case's visits depend on: any change, and the compute is full
    decisions = {
        "settings": incremental.settings_digest(settings),
        "flow_sql": incremental.flow_sql_digest(),
        "activities": incremental.digest(activity_type),
        "step_map": incremental.frame_digest(mapping),
        "status_classes": incremental.frame_digest(classes.drop("events", strict=False)),
        "log_shape": shape,
        "step_by": step_by,
        "started_steps": started_steps if shape != "status" else [],
        "holidays": holidays_version(settings.calendar, settings.calendars),
    }
    previous = incremental.previous_decisions(con, stream)
    plan = incremental.plan(previous, decisions, full)
    on_stage("finding changed cases")
    _run(con, "case_fingerprints", {"stream": stream, "full": plan.full}, folder="flow_state")
    recomputed = con.execute("SELECT count(*) FROM flow_recompute").fetchall()[0][0]
    first_event, last_event = con.execute(
        "SELECT min(ts), max(ts) FROM events WHERE stream = $stream", {"stream": stream}
    ).fetchall()[0]
    as_of = as_of or last_event
    window = measurement_window(con, settings, as_of, first_event)
    if not plan.full and recomputed == 0:  # nothing changed: the stored results may be current
        current = incremental.current_result(con, stream, as_of, model_dir, window.label)
        if current is not None:
            on_stage("results are current")
            publish_unchanged(con, stream, current, started_at)
            _unregister_inputs(con)
            return current
    on_stage("building visits")
    first_ts, last_ts = con.execute("SELECT min(ts), max(ts) FROM flow_events").fetchall()[0]
    last_ts = max(last_ts, as_of) if last_ts else as_of
    stream_calendar, idle_teams = stage_calendars(
        con, settings.calendar, settings.calendars, first_ts, last_ts
    )
    first_hour, last_hour = hour_range(first_ts, last_ts)
    _run(con, "int_calendar_hours", {"first_hour": first_hour, "last_hour": last_hour})
    # every case's arrival, before the events narrow to the changed cases: fct_cases reads them
    _run(con, "int_arrivals", {"start_steps": settings.start_activities})
    if not plan.full:  # the visit steps below see the changed cases' events only
        con.execute("ALTER TABLE flow_events RENAME TO flow_events_all")
        con.execute(
            "CREATE TEMP TABLE flow_events AS SELECT e.* FROM flow_events_all AS e "
            "SEMI JOIN flow_recompute AS r ON r.case_no = e.case_id"
        )
    if shape == "status":
        _run(con, "int_visits_status", {"team_activity": step_by == "team_activity"})
        if step_by == "team":
            _run(con, "int_visits_team", {"calendar": stream_calendar})
    else:
        _run(
            con,
            "int_visits_interval" if shape == "interval" else "int_visits_point",
            {"started_steps": started_steps},
        )
        _run(con, "int_no_status_periods")
    _run(con, "int_visit_sessions" if shape == "interval" else "int_visit_one_session")
    _run(con, "fct_visits")
    _run(con, "fct_visits_business", {"calendar": stream_calendar})
    con.execute("DROP TABLE flow_raw_visits")  # nothing reads it past here: free its memory
    if not plan.full:  # the kept cases' visits back from the store, then every event again
        con.execute("DROP TABLE flow_events")
        con.execute("ALTER TABLE flow_events_all RENAME TO flow_events")
        _run(con, "restore_cases", {"stream": stream}, folder="flow_state")
        if shape == "status":
            _run(con, "restore_periods", {"stream": stream}, folder="flow_state")

    on_stage("finding exits")
    discovered = start_end_rule(query_frame(con, read_sql("flow/int_step_ends.sql")))
    start_steps = discovered.filter("is_start")["step"].to_list()
    ends_inferred = not settings.end_activities and shape != "status"  # status: the done statuses
    end_steps = discovered.filter("is_end")["step"].to_list() if ends_inferred else settings.end_activities
    # configured end activities are terminal: work after them is trailing (int_exits_end_steps.sql)
    terminal = discovered.filter("is_terminal")["step"].to_list() if ends_inferred else end_steps
    _run(con, "int_end_steps", {"end_steps": end_steps, "terminal_steps": terminal})
    _run(con, "int_exits_status" if shape == "status" else "int_exits_end_steps")
    params = {
        "stream": stream,
        "as_of": as_of,
        "target_s": settings.lead_time_target_s,
        "stale_after_s": settings.stale_after_s,
        "log_shape": shape,
        "timezone": settings.timezone,
        "step_by": step_by,
        "sequence_column": repr(settings.columns.sequence)
        if settings.columns.sequence
        else "(none: [columns] sequence names one)",
    }
    # what the quality findings and the quiet stretches need of the events, then the events
    # go: the flow's largest table, it would otherwise be held through every table below
    _run(con, "int_event_days", params)
    _run(con, "int_event_findings", params)
    # handoffs read the events in status logs (and the markers read them in every log)
    _run(con, "int_boundary_markers")
    _run(con, "int_handoffs", params)
    con.execute("DROP TABLE flow_case_bounds")  # per case, read by the markers only
    _run(con, "int_handoff_counter", params)
    events = con.execute("SELECT count(*) FROM flow_events").fetchall()[0][0]
    con.execute("DROP TABLE flow_events")
    _run(con, "fct_cases", params)
    any_calendar = stream_calendar is not None or bool(settings.calendars)
    _run(con, "fct_cases_business", {"calendar": stream_calendar, "any_calendar": any_calendar})
    if settings.sla:
        stage_slas(con, settings.sla, stream, shape)
        first_response = sla_first_response(settings.sla)
        _run(con, "fct_sla", params | {"calendar": stream_calendar, "first_response": first_response})
    else:  # no service level: an empty flow_sla, the shape of `sla` (case_id a case number)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE flow_sla AS "
            "SELECT * EXCLUDE (stream) REPLACE (CAST(NULL AS UINTEGER) AS case_id) FROM sla LIMIT 0"
        )

    on_stage("measuring flow")
    for name in (
        "int_wip",
        "int_batching",
        "fct_step_metrics",
        "fct_transitions",
        "fct_variants",
        "fct_handoffs",
        "fct_aging_wip",
        "fct_quality_findings",
        "fct_stream_summary",
    ):
        _run(
            con,
            name,
            params
            | {
                "ends_inferred": ends_inferred,
                "start_activities": ", ".join(settings.start_activities)
                or f"first event (discovered start steps: {', '.join(start_steps) or 'none'})",
            },
        )

    on_stage("discovering the map")
    stream_map, model_files = discover_map(con, settings, model_dir)

    on_stage("publishing results")
    summary = query_frame(con, "SELECT * FROM flow_stream_summary").to_dicts()[0]
    total_cases = con.execute("SELECT count(*) FROM flow_case_names").fetchall()[0][0]
    message = (
        _compute_message(plan.full, plan.reason, recomputed, total_cases)
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

    end_steps = [r[0] for r in con.execute("SELECT step FROM flow_end_steps ORDER BY step").fetchall()]
    result = FlowResult(
        stream=stream,
        log_shape=shape,
        shape_detected=detected,
        as_of=as_of,
        cases=summary["cases"],
        open_cases=summary["open_cases"],
        visits=con.execute("SELECT count(*) FROM flow_visits").fetchall()[0][0],
        end_steps=end_steps if shape != "status" else classes.filter("is_exit")["status"].sort().to_list(),
        ends_inferred=bool(summary["ends_inferred"]),
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
        folded_steps=stream_map.folded_steps,
        model_files=model_files,
        step_by=step_by,
        step_by_reason=step_by_reason,
        full=plan.full,
        full_reason=plan.reason,
        recomputed_cases=recomputed,
        window=window.label,
    )

    def save_state(run_id: int) -> None:  # in publish's transaction: state and results agree
        _run(
            con,
            "save_state",
            {
                "stream": stream,
                "decisions": json.dumps(decisions),
                "as_of": as_of,
                "run_id": run_id,
                "result": incremental.result_json(result),
            },
            folder="flow_state",
        )

    publish(
        con,
        stream,
        message,
        events=events,
        started_at=started_at,
        state=save_state,
        only_changed_cases=not plan.full,
    )
    _unregister_inputs(con)
    return result


def _unregister_inputs(con: duckdb.DuckDBPyConnection) -> None:
    """The Arrow inputs registered for the compute (step map, status classes, placeholders)."""
    for name in ("flow_step_map_in", "flow_status_classes_in", "flow_placeholder_statuses_in"):
        con.unregister(name)


def measurement_window(
    con: duckdb.DuckDBPyConnection, settings: StreamSettings, as_of: datetime, first: datetime
) -> Window:
    """The compute's measurement window ([flow] window, or --window: settings.window), resolved
    at `as_of` in the stream's zone, staged as flow_window with its macros (int_window.sql).
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
    _run(
        con,
        "int_window",
        {
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


def publish_unchanged(
    con: duckdb.DuckDBPyConnection, stream: str, result: FlowResult, started_at: datetime
) -> None:
    """Record a compute that found the stored results current (no case changed, the same
    as_of and decisions): a runs row, no result table touched."""
    message = (
        f"incremental: no case changed and as of unchanged since the last compute: its results are "
        f"current (0 of {result.cases} cases recomputed, nothing republished)"
    )
    run_id = con.execute("SELECT nextval('run_id_seq')").fetchall()[0][0]
    con.execute(
        "INSERT INTO runs (run_id, stream, kind, source, started_at, finished_at, status, events_read, "
        "events_loaded, events_rejected, events_known, message) "
        "SELECT $run_id, $stream, 'compute', NULL, $started, $finished, 'ok', 0, 0, 0, 0, $message",
        {
            "run_id": run_id,
            "stream": stream,
            "message": message,
            "started": started_at,
            "finished": datetime.now(UTC),
        },
    )


def publish(
    con: duckdb.DuckDBPyConnection,
    stream: str,
    message: str = "",
    *,
    events: int = 0,
    started_at: datetime | None = None,
    state: Callable[[int], None] | None = None,
    only_changed_cases: bool = False,
) -> None:
    """Replace the stream's rows in every result table and record the run (`events`: how many
    the flow read; `started_at`: when the compute began, default now), all or nothing. The
    run's finished_at is when its results were written, just before they commit (the SQL
    now() would be the transaction's start, the same instant for both). `state(run_id)` writes
    the incremental compute's state in the same transaction (pipeline/incremental.py);
    `only_changed_cases`: an incremental compute's, whose CASE_TABLES rows change for the
    recomputed cases only (flow_recompute; the others, flow_kept_cases, are left as they are).
    The compute's snapshot (pipeline/history.py) is appended in the same transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        run_id = con.execute("SELECT nextval('run_id_seq')").fetchall()[0][0]
        for table, temp in RESULTS.items():
            columns = [
                c
                for (c,) in con.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = $t AND table_schema = 'main' ORDER BY ordinal_position",
                    {"t": table},
                ).fetchall()
            ]
            # the flow's case_id, resource and team are numbers (int_flow_events.sql): their
            # texts go out
            select, names = [], ""
            for c in columns:
                if c == "stream":
                    select.append("$stream")
                elif c == "case_id":
                    select.append("k.case_id")
                    names += " LEFT JOIN flow_case_names AS k ON k.case_no = t.case_id"
                elif c in OWNER_COLUMNS:
                    select.append(f'"o_{c}".name')
                    names += f' LEFT JOIN flow_owner_names AS "o_{c}" ON "o_{c}".owner_no = t."{c}"'
                else:
                    select.append(f't."{c}"')
            select = ", ".join(select)
            if only_changed_cases and table in CASE_TABLES:  # the kept cases' rows are as they were
                con.execute(
                    f"DELETE FROM {table} WHERE stream = $stream "
                    "AND case_id NOT IN (SELECT case_id FROM flow_kept_cases)",
                    {"stream": stream},
                )
                names += " SEMI JOIN flow_recompute AS r ON r.case_no = t.case_id"
            else:
                con.execute(f"DELETE FROM {table} WHERE stream = $stream", {"stream": stream})
            con.execute(f"INSERT INTO {table} SELECT {select} FROM {temp} AS t{names}", {"stream": stream})
        if state is not None:
            state(run_id)
        finished_at = datetime.now(UTC)
        append_snapshot(con, stream, run_id, finished_at)  # metric_history, map_history: never deleted
        con.execute(
            "INSERT INTO runs (run_id, stream, kind, source, started_at, finished_at, status, events_read, "
            "events_loaded, events_rejected, events_known, message) "
            "SELECT $run_id, $stream, 'compute', NULL, $started, $finished, 'ok', "
            "$events, 0, 0, 0, $message",
            {
                "run_id": run_id,
                "stream": stream,
                "message": message,
                "events": events,
                "started": started_at or finished_at,
                "finished": finished_at,
            },
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
