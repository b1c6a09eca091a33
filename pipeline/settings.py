"""Value-stream settings: one TOML file per stream, `streams/<name>.toml`.

Written by `vsm init` from what was detected, then edited by hand. Every key is validated
with a message naming the key, the value and what is allowed. Relative paths (the source)
are resolved against the project folder, i.e. the parent of the `streams/` folder.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomli

from pipeline.calendars import CalendarVersion, parse_calendar, render_calendar, render_team_calendars
from pipeline.drops import check_pattern, is_glob
from pipeline.errors import SettingsError
from pipeline.nulls import BUILTIN_NULL_VALUES
from pipeline.slas import Sla, parse_slas, render_slas

DEFAULT_STREAMS_DIR = Path("streams")
FORMATS = ("auto", "csv", "parquet", "jsonl", "xes", "ocel", "excel")
LOG_SHAPES = ("auto", "interval", "status", "point")
STEP_BY = ("auto", "activity", "team", "team_activity")  # [flow] step_by: what a step is
STATUS_CLASSES = ("work", "wait", "done")
ENGINES = ("duckdb", "spark")  # [engine] name: where the flow's models run (pipeline/engine*.py)
ENGINE_KEYS = ("name", "spark_master", "spark_shuffle_partitions", "spark_conf", "out")
# spark_conf may not set what [engine] or the compute sets itself
SPARK_CONF_OWN = {
    "spark.master": "spark_master",
    "spark.sql.shuffle.partitions": "spark_shuffle_partitions",
    "spark.sql.session.timeZone": "the stream's [stream] timezone",
    "spark.jars.packages": "nothing: vsm fetches no jars (pyspark's wheel carries Spark's)",
}
ROLES = ("case_id", "activity", "timestamp", "lifecycle", "resource", "team", "start_timestamp", "sequence")
# [columns] event_key: the roles that name one event across exports, so that a newer export's
# version of it (a resource fixed, an attribute changed) replaces the stored one
DEFAULT_EVENT_KEY = ("case_id", "activity", "timestamp", "lifecycle")
# Checked with fullmatch: `$` would also match before a trailing newline ("nl\n").
_STREAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass
class Columns:
    """Which source column plays which role. `activity` may combine several columns."""

    case_id: str = ""
    activity: list[str] = field(default_factory=list)
    timestamp: str = ""
    lifecycle: str = ""
    resource: str = ""
    team: str = ""
    start_timestamp: str = ""
    sequence: str = ""  # whole numbers that order a case's events at the same instant
    # roles naming one event across exports (a newer version replaces it); [] = none
    event_key: list[str] = field(default_factory=lambda: list(DEFAULT_EVENT_KEY))


@dataclass
class Source:
    # file (default) or a system declared in connectors/systems.py (jira, ...): then the
    # keys below `null_values` say where and how to pull, and the file keys stay empty
    kind: str = "file"
    path: str = ""
    format: str = "auto"
    delimiter: str = ""  # CSV: empty = detect
    encoding: str = ""  # CSV: empty = detect
    object_type: str = ""  # OCEL: the object type that is the case
    member: str = ""  # zip archive: the file inside to read; empty = the one log it holds
    sheet: str = ""  # Excel: the sheet to read; empty = the first
    timestamp_format: str = ""  # strftime format (e.g. %d/%m/%Y %H:%M); empty = detect
    # Values read as missing ("?", "NULL", ...): the built-in list unless the settings give one
    # (pipeline/nulls.py); None reads as the built-in list too
    null_values: list[str] | None = field(default_factory=lambda: list(BUILTIN_NULL_VALUES))
    url: str = ""  # system: the instance's base URL
    query: str = ""  # jira: JQL; servicenow: an encoded query on `table`
    table: str = ""  # servicenow: the case table (empty = incident)
    user: str = ""  # system: the account (e-mail or user name)
    auth: str = ""  # system: env:NAME or file:PATH holding the token or password; never the secret
    since: str = ""  # system: where the first pull starts (a date, or an ISO date and time)
    cursor_column: str = ""  # database: the query's column that grows (a timestamp, or an id)
    cursor_overlap: str = ""  # database: read again this far before the stored cursor (empty = 1h)
    statement_timeout: str = ""  # postgres: the query's time limit (empty = 30m)


@dataclass
class Steps:
    rename: dict[str, str] = field(default_factory=dict)  # activity -> step name
    merge: dict[str, list[str]] = field(default_factory=dict)  # step name -> activities
    drop: list[str] = field(default_factory=list)  # activities left off the map


@dataclass
class Discovery:
    """How the map is discovered (docs/discovery.md)."""

    noise_threshold: float = 0.2  # inductive miner (IMf) noise filter, 0..1; 0 = plain IM
    coverage: float = 0.995  # keep the most visited steps covering this share of visits ...
    max_steps: int = 30  # ... and at most this many; the rest is folded into "other"


@dataclass
class EngineSettings:
    """[engine]: where `vsm compute` runs the flow's models (README: running on Spark). Not
    part of the incremental settings digest: the results do not depend on the engine."""

    name: str = "duckdb"  # "duckdb" (embedded, the default) or "spark"
    spark_master: str = "local[*]"  # "local[2]", "spark://host:7077", "yarn", "k8s://https://..."
    spark_shuffle_partitions: int = 8  # spark.sql.shuffle.partitions
    spark_conf: dict[str, str] = field(default_factory=dict)  # further spark.* settings, as they are
    out: str = ""  # Parquet results folder (also --out DIR); empty = none kept

    def is_default(self) -> bool:
        return self == EngineSettings()


@dataclass
class StreamSettings:
    name: str
    source: Source = field(default_factory=Source)
    columns: Columns = field(default_factory=Columns)
    timezone: str = "UTC"
    log_shape: str = "auto"
    step_by: str = "auto"  # status logs: steps are work statuses, teams, or both (pipeline/flow.py)
    start_activities: list[str] = field(default_factory=list)
    end_activities: list[str] = field(default_factory=list)
    status_classes: dict[str, str] = field(default_factory=dict)
    steps: Steps = field(default_factory=Steps)
    discovery: Discovery = field(default_factory=Discovery)
    lead_time_target: str = ""  # e.g. "10d", "36h"; empty = none
    stale_after: str = ""  # [flow]: an open case quiet this long is stale; empty = p99 lead time
    window: str = ""  # [flow]: the measurement window (pipeline/windows.py); empty = all
    window_key: str = "[flow] window"  # where the window came from, for its errors (--window overrides)
    # [calendar] (pipeline/calendars.py): its versions; [] = 24x7, business time is elapsed time
    calendar: list[CalendarVersion] = field(default_factory=list)
    calendars: dict[str, list[CalendarVersion]] = field(
        default_factory=dict
    )  # [calendars.teams]: team -> its own
    sla: list[Sla] = field(default_factory=list)  # [[sla]] (pipeline/slas.py), first match wins
    engine: EngineSettings = field(default_factory=EngineSettings)  # [engine]
    path: Path | None = None  # the settings file this came from

    @property
    def lead_time_target_s(self) -> float | None:
        return parse_duration(self.lead_time_target, "lead_time_target") if self.lead_time_target else None

    @property
    def stale_after_s(self) -> float | None:
        return parse_duration(self.stale_after, "[flow] stale_after") if self.stale_after else None

    def source_path(self) -> Path:
        p = Path(self.source.path)
        if p.is_absolute() or self.path is None:
            return p
        return self.path.resolve().parent.parent / p

    def engine_out(self) -> Path | None:
        """[engine] out as a path: relative to the folder that holds streams/, as the source."""
        if not self.engine.out:
            return None
        p = Path(self.engine.out)
        if p.is_absolute() or self.path is None:
            return p
        return self.path.resolve().parent.parent / p


def parse_duration(text: str, key: str) -> float:
    m = _DURATION.fullmatch(str(text))
    if not m:
        raise SettingsError(
            f"{key} = {text!r}: expected a duration such as '36h', '10d', '2w', '90m' or '30s'"
        )
    return float(m.group(1)) * _DURATION_UNITS[m.group(2)]


def parse_timezone(tz: str, key: str = "[stream] timezone") -> str:
    """`tz` when it is an IANA zone name; otherwise a SettingsError saying what is allowed."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(
            f"{key} = {tz!r}: expected an IANA time zone name such as 'UTC' or 'Europe/Amsterdam'"
        ) from exc
    return tz


