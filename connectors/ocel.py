"""OCEL 2.0 connector: JSON, XML or SQLite -> raw rows flattened on one object type.

One row per (event, object of the chosen type related to that event), in document order of
the events (then of the event's relationships). Columns: ``case:concept:name`` (object id),
``concept:name`` (event type), ``time:timestamp`` (UTC-aware), ``ocel:eid``, the event
attributes, and ``_line`` (1-based event number in the file). See `connectors.base`.

We parse the three formats ourselves instead of using rustxes' OCEL importers: those sort
events by time (losing the document order ``_line`` must report), return naive timestamps,
panic on malformed input, and there is no SQLite importer. OCEL files are far smaller than
XES logs for the same process, so plain Python parsing is fast enough.

Times with a UTC offset become UTC-aware datetimes. If no value of a column has an offset,
the column stays naive (wall-clock as written) so that the pipeline reads it in the stream's
time zone; a column mixing both is refused, as there is no honest single type for it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from lxml import etree

from connectors.base import LINE_COLUMN
from connectors.xes import PROLOG_BYTES, check_xml_prolog
from pipeline.errors import SourceError
from pipeline.store import sql_identifier

CASE_ID = "case:concept:name"
ACTIVITY = "concept:name"
TIMESTAMP = "time:timestamp"
EVENT_ID = "ocel:eid"
RESERVED = (CASE_ID, ACTIVITY, TIMESTAMP, EVENT_ID, LINE_COLUMN)
SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_REQUIRED_TABLES = ("event", "object", "event_object", "event_map_type")
INT64_RANGE = range(-(2**63), 2**63)
_XML_TAGS = ("{*}object-type", "{*}event-type", "{*}object", "{*}event")


@dataclass
class _Ocel:
    """What the flattening needs from an OCEL 2.0 log; events are in document order."""

    event_ids: list[str] = field(default_factory=list)
    event_types: list[str] = field(default_factory=list)
    event_times: list[datetime] = field(default_factory=list)
    event_attributes: list[dict[str, Any]] = field(default_factory=list)
    link_events: list[int] = field(default_factory=list)  # 0-based event index per E2O link
    link_objects: list[str] = field(default_factory=list)  # object id per E2O link
    object_types: dict[str, str] = field(default_factory=dict)  # object id -> object type
    declared_object_types: set[str] = field(default_factory=set)

    def add_event(self, event_id: str, event_type: str, time: datetime, attributes: dict[str, Any]) -> int:
        self.event_ids.append(event_id)
        self.event_types.append(event_type)
        self.event_times.append(time)
        self.event_attributes.append(attributes)
        return len(self.event_ids) - 1

    def link(self, event_index: int, object_id: str) -> None:
        self.link_events.append(event_index)
        self.link_objects.append(object_id)


def read_ocel(path: Path, object_type: str) -> pl.DataFrame:
    """Read an OCEL 2.0 log (JSON, XML or SQLite) flattened on `object_type`."""
    path = Path(path)
    readers = {"json": _read_json, "xml": _read_xml, "sqlite": _read_sqlite}
    ocel = readers[_sniff_format(path)](path)
    return _flatten(path, ocel, object_type)


def _sniff_format(path: Path) -> str:
    """Decide the format from the content, not the suffix (a .json may hold XML by mistake)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(PROLOG_BYTES)
    except OSError as exc:
        raise SourceError(path, f"cannot be opened: {exc.strerror or exc}") from exc
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not start:
        raise SourceError(path, "is empty; expected an OCEL 2.0 log (JSON, XML or SQLite)")
    if start.startswith(b"{"):
        return "json"
    if start.startswith(b"<"):
        return "xml"
    raise SourceError(
        path,
        "is not an OCEL 2.0 log: expected JSON (starting with '{'), "
        "XML (starting with '<') or an SQLite database",
    )


# --- JSON ---------------------------------------------------------------------------------


