"""Service levels (issue 20): the settings' [[sla]] entries, validated, and what the flow's
`fct_sla.sql` needs of them.

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
from dataclasses import dataclass, field

import duckdb

from pipeline.errors import SettingsError

SLA_KEYS = ("name", "where", "start", "stop", "pause", "target", "warn_at")
BUILTIN_ATTRIBUTES = ("team", "resource")  # the case's, at its latest event that has one


@dataclass
class Sla:
    name: str
    target: str  # a duration, e.g. "8h"
    where: str = ""  # SQL condition on the case's attributes; empty: every case
    start: str = "arrival"  # arrival, or a status / activity (first entry)
    stop: str = "exit"  # exit, or a status / activity (first entry after the start)
    pause: list[str] | None = None  # None: the stream's external-wait statuses
    warn_at: float = 0.8  # an open case whose clock passed this share of the target is at risk
    columns: list[str] = field(default_factory=list)  # the attributes `where` names


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
        slas.append(
            Sla(
                name=name,
                target=table["target"],
                where=condition,
                start=table.get("start", "arrival") or "arrival",
                stop=table.get("stop", "exit") or "exit",
                pause=list(pause) if pause is not None else None,
                warn_at=float(warn_at),
                columns=condition_columns(condition, f"{at} where") if condition else [],
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