def check_window(text: str, timezone: str, key: str) -> None:
    """Refuse a window text that is not one of pipeline/windows.py's forms (a SettingsError
    naming `key`); `last N` is resolved later, at the compute's as_of."""
    from datetime import UTC, datetime

    from pipeline.windows import parse_window

    parse_window(text, timezone, datetime.now(UTC), key)


def settings_path(name: str, streams_dir: Path = DEFAULT_STREAMS_DIR) -> Path:
    check_stream_name(name)
    return Path(streams_dir) / f"{name}.toml"


def check_stream_name(name: str) -> None:
    if not _STREAM_NAME.fullmatch(name):
        raise SettingsError(
            f"stream name {name!r}: expected letters, digits, '_', '-' or '.', starting with a letter "
            "or digit, at most 64 characters"
        )


def list_streams(streams_dir: Path = DEFAULT_STREAMS_DIR) -> list[str]:
    return sorted(p.stem for p in Path(streams_dir).glob("*.toml"))


# ---------------------------------------------------------------- reading and validating


def load_settings(name: str, streams_dir: Path = DEFAULT_STREAMS_DIR) -> StreamSettings:
    path = settings_path(name, streams_dir)
    if not path.exists():
        known = ", ".join(list_streams(streams_dir)) or "none"
        raise SettingsError(
            f"no settings for stream {name!r} at {path} (streams found: {known}); "
            f"create them with `vsm init {name} --source <file>`"
        )
    return read_settings(path)


