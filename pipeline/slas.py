"""Service levels (issue 20): the settings' [[sla]] entries, validated, and what the flow's
`sla.sql` needs of them.

An SLA picks cases by a condition on the case's attributes (`where`, SQL; the first SLA
whose condition holds wins, as service desks do), starts its clock at arrival or on first
entering a status / activity, stops it at the exit or on first entering a status /
activity after the start, pauses it while the case is in a pause status (default: the
stream's external-wait statuses), and holds it against a target in business time (the
stream's [calendar]; 24x7 when there is none).

Case attributes: the source columns no role is mapped to are kept per event
(`events.attributes`); a case's value of one is its latest non-empty value (by time), as
text. `where` names them as columns (`priority = 'P1'`, `"Assignment group" <> 'L1'`),
with the case's `team` and `resource` (at its latest event) beside them. The condition is
parsed by DuckDB's own parser when the settings are read: one expression, no subquery;
it is bound against the stream's attribute names when the flow runs, and refused, naming
the setting, if it names a column the stream has not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import polars as pl
import pyarrow as pa

from pipeline.errors import SettingsError

SLA_KEYS = ("name", "where", "start", "stop", "pause", "target", "warn_at")
FIRST_RESPONSE = "first_response"  # stop: the first work status entered after the start (sla.sql)
BUILTIN_ATTRIBUTES = ("team", "resource")  # the case's, at its latest event that has one


@dataclass
class Sla:
    name: str
    target: str  # a duration, e.g. "8h"
    where: str = ""  # SQL condition on the case's attributes; empty: every case
    start: str = "arrival"  # arrival, or a status / activity (first entry)
    stop: str = "exit"  # exit, first_response, or a status / activity (first entry after the start)
    pause: list[str] | None = None  # None: the stream's external-wait statuses
    warn_at: float = 0.8  # an open case whose clock passed this share of the target is at risk

    @property
    def columns(self) -> list[str]:
        """The attributes `where` names."""
        return condition_columns(self.where, f"[[sla]] {self.name!r} where") if self.where else []


def parse_slas(value, where: str) -> list[Sla]:
    from pipeline.settings import parse_duration

    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise SettingsError(f"{where} sla: expected [[sla]] tables")
    slas, names = [], set()
    for i, table in enumerate(value):
        at = f"{where} [[sla]] #{i + 1}"
        unknown = sorted(set(table) - set(SLA_KEYS))
        if unknown:
            raise SettingsError(f"{at}: unknown key {unknown[0]!r}; allowed keys: {', '.join(SLA_KEYS)}")
        for key in ("name", "where", "start", "stop", "target"):
            if key in table and not isinstance(table[key], str):
                raise SettingsError(f"{at}: {key} = {table[key]!r}: expected a text")
        name = table.get("name", "")
        if not name:
            raise SettingsError(f"{at}: name missing: expected the service level's name, e.g. 'resolve P1'")
        if name in names:
            raise SettingsError(f"{at}: name = {name!r} is used twice; expected one name per [[sla]]")
        names.add(name)
        at = f"{where} [[sla]] {name!r}"
        if not table.get("target"):
            raise SettingsError(f"{at}: target missing: expected a duration such as '8h' or '3d'")
        if parse_duration(table["target"], f"{at} target") <= 0:
            raise SettingsError(f"{at} target = {table['target']!r}: expected a duration above zero")
        pause = table.get("pause")
        if pause is not None and (not isinstance(pause, list) or not all(isinstance(p, str) for p in pause)):
            raise SettingsError(
                f"{at} pause = {pause!r}: expected a list of status names ([] = never paused)"
            )
        warn_at = table.get("warn_at", 0.8)
        if isinstance(warn_at, bool) or not isinstance(warn_at, int | float) or not 0 < warn_at <= 1:
            raise SettingsError(
                f"{at} warn_at = {warn_at!r}: expected a share of the target above 0, up to 1"
            )
        condition = table.get("where", "").strip()
        if condition:
            condition_columns(condition, f"{at} where")
        slas.append(
            Sla(
                name=name,
                target=table["target"],
                where=condition,
                start=table.get("start", "arrival") or "arrival",
                stop=table.get("stop", "exit") or "exit",
                pause=list(pause) if pause is not None else None,
                warn_at=float(warn_at),
            )
        )
    return slas


def condition_columns(condition: str, key: str) -> list[str]:
    """The columns an SLA condition names, after checking with DuckDB's parser that it is one
    expression without a subquery (a SettingsError naming `key` otherwise)."""
    query = f"SELECT ({condition}) FROM case_attributes"
    con = duckdb.connect()
    try:
        statements = con.extract_statements(query)
        tree = json.loads(con.execute("SELECT json_serialize_sql($q)", {"q": query}).fetchone()[0])
    except duckdb.Error as exc:
        raise SettingsError(f"{key} = {condition!r}: not an SQL condition: {_first_line(exc)}") from exc
    finally:
        con.close()
    if len(statements) != 1 or tree.get("error") or len(tree["statements"]) != 1:
        raise SettingsError(f"{key} = {condition!r}: expected one SQL condition, e.g. \"priority = 'P1'\"")
    node = tree["statements"][0]["node"]
    if (
        node.get("type") != "SELECT_NODE"
        or len(node["select_list"]) != 1
        or node["from_table"].get("table_name") != "case_attributes"
        or node.get("where_clause")
        or node.get("group_expressions")
        or node.get("modifiers")
    ):
        raise SettingsError(f"{key} = {condition!r}: expected one SQL condition, e.g. \"priority = 'P1'\"")
    columns: list[str] = []

    def walk(item) -> None:
        if isinstance(item, dict):
            if item.get("class") in ("SUBQUERY", "WINDOW") or item.get("type") == "SUBQUERY":
                raise SettingsError(
                    f"{key} = {condition!r}: a condition on the case's own attributes only (no subquery, "
                    "no window)"
                )
            if item.get("class") == "COLUMN_REF" and item["column_names"][-1] not in columns:
                columns.append(item["column_names"][-1])
            for v in item.values():
                walk(v)
        elif isinstance(item, list):
            for v in item:
                walk(v)

    walk(node["select_list"])
    return columns


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0]


def render_slas(slas: list[Sla], toml_str) -> list[str]:
    lines = []
    for s in slas:
        lines += [
            "[[sla]]",
            f"name = {toml_str(s.name)}",
            f"where = {toml_str(s.where)}",
            f"start = {toml_str(s.start)}",
            f"stop = {toml_str(s.stop)}",
        ]
        if s.pause is not None:
            lines.append(f"pause = [{', '.join(toml_str(p) for p in s.pause)}]")
        lines += [f"target = {toml_str(s.target)}", f"warn_at = {s.warn_at}", ""]
    return lines


def stage_slas(con: duckdb.DuckDBPyConnection, engine, slas: list[Sla], stream: str, shape: str) -> None:
    """What sla.sql reads, registered on the flow's `engine` (pipeline/engine.py): flow_sla_defs
    (sla_no in settings order, sla_name, start_name, stop_name: NULL for arrival / exit,
    target_s, warn_at), flow_sla_pauses (sla_no, status) and flow_case_sla_picks (case_id: the
    case's text, sla_no: the first SLA whose condition holds for the case; cases no SLA picks
    have no row; case_sla.sql gives them the flow's case numbers). The conditions are DuckDB
    SQL and are evaluated on the store `con` (its events) whichever engine computes, so they
    mean the same on every engine. The names an SLA gives are checked against the stream's
    statuses / steps, its conditions against the stream's attributes: a SettingsError names
    the [[sla]] and the key."""
    from pipeline.settings import parse_duration

    names = set(
        engine.read_arrow("SELECT DISTINCT CAST(step AS VARCHAR) AS s FROM flow_step_map")["s"].to_pylist()
    )
    names.discard(None)
    external = sorted(
        engine.read_arrow(
            "SELECT DISTINCT CAST(m.step AS VARCHAR) AS s FROM flow_status_classes AS c "
            "JOIN flow_step_map AS m ON m.activity = c.status "
            "WHERE c.wait_kind = 'external' AND m.step IS NOT NULL"
        )["s"].to_pylist()
    )
    defs, pauses = [], []
    for no, s in enumerate(slas, start=1):
        at = f"[[sla]] {s.name!r}"
        for key, value, edges in (
            ("start", s.start, ("arrival",)),
            ("stop", s.stop, ("exit", FIRST_RESPONSE)),
        ):
            if value not in edges and value not in names:
                raise SettingsError(
                    f"{at} {key} = {value!r}: not a status or activity of stream {stream!r}; expected "
                    f"{' or '.join(repr(e) for e in edges)} or one of {', '.join(sorted(names)[:20])}"
                )
        if s.pause and shape != "status":
            raise SettingsError(
                f"{at} pause = {s.pause!r}: only a status log has statuses to pause in; this log is {shape} "
                "(set pause = [])"
            )
        for status in s.pause or []:
            if status not in names:
                raise SettingsError(
                    f"{at} pause: {status!r} is not a status of stream {stream!r}; expected some of "
                    f"{', '.join(sorted(names)[:20])}"
                )
        defs.append(
            (
                no,
                s.name,
                None if s.start == "arrival" else s.start,
                None if s.stop == "exit" else s.stop,
                float(parse_duration(s.target, f"{at} target")),
                float(s.warn_at),
            )
        )
        pauses += [(no, p) for p in (s.pause if s.pause is not None else external)]
    # polars, not pyarrow's conversion of Python lists (which imports pandas): see flow.names_column
    engine.register(
        "flow_sla_defs",
        pl.DataFrame(
            defs,
            schema={
                "sla_no": pl.Int32,
                "sla_name": pl.String,
                "start_name": pl.String,
                "stop_name": pl.String,
                "target_s": pl.Float64,
                "warn_at": pl.Float64,
            },
            orient="row",
        ).to_arrow(),
    )
    engine.register(
        "flow_sla_pauses",
        pl.DataFrame(pauses, schema={"sla_no": pl.Int32, "status": pl.String}, orient="row").to_arrow(),
    )
    engine.register("flow_case_sla_picks", _case_picks(con, slas, stream))


# the store's temp table of the case attributes the conditions read, for one stage_slas
_ATTRIBUTES = "vsm_sla_case_attributes"


def _case_picks(con: duckdb.DuckDBPyConnection, slas: list[Sla], stream: str) -> pa.Table:
    """(case_id: text, sla_no) of the stream's cases an SLA picks, on the store's events."""
    choice = " ".join(f"WHEN ({s.where or 'TRUE'}) THEN {no}" for no, s in enumerate(slas, start=1))
    picked = f"SELECT case_id, CAST(CASE {choice} END AS INTEGER) AS sla_no FROM {_ATTRIBUTES}"
    try:
        _case_attributes(con, slas, stream)
        try:
            return con.sql(
                f"SELECT CAST(case_id AS VARCHAR) AS case_id, sla_no FROM ({picked}) WHERE sla_no IS NOT NULL"
            ).to_arrow_table()
        except duckdb.Error as exc:  # a condition that binds but fails on a value (a CAST of a text)
            raise SettingsError(
                f"[[sla]] where: a condition failed on stream {stream!r}: {_first_line(exc)}"
            ) from exc
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_ATTRIBUTES}")


def _case_attributes(con: duckdb.DuckDBPyConnection, slas: list[Sla], stream: str) -> None:
    """_ATTRIBUTES, a temp table of the store (grain: case): the case's text, and each
    attribute the SLA conditions name: its latest non-empty value in the case's events, as
    text. Names match the source column names case-insensitively (as SQL identifiers do)."""
    wanted = sorted({c.lower() for s in slas for c in s.columns})
    keys: dict[str, str] = {}
    # the attribute names: from a sample of the events first (a scan of every event's JSON
    # costs seconds at 10M events), from all of them only when a name is not in the sample
    for limit in ("LIMIT 10000", ""):
        if all(c in BUILTIN_ATTRIBUTES or c in keys for c in wanted):
            break
        for (key,) in con.execute(
            "SELECT DISTINCT unnest(json_keys(attributes)) FROM (SELECT attributes FROM events "
            f"WHERE stream = $stream AND attributes IS NOT NULL {limit})",
            {"stream": stream},
        ).fetchall():
            keys.setdefault(key.lower(), key)
    columns = []
    for column in wanted:
        if column in BUILTIN_ATTRIBUTES:
            value = f"e.{column}"
        elif column in keys:
            value = f"json_extract_string(e.attributes, {_literal('$.' + json.dumps(keys[column]))})"
        else:
            users = [s.name for s in slas if column in (c.lower() for c in s.columns)]
            known = ", ".join(sorted(set(keys.values()) | set(BUILTIN_ATTRIBUTES)))
            raise SettingsError(
                f"[[sla]] {users[0]!r} where: the stream {stream!r} has no case attribute {column!r}; "
                f"its attributes: {known}"
            )
        columns.append(
            f"arg_max({value}, e.ts) FILTER (WHERE nullif({value}, '') IS NOT NULL) AS {_ident(column)}"
        )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_ATTRIBUTES} AS SELECT e.case_id"
        + "".join(f", {c}" for c in columns)
        + " FROM events AS e WHERE e.stream = $stream GROUP BY e.case_id",
        {"stream": stream},
    )
    for s in slas:  # bind each condition alone, so that an error names its SLA
        if not s.where:
            continue
        try:
            con.execute(
                f"SELECT count(*) FROM (SELECT * FROM {_ATTRIBUTES} LIMIT 0) WHERE ({s.where})"
            ).fetchall()
        except duckdb.Error as exc:
            raise SettingsError(
                f"[[sla]] {s.name!r} where = {s.where!r}: {_first_line(exc)} (case attributes are text: "
                "compare with 'quoted' values, or CAST them)"
            ) from exc


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sla_first_response(slas: list[Sla]) -> bool:
    """Whether an SLA stops at the first response (sla.sql then marks every visit of a
    log without statuses: not done for nothing)."""
    return any(s.stop == FIRST_RESPONSE for s in slas)