def _read_json(path: Path) -> _Ocel:
    data = _load_json(path)
    if not isinstance(data, dict):
        raise SourceError(path, "is JSON but not an OCEL 2.0 log (expected an object with 'events')")
    if "ocel:events" in data:
        raise SourceError(path, "is an OCEL 1.0 JSON log; expected OCEL 2.0 (keys 'events', 'objects')")
    declared = _json_declared_types(path, data.get("eventTypes") or [])
    ocel = _Ocel()
    for item in _json_list(path, data, "objectTypes", required=False):
        ocel.declared_object_types.add(_text(path, item, "name", "an objectTypes entry"))
    for number, item in enumerate(_json_list(path, data, "objects", required=True), start=1):
        where = f"object #{number}"
        ocel.object_types[_text(path, item, "id", where)] = _text(path, item, "type", where)
    for number, item in enumerate(_json_list(path, data, "events", required=True), start=1):
        _add_json_event(path, ocel, item, number, declared)
    return ocel


def _load_json(path: Path) -> Any:
    try:
        raw = path.read_bytes()
        return json.loads(raw)  # bytes: json detects UTF-8/16/32 itself
    except OSError as exc:
        raise SourceError(path, f"cannot be read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise SourceError(path, f"is not valid UTF-8/16/32 text ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        # An error at the very end, or a string never closed, is what a cut-off file gives.
        cut = exc.pos >= len(exc.doc.rstrip()) - 1 or exc.msg.startswith("Unterminated string")
        hint = " - the file is truncated" if cut else ""
        raise SourceError(
            path,
            f"is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}){hint}; expected an OCEL 2.0 JSON log",
        ) from exc
    except RecursionError as exc:
        raise SourceError(path, "is JSON nested too deeply to be an OCEL 2.0 log") from exc


def _json_list(path: Path, data: dict[str, Any], key: str, required: bool) -> list[Any]:
    value = data.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise SourceError(path, f"is not an OCEL 2.0 JSON log: '{key}' must be a list")
    return value


def _json_declared_types(path: Path, event_types: Any) -> dict[tuple[str, str], str]:
    """(event type, attribute name) -> declared OCEL type ('string', 'integer', 'time', ...)."""
    declared: dict[tuple[str, str], str] = {}
    for event_type in event_types if isinstance(event_types, list) else []:
        name = _text(path, event_type, "name", "an eventTypes entry")
        for attribute in event_type.get("attributes") or []:
            attribute_name = _text(path, attribute, "name", f"event type {name!r}")
            declared[(name, attribute_name)] = str(attribute.get("type", "string"))
    return declared


def _add_json_event(
    path: Path, ocel: _Ocel, item: Any, number: int, declared: dict[tuple[str, str], str]
) -> None:
    where = f"event #{number}"
    event_id = _text(path, item, "id", where)
    event_type = _text(path, item, "type", where)
    where = f"event {event_id!r}"
    attributes: dict[str, Any] = {}
    for attribute in item.get("attributes") or []:
        name = _text(path, attribute, "name", f"an attribute of {where}")
        kind = declared.get((event_type, name), "string")
        attributes[name] = _typed(path, attribute.get("value"), kind, f"attribute {name!r} of {where}")
    index = ocel.add_event(event_id, event_type, _parse_time(path, item.get("time"), where), attributes)
    for relationship in item.get("relationships") or []:
        ocel.link(index, _text(path, relationship, "objectId", f"a relationship of {where}"))


def _text(path: Path, item: Any, key: str, where: str) -> str:
    """A required string field of a JSON object (or XML element attributes)."""
    value = item.get(key) if isinstance(item, dict) else None
    if not isinstance(value, str):
        raise SourceError(path, f"is not a valid OCEL 2.0 log: {where} has no string field '{key}'")
    return value


# --- XML ----------------------------------------------------------------------------------


def _read_xml(path: Path) -> _Ocel:
    with open(path, "rb") as handle:
        check_xml_prolog(path, handle.read(PROLOG_BYTES), expected="an OCEL 2.0 XML log")
    ocel = _Ocel()
    declared: dict[tuple[str, str], str] = {}
    try:
        for element in _iter_xml(path):
            _add_xml_element(path, ocel, element, declared)
    except etree.XMLSyntaxError as exc:
        truncated = "end of data" in str(exc) or "not closed" in str(exc)
        hint = " - the file looks truncated" if truncated else ""
        raise SourceError(
            path, f"is not well-formed XML ({exc}){hint}; expected an OCEL 2.0 XML log"
        ) from exc
    return ocel


def _iter_xml(path: Path) -> Iterator[Any]:
    """Yield the OCEL elements we need, freeing each one after use (constant memory)."""
    # Entities are already refused by the prolog check; these settings are a second guard.
    context = etree.iterparse(
        str(path),
        events=("end",),
        tag=_XML_TAGS,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )
    for _, element in context:
        yield element
        element.clear(keep_tail=True)
        while element.getprevious() is not None:
            del element.getparent()[0]


def _add_xml_element(path: Path, ocel: _Ocel, element: Any, declared: dict[tuple[str, str], str]) -> None:
    kind = etree.QName(element).localname
    attributes = dict(element.attrib)
    if kind == "object-type":
        ocel.declared_object_types.add(_text(path, attributes, "name", "an <object-type>"))
    elif kind == "event-type":
        name = _text(path, attributes, "name", "an <event-type>")
        for child in _children(element, "attributes", "attribute"):
            attribute = dict(child.attrib)
            attribute_name = _text(path, attribute, "name", f"event type {name!r}")
            declared[(name, attribute_name)] = attribute.get("type", "string")
    elif kind == "object":
        where = f"object #{len(ocel.object_types) + 1}"
        ocel.object_types[_text(path, attributes, "id", where)] = _text(path, attributes, "type", where)
    else:
        _add_xml_event(path, ocel, element, attributes, declared)


def _add_xml_event(
    path: Path, ocel: _Ocel, element: Any, attributes: dict[str, str], declared: dict[tuple[str, str], str]
) -> None:
    where = f"event #{len(ocel.event_ids) + 1}"
    if "id" not in attributes and element.find("{*}string") is not None:
        raise SourceError(path, "is an OCEL 1.0 XML log; expected OCEL 2.0 (<event id= type= time=>)")
    event_id = _text(path, attributes, "id", where)
    event_type = _text(path, attributes, "type", where)
    where = f"event {event_id!r}"
    values: dict[str, Any] = {}
    for child in _children(element, "attributes", "attribute"):
        name = _text(path, dict(child.attrib), "name", f"an attribute of {where}")
        kind = declared.get((event_type, name), "string")
        text = child.text if child.text is not None else ""
        values[name] = _typed(path, text, kind, f"attribute {name!r} of {where}")
    index = ocel.add_event(event_id, event_type, _parse_time(path, attributes.get("time"), where), values)
    for child in _children(element, "objects", "relationship"):
        ocel.link(index, _text(path, dict(child.attrib), "object-id", f"a relationship of {where}"))


def _children(element: Any, group: str, tag: str) -> Iterable[Any]:
    return element.iterfind(f"{{*}}{group}/{{*}}{tag}")


# --- SQLite -------------------------------------------------------------------------------


def _read_sqlite(path: Path) -> _Ocel:
    uri = f"{path.resolve().as_uri()}?mode=ro"  # read-only: never create or modify the file
    try:
        with closing(sqlite3.connect(uri, uri=True)) as connection:
            return _read_sqlite_tables(path, connection)
    except sqlite3.Error as exc:
        raise SourceError(path, f"is not a readable OCEL 2.0 SQLite database ({exc})") from exc


def _read_sqlite_tables(path: Path, connection: sqlite3.Connection) -> _Ocel:
    tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [table for table in SQLITE_REQUIRED_TABLES if table not in tables]
    if missing:
        raise SourceError(
            path, f"is an SQLite database but not an OCEL 2.0 log (missing tables: {', '.join(missing)})"
        )
    ocel = _Ocel()
    for object_id, object_type in connection.execute("SELECT ocel_id, ocel_type FROM object ORDER BY rowid"):
        ocel.object_types[_sql_text(path, object_id, "object")] = _sql_text(path, object_type, "object")
    details = _sqlite_event_details(path, connection, tables)
    index_of: dict[str, int] = {}
    for raw_id, event_type in connection.execute("SELECT ocel_id, ocel_type FROM event ORDER BY rowid"):
        event_id = _sql_text(path, raw_id, "event")
        if event_id in index_of:
            raise SourceError(path, f"has the event id {event_id!r} twice in table 'event'")
        if event_id not in details:
            raise SourceError(
                path, f"has no row for event {event_id!r} in its event_<type> table (so no timestamp)"
            )
        time, attributes = details[event_id]
        index_of[event_id] = ocel.add_event(event_id, _sql_text(path, event_type, "event"), time, attributes)
    for event_id, object_id in connection.execute(
        "SELECT ocel_event_id, ocel_object_id FROM event_object ORDER BY rowid"
    ):
        event_id = _sql_text(path, event_id, "event_object")
        if event_id not in index_of:
            raise SourceError(
                path, f"table 'event_object' refers to event {event_id!r}, which is not in table 'event'"
            )
        ocel.link(index_of[event_id], _sql_text(path, object_id, "event_object"))
    return ocel


def _sql_text(path: Path, value: Any, table: str) -> str:
    """An id or type from an SQLite OCEL: text (or a number, kept as its text), never NULL."""
    if value is None:
        raise SourceError(path, f"has a NULL id or type in table {table!r}")
    return str(value)


def _sqlite_event_details(
    path: Path, connection: sqlite3.Connection, tables: set[str]
) -> dict[str, tuple[datetime, dict[str, Any]]]:
    """event id -> (time, attributes), read from the per-type ``event_<Type>`` tables."""
    details: dict[str, tuple[datetime, dict[str, Any]]] = {}
    for event_type, suffix in connection.execute("SELECT ocel_type, ocel_type_map FROM event_map_type"):
        table = f"event_{suffix}"
        if table not in tables:
            raise SourceError(path, f"lists event type {event_type!r} but has no table {table!r}")
        cursor = connection.execute(f"SELECT * FROM {sql_identifier(table)}")
        columns = [description[0] for description in cursor.description]
        if "ocel_id" not in columns or "ocel_time" not in columns:
            raise SourceError(path, f"table {table!r} lacks the columns ocel_id / ocel_time")
        # ocel_* columns are OCEL bookkeeping (pm4py also adds "ocel:activity"), not attributes.
        names = [c for c in columns if not c.startswith(("ocel_", "ocel:"))]
        for row in cursor:
            record = dict(zip(columns, row, strict=True))
            event_id = _sql_text(path, record["ocel_id"], table)
            where = f"event {event_id!r}"
            if event_id in details:
                raise SourceError(path, f"has two rows for {where} in its event_<type> tables")
            details[event_id] = (
                _parse_time(path, record["ocel_time"], where),
                {name: record[name] for name in names},
            )
    return details


# --- values -------------------------------------------------------------------------------


def _parse_time(path: Path, value: Any, where: str) -> datetime:
    """ISO 8601 text -> datetime (microseconds), converted to UTC when it has an offset."""
    if not isinstance(value, str):
        raise SourceError(path, f"{where} has no timestamp (expected ISO 8601 text, got {value!r})")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise SourceError(path, f"{where} has an unreadable timestamp {value!r} (expected ISO 8601)") from exc
    return parsed if parsed.tzinfo is None else parsed.astimezone(UTC)


def _typed(path: Path, value: Any, kind: str, where: str) -> Any:
    """Read a value as its declared OCEL type; text that does not fit is an error, not a default."""
    if value is None or not isinstance(value, str) or kind == "string":
        return value
    if value.strip() == "":
        return None
    try:
        if kind == "integer":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "boolean":
            return {"true": True, "1": True, "false": False, "0": False}[value.strip().lower()]
    except (ValueError, KeyError) as exc:
        raise SourceError(path, f"{where} is {value!r}, which is not a valid {kind}") from exc
    if kind == "time":
        return _parse_time(path, value, where)
    return value


# --- flattening ---------------------------------------------------------------------------


def _flatten(path: Path, ocel: _Ocel, object_type: str) -> pl.DataFrame:
    present = sorted(set(ocel.object_types.values()) | ocel.declared_object_types)
    if object_type not in present:
        listed = ", ".join(repr(t) for t in present) or "none"
        raise SourceError(path, f"has no object type {object_type!r}; object types present: {listed}")
    if not ocel.event_ids:
        raise SourceError(path, "contains no events")
    wanted = {oid for oid, otype in ocel.object_types.items() if otype == object_type}
    links = (
        pl.DataFrame(
            {"event": ocel.link_events, CASE_ID: ocel.link_objects},
            schema={"event": pl.UInt32, CASE_ID: pl.String},
        )
        .filter(pl.col(CASE_ID).is_in(list(wanted)))
        # The same (event, object) pair listed twice (e.g. with two qualifiers) is one row.
        .unique(subset=["event", CASE_ID], keep="first", maintain_order=True)
    )
    if links.height == 0:
        raise SourceError(
            path, f"has no events related to objects of type {object_type!r} ({len(wanted)} such objects)"
        )
    events = _events_frame(path, ocel)
    rows = events.select(pl.all().gather(links["event"]))
    return rows.with_columns(links[CASE_ID]).select(_column_order(rows.columns + [CASE_ID]))


def _events_frame(path: Path, ocel: _Ocel) -> pl.DataFrame:
    names = sorted({name for attributes in ocel.event_attributes for name in attributes})
    clashes = [name for name in names if name in RESERVED]
    if clashes:
        raise SourceError(path, f"has event attributes named like output columns: {clashes}")
    columns = [
        pl.Series(EVENT_ID, ocel.event_ids, dtype=pl.String),
        pl.Series(ACTIVITY, ocel.event_types, dtype=pl.String),
        _datetime_column(path, TIMESTAMP, ocel.event_times),
        *(
            _column(path, name, [attributes.get(name) for attributes in ocel.event_attributes])
            for name in names
        ),
        pl.Series(LINE_COLUMN, range(1, len(ocel.event_ids) + 1), dtype=pl.UInt64),
    ]
    return pl.DataFrame(columns)


def _column(path: Path, name: str, values: list[Any]) -> pl.Series:
    """One attribute column; a mix of types (other than int+float) becomes text."""
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int} and all(v is None or v in INT64_RANGE for v in values):
        return pl.Series(name, values, dtype=pl.Int64)
    if kinds <= {int, float}:
        return pl.Series(name, [None if v is None else float(v) for v in values], dtype=pl.Float64)
    if kinds == {bool}:
        return pl.Series(name, values, dtype=pl.Boolean)
    if kinds == {datetime}:
        return _datetime_column(path, name, values)
    if kinds == {str}:
        return pl.Series(name, values, dtype=pl.String)
    return pl.Series(name, [None if v is None else _as_text(v) for v in values], dtype=pl.String)


def _datetime_column(path: Path, name: str, values: list[datetime | None]) -> pl.Series:
    offsets = {v.tzinfo is not None for v in values if v is not None}
    if offsets == {True, False}:
        raise SourceError(
            path,
            f"mixes {name!r} values with and without a UTC offset, so the ones "
            "without cannot be placed in time; give every value an offset",
        )
    return pl.Series(name, values, dtype=pl.Datetime("us", "UTC" if True in offsets else None))


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _column_order(columns: list[str]) -> list[str]:
    leading = [CASE_ID, ACTIVITY, TIMESTAMP, EVENT_ID]
    attributes = [c for c in columns if c not in RESERVED]
    return leading + attributes + [LINE_COLUMN]