def read_settings(path: Path) -> StreamSettings:
    try:
        data = tomli.loads(Path(path).read_text(encoding="utf-8"))
    except tomli.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    settings = settings_from_dict(data, where=str(path))
    settings.path = Path(path)
    return settings


def _take(table: dict, key: str, kind: type, where: str, default):
    if key not in table:
        return default
    value = table[key]
    if kind is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SettingsError(f"{where}: {key} = {value!r}: expected a list of strings")
        return list(value)
    if not isinstance(value, kind):
        raise SettingsError(f"{where}: {key} = {value!r}: expected a {kind.__name__}")
    return value


def _check_keys(table: dict, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise SettingsError(f"{where}: unknown key {unknown[0]!r}; allowed keys: {', '.join(allowed)}")


def _choice(value: str, allowed: tuple[str, ...], key: str) -> str:
    if value not in allowed:
        raise SettingsError(f"{key} = {value!r}: expected one of {', '.join(allowed)}")
    return value


def settings_from_dict(data: dict, where: str = "settings") -> StreamSettings:
    _check_keys(
        data,
        (
            "stream",
            "source",
            "columns",
            "flow",
            "status_classes",
            "steps",
            "discovery",
            "calendar",
            "calendars",
        )
        + ("sla", "engine"),
        where,
    )
    stream = data.get("stream", {})
    _check_keys(stream, ("name", "timezone", "lead_time_target"), f"{where} [stream]")
    name = _take(stream, "name", str, f"{where} [stream]", "")
    if not name:
        raise SettingsError(f"{where} [stream]: name is missing: expected the stream's name")
    check_stream_name(name)
    settings = StreamSettings(name=name)

    settings.timezone = parse_timezone(_take(stream, "timezone", str, f"{where} [stream]", "UTC"))
    settings.lead_time_target = _take(stream, "lead_time_target", str, f"{where} [stream]", "")
    if settings.lead_time_target:
        parse_duration(settings.lead_time_target, "[stream] lead_time_target")

    source = data.get("source", {})
    source_keys = tuple(f.name for f in fields(Source))
    _check_keys(source, source_keys, f"{where} [source]")
    for key in source_keys:
        if key == "null_values":
            if key in source:
                settings.source.null_values = _null_values(source[key])
            continue
        setattr(
            settings.source, key, _take(source, key, str, f"{where} [source]", getattr(settings.source, key))
        )
    _choice(settings.source.format, FORMATS, "[source] format")
    if settings.source.kind in _databases():
        _database_settings(settings, where=where)
    elif settings.source.kind != "file":
        _system_settings(settings, cols=data.get("columns", {}), where=where)
    elif not settings.source.path:
        raise SettingsError(f"{where} [source]: path is missing: expected the event log file")
    else:
        _no_system_keys(settings)
        if is_glob(settings.source.path):  # a file drop (pipeline/drops.py)
            check_pattern(settings.source.path, f"{where} [source] path")
    if settings.source.sheet and settings.source.format not in ("auto", "excel"):
        raise SettingsError(
            f"[source] sheet = {settings.source.sheet!r}: only an Excel source has sheets, "
            f"and format is {settings.source.format!r}; leave sheet empty"
        )
    if settings.source.delimiter and len(settings.source.delimiter) != 1:
        raise SettingsError(
            f"[source] delimiter = {settings.source.delimiter!r}: "
            "expected one character, e.g. ',' ';' '\\t' '|'"
        )

    cols = data.get("columns", {})
    _check_keys(cols, (*ROLES, "event_key"), f"{where} [columns]")
    settings.columns.event_key = _event_key(_take(cols, "event_key", list, f"{where} [columns]", None))
    for role in ROLES:
        if role == "activity":
            value = cols.get("activity", [])
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise SettingsError(
                    f"[columns] activity = {value!r}: expected a column name or a list of column names"
                )
            settings.columns.activity = value
        else:
            setattr(settings.columns, role, _take(cols, role, str, f"{where} [columns]", ""))

    flow = data.get("flow", {})
    _check_keys(
        flow,
        ("log_shape", "step_by", "start_activities", "end_activities", "stale_after", "window"),
        f"{where} [flow]",
    )
    settings.log_shape = _choice(
        _take(flow, "log_shape", str, f"{where} [flow]", "auto"), LOG_SHAPES, "[flow] log_shape"
    )
    settings.step_by = _choice(
        _take(flow, "step_by", str, f"{where} [flow]", "auto"), STEP_BY, "[flow] step_by"
    )
    settings.start_activities = _take(flow, "start_activities", list, f"{where} [flow]", [])
    settings.end_activities = _take(flow, "end_activities", list, f"{where} [flow]", [])
    settings.stale_after = _take(flow, "stale_after", str, f"{where} [flow]", "")
    if settings.stale_after and parse_duration(settings.stale_after, "[flow] stale_after") <= 0:
        raise SettingsError(f"[flow] stale_after = {settings.stale_after!r}: expected a duration above zero")
    settings.window = _take(flow, "window", str, f"{where} [flow]", "")
    check_window(settings.window, settings.timezone, "[flow] window")

    classes = data.get("status_classes", {})
    for status, cls in classes.items():
        if not isinstance(cls, str) or cls not in STATUS_CLASSES:
            raise SettingsError(
                f"[status_classes] {status!r} = {cls!r}: expected one of {', '.join(STATUS_CLASSES)}"
            )
    settings.status_classes = dict(classes)

    steps = data.get("steps", {})
    _check_keys(steps, ("rename", "merge", "drop"), f"{where} [steps]")
    rename = steps.get("rename", {})
    if not isinstance(rename, dict) or not all(isinstance(v, str) and v for v in rename.values()):
        raise SettingsError(f'[steps] rename = {rename!r}: expected a table of activity = "step name"')
    merge = steps.get("merge", {})
    if not isinstance(merge, dict) or not all(
        isinstance(v, list) and v and all(isinstance(a, str) for a in v) for v in merge.values()
    ):
        raise SettingsError(f'[steps] merge = {merge!r}: expected a table of step = ["activity", ...]')
    settings.steps = Steps(
        rename=dict(rename),
        merge={k: list(v) for k, v in merge.items()},
        drop=_take(steps, "drop", list, f"{where} [steps]", []),
    )
    settings.discovery = _discovery(data.get("discovery", {}), where)
    _calendars(settings, data, where)
    settings.sla = parse_slas(data.get("sla", []), where)
    settings.engine = parse_engine(data.get("engine", {}), f"{where} [engine]")
    return settings


def parse_engine(table: dict, where: str = "[engine]") -> EngineSettings:
    """[engine], checked: a known name; the spark_* keys only with name = "spark" (with
    duckdb they would change nothing); out only with spark (a DuckDB compute keeps its
    results in the store: `vsm export` writes them out)."""
    if not isinstance(table, dict):
        raise SettingsError(f"{where}: [engine] = {table!r}: expected a table")
    _check_keys(table, ENGINE_KEYS, where)
    engine = EngineSettings(
        name=_choice(_take(table, "name", str, where, "duckdb"), ENGINES, f"{where} name")
    )
    if engine.name != "spark":
        given = [k for k in ENGINE_KEYS if k != "name" and k in table]
        if given:
            raise SettingsError(
                f"{where}: {given[0]} = {table[given[0]]!r} acts on the spark engine only, and name is "
                f'{engine.name!r}: set name = "spark", or remove {given[0]}'
            )
        return engine
    engine.spark_master = _take(table, "spark_master", str, where, engine.spark_master).strip()
    if not engine.spark_master:
        raise SettingsError(
            f'{where}: spark_master = "": expected a Spark master URL, e.g. "local[*]", "spark://host:7077"'
        )
    partitions = table.get("spark_shuffle_partitions", engine.spark_shuffle_partitions)
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise SettingsError(
            f"{where}: spark_shuffle_partitions = {partitions!r}: expected a whole number >= 1"
        )
    engine.spark_shuffle_partitions = partitions
    conf = table.get("spark_conf", {})
    if not isinstance(conf, dict):
        raise SettingsError(f'{where}: spark_conf = {conf!r}: expected a table of "spark.key" = value')
    for key, value in conf.items():
        if not key.startswith("spark."):
            raise SettingsError(f"{where}: spark_conf key {key!r}: expected a Spark setting (spark.*)")
        if key in SPARK_CONF_OWN:
            raise SettingsError(f"{where}: spark_conf key {key!r}: set by {SPARK_CONF_OWN[key]}, not here")
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str | int | float):
            raise SettingsError(
                f"{where}: spark_conf {key!r} = {value!r}: expected a string, number or true/false"
            )
        engine.spark_conf[key] = str(value)
    engine.out = _take(table, "out", str, where, "")
    return engine


def _calendars(settings: StreamSettings, data: dict, where: str) -> None:
    """[calendar] (one table, or [[calendar]] versions) and [calendars.teams] (team = calendar;
    its keys left out are the stream calendar's)."""
    if data.get("calendar"):  # an empty [calendar] is none: 24x7
        settings.calendar = parse_calendar(data["calendar"], f"{where} [calendar]", settings.timezone)
    teams = data.get("calendars", {})
    _check_keys(teams, ("teams",), f"{where} [calendars]")
    teams = teams.get("teams", {})
    if not isinstance(teams, dict):
        raise SettingsError(f"{where} [calendars.teams]: expected a table of team = calendar")
    for team, value in teams.items():
        settings.calendars[team] = parse_calendar(
            value, f"{where} [calendars.teams] {team!r}", settings.timezone, inherit=settings.calendar or None
        )


def _shown_value(key: str, value: str) -> str:
    """A [source] value as an error message may show it: never an `auth` value that is not a
    reference (it may be the secret itself)."""
    if key == "auth" and not value.startswith(("env:", "file:")):
        return "(hidden)"
    return repr(value)


def _no_system_keys(settings: StreamSettings) -> None:
    from connectors.systems import SYSTEM_KEYS, SYSTEMS

    databases = _databases()
    for key in (*SYSTEM_KEYS, *(k for k in _database_keys() if k not in SYSTEM_KEYS)):
        value = getattr(settings.source, key)
        if value:
            users = ", ".join(
                [n for n, s in SYSTEMS.items() if key in s.options]
                + [n for n, d in databases.items() if key in d.options]
            )
            raise SettingsError(
                f"[source] {key} = {_shown_value(key, value)}: a file source has no use for it; it applies "
                f"to [source] kind = {users or 'no system'}; set kind, or leave {key} empty"
            )


def _system_settings(settings: StreamSettings, cols: dict, where: str) -> None:
    """A system source: its kind declared, its required keys given, no key it has no use for
    (file keys included), auth a reference, since a date; [columns] fixed but for a team
    field where the system reads one."""
    from connectors.systems import SYSTEMS, auth_form_error, parse_since

    src = settings.source
    kind = _choice(src.kind, _kinds(), "[source] kind")
    system = SYSTEMS[kind]
    _refuse_keys(src, kind, {**_FILE_KEYS, "timestamp_format": ""}, system.options, SYSTEMS)
    missing = [key for key in system.required if not getattr(src, key)]
    if missing:
        raise SettingsError(
            f"{where} [source]: {', '.join(missing)} missing: a {kind} source needs "
            + "; ".join(f"{k} ({system.option_help.get(k, k)})" for k in system.required)
        )
    if not re.match(r"^https?://[^/\s]+", src.url):
        raise SettingsError(
            f"[source] url = {src.url!r}: expected the instance's base URL, e.g. https://acme.example"
        )
    if src.auth and not re.match(r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$", src.auth):
        raise SettingsError(auth_form_error())
    if src.since:
        parse_since(src.since, settings.timezone)
    for role in ROLES:
        value = cols.get(role)
        if not value:
            continue
        if role == "team" and system.team == "field":
            continue
        allowed = f"only [columns] team ({system.team_help})" if system.team == "field" else "none of them"
        raise SettingsError(
            f"[columns] {role} = {value!r}: a {kind} source's events have fixed columns; it reads {allowed}"
        )


def _databases() -> dict:
    from connectors.database import DATABASES

    return DATABASES


def _refuse_keys(src: Source, kind: str, file_keys: dict, options, systems: dict | None = None) -> None:
    """A SettingsError for a file key set on a source that reads no file, or a system or
    database key that this `kind` has no use for (naming the systems that use it)."""
    from connectors.systems import SYSTEM_KEYS

    for key, default in file_keys.items():
        if getattr(src, key) != default:
            raise SettingsError(
                f"[source] {key} = {getattr(src, key)!r}: a {kind} source reads no file; leave {key} empty "
                f'(or set [source] kind = "file")'
            )
    for key in (*SYSTEM_KEYS, *_database_keys()):
        value = getattr(src, key)
        if value and key not in options:
            users = ", ".join(n for n, s in (systems or {}).items() if key in s.options)
            raise SettingsError(
                f"[source] {key} = {_shown_value(key, value)}: a {kind} source has no use for it; "
                + (f"it applies to {users or 'database sources'} only; " if systems is not None else "")
                + "leave it empty"
            )


def _database_keys() -> tuple[str, ...]:
    from connectors.database import DATABASE_KEYS

    return DATABASE_KEYS


_FILE_KEYS = {
    "path": "",
    "format": "auto",
    "delimiter": "",
    "encoding": "",
    "object_type": "",
    "member": "",
    "sheet": "",
}


def _database_settings(settings: StreamSettings, where: str) -> None:
    """A database source (connectors/database.py): url of its kind without a password, auth a
    reference, the query one SELECT, the durations readable, no key it has no use for. The
    [columns] act as for a file (the query's columns are detected and mapped as a file's)."""
    from connectors.database import DATABASES, check_query, check_url, duration
    from connectors.systems import auth_form_error, parse_since

    src = settings.source
    db = DATABASES[src.kind]
    _refuse_keys(src, src.kind, _FILE_KEYS, db.options)
    missing = [key for key in db.required if not getattr(src, key)]
    if missing:
        raise SettingsError(
            f"{where} [source]: {', '.join(missing)} missing: a {src.kind} source needs url "
            f"(e.g. {db.url_example}) and query (one SELECT)"
        )
    check_url(db, src.url)
    check_query(src.query)
    if src.auth and not re.match(r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$", src.auth):
        raise SettingsError(auth_form_error())
    if src.since:
        if not src.cursor_column:
            raise SettingsError(
                f"[source] since = {src.since!r}: needs [source] cursor_column "
                "(the column since is compared with)"
            )
        parse_since(src.since, settings.timezone)
    if src.cursor_overlap:
        if not src.cursor_column:
            raise SettingsError(
                f"[source] cursor_overlap = {src.cursor_overlap!r}: needs [source] cursor_column"
            )
        duration(src.cursor_overlap, "cursor_overlap")
    if src.statement_timeout and duration(src.statement_timeout, "statement_timeout").total_seconds() < 1:
        raise SettingsError(
            f"[source] statement_timeout = {src.statement_timeout!r}: expected at least 1s (empty = 30m)"
        )


def _null_values(value) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SettingsError(
            f'[source] null_values = {value!r}: expected a list of strings such as ["?", "NULL", "N/A"] '
            "([] = none)"
        )
    return list(value)


def _number(table: dict, key: str, low: float, high: float, default: float, integer: bool = False):
    value = table.get(key, default)
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
        what = "a whole number" if integer else "a number"
        raise SettingsError(f"[discovery] {key} = {value!r}: expected {what} from {low:g} to {high:g}")
    return value


def _discovery(table: dict, where: str) -> Discovery:
    _check_keys(table, ("noise_threshold", "coverage", "max_steps"), f"{where} [discovery]")
    d = Discovery()
    return Discovery(
        noise_threshold=float(_number(table, "noise_threshold", 0.0, 1.0, d.noise_threshold)),
        coverage=float(_number(table, "coverage", 0.01, 1.0, d.coverage)),
        max_steps=int(_number(table, "max_steps", 2, 10_000, d.max_steps, integer=True)),
    )


# ---------------------------------------------------------------- writing


def _toml_str(value: str) -> str:
    # JSON string escapes (\" \\ \n \uXXXX) are valid TOML basic-string escapes.
    return json.dumps(value, ensure_ascii=False)


def _event_key(value: list[str] | None) -> list[str]:
    """[columns] event_key: role names, each once, the case among them; [] = no key."""
    if value is None:
        return list(DEFAULT_EVENT_KEY)
    wrong = [v for v in value if v not in ROLES]
    if wrong:
        raise SettingsError(
            f"[columns] event_key = {value!r}: {wrong[0]!r} is not a role; expected role names from "
            f"{', '.join(ROLES)} (default {list(DEFAULT_EVENT_KEY)!r}; [] = no key)"
        )
    if len(set(value)) != len(value):
        raise SettingsError(f"[columns] event_key = {value!r}: expected each role once")
    if value and "case_id" not in value:
        raise SettingsError(
            f"[columns] event_key = {value!r}: expected the case_id among them (an event belongs to its case)"
        )
    return list(value)


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(_toml_str(v) for v in values) + "]"


def render_settings(s: StreamSettings) -> str:
    """The settings as a commented TOML file, for a person to read and edit."""
    c = s.columns
    null_values = list(BUILTIN_NULL_VALUES) if s.source.null_values is None else s.source.null_values
    activity = _toml_str(c.activity[0]) if len(c.activity) == 1 else _toml_list(c.activity)
    lines = [
        f"# Value stream {s.name!r}: written by `vsm init`, edit freely.",
        "# Every key is optional except [stream] name, [source] path and the three required columns",
        "# (for a system source: [source] kind and the keys it needs, e.g. jira: url, query, user, auth).",
        "",
        "[stream]",
        f"name = {_toml_str(s.name)}",
        "# Naive timestamps in the source are read in this IANA time zone; days are bucketed in it.",
        f"timezone = {_toml_str(s.timezone)}",
        '# Lead-time target, e.g. "10d" or "36h"; cases over it are flagged. Empty = none.',
        f"lead_time_target = {_toml_str(s.lead_time_target)}",
        "",
        "[source]",
        f"# Where the events come from: {', '.join(_kinds())}. A file is read from path;",
        "# a system is pulled from url with query, user and auth (README: system sources).",
        f"kind = {_toml_str(s.source.kind)}",
        "# Relative paths are read from the folder that holds streams/.",
        "# path may be a glob (exports/claims-*.csv): each ingest loads the files new or changed",
        "# since the last run, in name order, and skips the others (the source_files table).",
        f"path = {_toml_str(s.source.path)}",
        f"# One of: {', '.join(FORMATS)}",
        f"format = {_toml_str(s.source.format)}",
        "# CSV only; empty = detect.",
        f"delimiter = {_toml_str(s.source.delimiter)}",
        f"encoding = {_toml_str(s.source.encoding)}",
        "# OCEL only: the object type whose objects are the cases.",
        f"object_type = {_toml_str(s.source.object_type)}",
        "# .zip only: the file inside to read (name, or path in the archive); empty = its one log.",
        f"member = {_toml_str(s.source.member)}",
        "# Excel only: the sheet to read; empty = the first.",
        f"sheet = {_toml_str(s.source.sheet)}",
        '# strftime format for the timestamp column, e.g. "%d/%m/%Y %H:%M"; empty = detect.',
        f"timestamp_format = {_toml_str(s.source.timestamp_format)}",
        "# Values read as missing (resource, team, lifecycle, attributes; a row whose case, activity",
        "# or timestamp is one is rejected). Written out as the built-in list; left out = that",
        "# list; [] = none.",
        f"null_values = {_toml_list(null_values)}",
        "# System sources only (kind other than file):",
        "# the instance's base URL: https and its host, e.g. for jira acme.atlassian.net",
        f"url = {_toml_str(s.source.url)}",
        "# jira: JQL selecting the issues; servicenow: an encoded query on table",
        f"query = {_toml_str(s.source.query)}",
        "# servicenow: the case table; empty = incident",
        f"table = {_toml_str(s.source.table)}",
        "# jira, zendesk: the account's e-mail; servicenow: the user name",
        f"user = {_toml_str(s.source.user)}",
        "# env:NAME or file:PATH holding the token / password; never the secret itself",
        f"auth = {_toml_str(s.source.auth)}",
        '# The first pull starts here: a date ("2025-01-01", midnight in [stream] timezone) or an ISO',
        "# date and time; later pulls start from the stored cursor. Empty = everything.",
        f"since = {_toml_str(s.source.since)}",
        "# Database sources only (kind postgres or sqlite; url a postgresql:// URL without the password,",
        "# or sqlite:/// and the file's path; query = one SELECT): the column whose newer values each",
        "# run reads (a timestamp or an integer id; empty = the whole query every run).",
        f"cursor_column = {_toml_str(s.source.cursor_column)}",
        '# A timestamp cursor re-reads this far back for rows committed late, e.g. "1h" (empty = 1h).',
        f"cursor_overlap = {_toml_str(s.source.cursor_overlap)}",
        '# postgres: the query is cancelled after this long, e.g. "30m" (empty = 30m).',
        f"statement_timeout = {_toml_str(s.source.statement_timeout)}",
        "",
        "[columns]",
        "# Source column for each role; activity may be a list, joined with ' / ' (status + sub-status).",
        "# A system source's columns are fixed; for jira, team may name the field holding the team.",
        f"case_id = {_toml_str(c.case_id)}",
        f"activity = {activity}",
        f"timestamp = {_toml_str(c.timestamp)}",
        f"lifecycle = {_toml_str(c.lifecycle)}",
        f"resource = {_toml_str(c.resource)}",
        f"team = {_toml_str(c.team)}",
        f"start_timestamp = {_toml_str(c.start_timestamp)}",
        "# Whole numbers (an update or event number) that order a case's events at the same instant;",
        "# empty = file order.",
        f"sequence = {_toml_str(c.sequence)}",
        "# The roles that name one event across exports: a later load's version of an event with the",
        "# same values (a resource fixed, a team or an attribute changed) replaces the stored one.",
        f"# Roles: {', '.join(ROLES)}; [] = no key (every version kept, as a new event).",
        f"event_key = {_toml_list(c.event_key)}",
        "",
        "[flow]",
        f"# One of: {', '.join(LOG_SHAPES)} (auto = detect from lifecycle / start column / statuses).",
        f"log_shape = {_toml_str(s.log_shape)}",
        "# Status logs: what a step is. activity = each work status; team = each assignment group",
        "# (a visit is a stretch of the case with one team); team_activity = team / work status;",
        "# auto = team when the log has a team column and at most two work statuses, else activity.",
        f"step_by = {_toml_str(s.step_by)}",
        "# Empty = inferred by the run, which reports what it inferred.",
        f"start_activities = {_toml_list(s.start_activities)}",
        f"end_activities = {_toml_list(s.end_activities)}",
        '# An open case with no event for this long before the last event (e.g. "90d") is stale:',
        "# counted apart from WIP and Little's Law. Empty = the p99 lead time of completed cases.",
        f"stale_after = {_toml_str(s.stale_after)}",
        "# The measurement window the results cover: '2026-03-01..2026-03-14', '2026-03', '2026-Q1',",
        "# '2026', 'last 14d' (ending at the last event), or 'all' / empty = the whole history.",
        f"window = {_toml_str(s.window)}",
        "",
        "# Status logs: class of each status, one of work / wait / done. Unlisted statuses get a",
        "# default guessed from the name, which the run reports.",
        "[status_classes]",
        *[f"{_toml_str(k)} = {_toml_str(v)}" for k, v in s.status_classes.items()],
        "",
        "[steps]",
        '# rename = { "Register Claim" = "Register" }',
        '# merge = { "Assess" = ["Assess Damage", "Second Assessment"] }',
        '# drop = ["Send Reminder"]',
        "rename = {" + ", ".join(f"{_toml_str(k)} = {_toml_str(v)}" for k, v in s.steps.rename.items()) + "}",
        "merge = {" + ", ".join(f"{_toml_str(k)} = {_toml_list(v)}" for k, v in s.steps.merge.items()) + "}",
        f"drop = {_toml_list(s.steps.drop)}",
        "",
        "[discovery]",
        "# Inductive-miner noise threshold (0..1; 0 = no filtering) for the BPMN / PNML model.",
        f"noise_threshold = {s.discovery.noise_threshold}",
        "# The map keeps the most visited steps covering this share of visits, at most max_steps",
        '# of them; the rest is drawn as "other" (--coverage on the command line).',
        f"coverage = {s.discovery.coverage}",
        f"max_steps = {s.discovery.max_steps}",
        "",
        "# Business hours (README: business hours and service levels): [calendar] timezone, hours",
        '# (e.g. mon = ["08:00-12:00", "13:00-17:00"]; days left out are closed), holidays',
        "# ({ country, subdivision, dates }), valid_from; [calendars.teams] gives teams their own.",
        "# None = 24x7: business durations (*_bh_s) equal the elapsed ones.",
        *(render_calendar("calendar", s.calendar, _toml_str) if s.calendar else ["[calendar]", ""]),
        "# A team's own calendar: [calendars.teams.\"Team name\"], its keys left out are [calendar]'s.",
        *(render_team_calendars(s.calendars, _toml_str) if s.calendars else ["[calendars.teams]", ""]),
        *render_engine(s.engine),
        *(
            [
                "# Service levels: [[sla]] name, where (SQL on the case's attributes; first match wins),",
                "# start, stop, pause, target, warn_at (README: business hours and service levels).",
                *render_slas(s.sla, _toml_str),
            ]
            if s.sla
            else []
        ),
    ]
    if not s.sla:  # a key, so it goes before the first table
        lines[4:4] = [
            "# Service levels: none. Add [[sla]] tables (name, where, start, stop, pause, target,",
            "# warn_at; README: business hours and service levels) at the end, and remove this key.",
            "sla = []",
            "",
        ]
    return "\n".join(lines)


def render_engine(e: EngineSettings) -> list[str]:
    """[engine]: the lines of its TOML table (with duckdb, its name alone: the other keys
    are the spark engine's, refused with duckdb)."""
    lines = [
        "# Where the flow's models run: duckdb (embedded, the default) or spark (README: Running on",
        "# Spark; keys spark_master, spark_shuffle_partitions, spark_conf, out). vsm compute",
        "# --engine overrides it. The results are published into the store either way.",
        "[engine]",
        f"name = {_toml_str(e.name)}",
    ]
    if e.name == "spark":
        conf = ", ".join(f"{_toml_str(k)} = {_toml_str(v)}" for k, v in sorted(e.spark_conf.items()))
        lines += [
            f"spark_master = {_toml_str(e.spark_master)}",
            f"spark_shuffle_partitions = {e.spark_shuffle_partitions}",
            f"spark_conf = {{ {conf} }}" if conf else "spark_conf = {}",
            "# A folder that keeps the results as Parquet, partitioned by stream; empty = none.",
            f"out = {_toml_str(e.out)}",
        ]
    return [*lines, ""]


def _kinds() -> tuple[str, ...]:
    from connectors.systems import KINDS

    return (*KINDS, *_databases())


def write_settings(s: StreamSettings, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_settings(s)
    settings_from_dict(tomli.loads(text), where=str(path))  # what we write must read back
    # whole or not at all: a run killed while writing must not leave half a file that the
    # next run reads (written beside it, then renamed over it)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    s.path = path
    return path
