"""A fake ServiceNow instance on 127.0.0.1 for tests: a real HTTP server answering the Table API
(`/api/now/table/<table>`) as ServiceNow documents it, from an in-memory model of incidents,
their audit trail (sys_audit), choices, groups and users, which a test changes between runs.
It records every request it saw and injects faults on request.

    snow = FakeServiceNow()       # started; snow.url is its base URL
    snow.add_case("INC0010001", created=..., by="cy", group="Service Desk")
    snow.change("INC0010001", at=..., user="ann", state="In Progress", assignee="bob")
    snow.fail(AUDIT, "429")       # the next sys_audit request answers 429 with Retry-After: 1
    ...
    snow.stop()

Answers: raw values (sysparm_display_value=false): choice values, sys_ids, instants as
'YYYY-MM-DD HH:MM:SS' in UTC; `{"result": [...]}` with `X-Total-Count` and a `Link` header
(first, prev, next, last) as the instance sends them (`headers` = "both", "total", "link",
or "none"). The encoded query understands what a pull sends: `a=b`, `a!=b`, `aINx,y`,
`a>=t`, `a<=v`, `^OR` within a condition, `ORDERBYa`, `ORDERBYDESCa`.

Faults (`fail(path, kind, paged=False)`: each for the next matching request, in order):
"429", "500", "drop" (the connection closed with no answer), "html", "truncated", "stall"
(no answer until `release()`). `page_size` lowers how many rows a page holds whatever the
client asks.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode, urlparse

from tests.fakes.loopback import LoopbackServer

TABLE = "/api/now/table/"
INCIDENT = TABLE + "incident"
AUDIT = TABLE + "sys_audit"
CHOICES = TABLE + "sys_choice"
GROUPS = TABLE + "sys_user_group"
USERS = TABLE + "sys_user"

STATES = {"1": "New", "2": "In Progress", "3": "On Hold", "6": "Resolved", "7": "Closed", "8": "Canceled"}
PRIORITIES = {"1": "1 - Critical", "2": "2 - High", "3": "3 - Moderate", "4": "4 - Low", "5": "5 - Planning"}
TIME = "%Y-%m-%d %H:%M:%S"


@dataclass
class Case:
    sys_id: str
    number: str
    created: datetime
    created_by: str
    state: str  # choice value
    group: str  # sys_id or ""
    assignee: str  # sys_id or ""
    priority: str = "3"
    category: str = "inquiry"
    updated: datetime | None = None
    checkpoint: int = 0

    def record(self) -> dict[str, str]:
        return {
            "sys_id": self.sys_id,
            "number": self.number,
            "sys_created_on": self.created.strftime(TIME),
            "sys_created_by": self.created_by,
            "sys_updated_on": (self.updated or self.created).strftime(TIME),
            "state": self.state,
            "assignment_group": self.group,
            "assigned_to": self.assignee,
            "priority": self.priority,
            "impact": "2",
            "urgency": "2",
            "category": self.category,
            "active": "false" if self.state in ("6", "7", "8") else "true",
        }


@dataclass
class FakeServiceNow(LoopbackServer):
    user: str = "vsm.reader"
    password: str = "pw"
    table: str = "incident"
    states: dict[str, str] = field(default_factory=lambda: dict(STATES))
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    faults: list[tuple[str, str, bool]] = field(default_factory=list)
    page_size: int = 10_000
    headers: str = "both"
    clock: datetime = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # the server's Date header
    blank: set[tuple[str, str]] = field(default_factory=set)  # (number, field) answered without it
    no_result: set[str] = field(default_factory=set)  # tables answered {"records": [...]}, not "result"

    def __post_init__(self) -> None:
        self.cases: dict[str, Case] = {}
        self.audit: list[dict[str, str]] = []
        self.groups: dict[str, str] = {}  # sys_id -> name
        self.users: dict[str, str] = {}  # sys_id -> user_name
        self._serve(_handler(self))

    # ------------------------------------------------------------ the model

    def group_id(self, name: str | None) -> str:
        if not name:
            return ""
        for sys_id, n in self.groups.items():
            if n == name:
                return sys_id
        sys_id = f"g{len(self.groups) + 1:031d}"
        self.groups[sys_id] = name
        return sys_id

    def user_id(self, name: str | None) -> str:
        if not name:
            return ""
        for sys_id, n in self.users.items():
            if n == name:
                return sys_id
        sys_id = f"u{len(self.users) + 1:031d}"
        self.users[sys_id] = name
        return sys_id

    def state_value(self, label: str) -> str:
        return next(v for v, n in self.states.items() if n == label)

    def add_case(self, number, *, created, by="cy", state="New", group=None, assignee=None, priority="3"):
        case = Case(
            f"c{len(self.cases) + 1:031d}",
            number,
            created,
            by,
            self.state_value(state),
            self.group_id(group),
            self.user_id(assignee),
            priority,
        )
        self.cases[number] = case
        return case

    def change(self, number, *, at, user="ann", state=None, group=None, assignee=None, priority=None):
        """One save of case `number` at `at` by `user`: one sys_audit row per field it changes."""
        case = self.cases[number]
        case.checkpoint += 1
        new = {
            "state": self.state_value(state) if state is not None else None,
            "assignment_group": self.group_id(group) if group is not None else None,
            "assigned_to": self.user_id(assignee) if assignee is not None else None,
            "priority": priority,
        }
        attr = {
            "state": "state",
            "assignment_group": "group",
            "assigned_to": "assignee",
            "priority": "priority",
        }
        for name, value in new.items():
            if value is None:
                continue
            self.audit.append(
                {
                    "sys_id": f"a{len(self.audit) + 1:031d}",
                    "tablename": self.table,
                    "documentkey": case.sys_id,
                    "fieldname": name,
                    "oldvalue": getattr(case, attr[name]),
                    "newvalue": value,
                    "sys_created_on": at.strftime(TIME),
                    "user": user,
                    "record_checkpoint": str(case.checkpoint),
                    "reason": "",
                }
            )
            setattr(case, attr[name], value)
        case.updated = at

    def fail(self, path: str, kind: str, *, paged: bool = False) -> None:
        """The next request to `path` (with `paged`: the next one for a later page, offset > 0)
        meets fault `kind`."""
        self.faults.append((path, kind, paged))

    def release(self) -> None:
        self._released.set()

    def seen(self, path: str) -> list[dict[str, str]]:
        return [params for p, params in self.requests if p == path]

    # ------------------------------------------------------------ answers

    def rows(self, table: str) -> list[dict[str, str]] | None:
        if table == self.table:
            out = []
            for case in self.cases.values():
                record = case.record()
                for number, name in self.blank:
                    if number == case.number:
                        record.pop(name, None)
                out.append(record)
            return out
        if table == "sys_audit":
            return list(self.audit)
        if table == "sys_choice":
            choices = [("state", v, n) for v, n in self.states.items()]
            choices += [("priority", v, n) for v, n in PRIORITIES.items()]
            choices += [("category", "inquiry", "Inquiry / Help"), ("category", "network", "Network")]
            return [
                {
                    "sys_id": f"ch{i:030d}",
                    "name": self.table,
                    "element": e,
                    "value": v,
                    "label": n,
                    "language": "en",
                    "inactive": "false",
                }
                for i, (e, v, n) in enumerate(choices)
            ] + [  # the same states in German: not asked for
                {"sys_id": "chde1", "name": self.table, "element": "state", "value": "2"}
                | {"label": "In Bearbeitung", "language": "de", "inactive": "false"}
            ]
        if table == "sys_user_group":
            return [{"sys_id": k, "name": v, "active": "true"} for k, v in self.groups.items()]
        if table == "sys_user":
            return [{"sys_id": k, "user_name": v, "name": v.title()} for k, v in self.users.items()]
        return None

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, object, dict[str, str]]:
        rows = self.rows(path[len(TABLE) :]) if path.startswith(TABLE) else None
        if rows is None:
            return 400, {"error": {"message": "Invalid table", "detail": path}, "status": "failure"}, {}
        matched = [r for r in rows if matches(params.get("sysparm_query", ""), r)]
        matched = order(params.get("sysparm_query", ""), matched)
        offset = int(params.get("sysparm_offset", 0))
        size = min(int(params.get("sysparm_limit", 10_000)), self.page_size)
        page = matched[offset : offset + size]
        fields = [f for f in params.get("sysparm_fields", "").split(",") if f]
        if fields:
            page = [{f: r[f] for f in fields if f in r} for r in page]
        headers: dict[str, str] = {}
        if self.headers in ("both", "total"):
            headers["X-Total-Count"] = str(len(matched))
        if self.headers in ("both", "link") and len(matched) > size:
            headers["Link"] = self.link(path, params, offset, size, len(matched))
        key = "records" if path[len(TABLE) :] in self.no_result else "result"
        return 200, {key: page}, headers

    def link(self, path: str, params: dict[str, str], offset: int, size: int, total: int) -> str:
        def url(at: int) -> str:
            return f"{self.url}{path}?" + urlencode(params | {"sysparm_offset": at, "sysparm_limit": size})

        parts = [f'<{url(0)}>;rel="first"']
        if offset > 0:
            parts.append(f'<{url(max(0, offset - size))}>;rel="prev"')
        if offset + size < total:
            parts.append(f'<{url(offset + size)}>;rel="next"')
        parts.append(f'<{url((total - 1) // size * size)}>;rel="last"')
        return ",".join(parts)


def _conditions(query: str) -> tuple[list[list[str]], list[tuple[str, bool]]]:
    """An encoded query: AND-ed groups of OR-ed conditions, and the ORDERBY fields."""
    groups: list[list[str]] = []
    orders: list[tuple[str, bool]] = []
    for part in query.split("^"):
        if not part:
            continue
        if part.startswith("ORDERBYDESC"):
            orders.append((part[len("ORDERBYDESC") :], True))
        elif part.startswith("ORDERBY"):
            orders.append((part[len("ORDERBY") :], False))
        elif part.startswith("OR") and groups:
            groups[-1].append(part[2:])
        else:
            groups.append([part])
    return groups, orders


def _test(condition: str, row: dict[str, str]) -> bool:
    for op, check in OPS:
        name, sep, value = condition.partition(op)
        if sep and name.isidentifier():
            return check(row.get(name, ""), value)
    raise AssertionError(f"the fake does not understand {condition!r}")


OPS: list[tuple[str, Callable[[str, str], bool]]] = [
    ("NOT IN", lambda have, v: have not in v.split(",")),
    ("IN", lambda have, v: have in v.split(",")),
    (">=", lambda have, v: have >= v),
    ("<=", lambda have, v: have <= v),
    ("!=", lambda have, v: have != v),
    ("=", lambda have, v: have == v),
]


def matches(query: str, row: dict[str, str]) -> bool:
    groups, _ = _conditions(query)
    return all(any(_test(c, row) for c in group) for group in groups)


def order(query: str, rows: list[dict[str, str]]) -> list[dict[str, str]]:
    _, orders = _conditions(query)
    for name, desc in reversed(orders):
        rows = sorted(rows, key=lambda r: r.get(name, ""), reverse=desc)
    return rows


def _handler(snow: FakeServiceNow):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802
            parsed = urlparse(self.path)
            params = {k: v[0] for k, v in parse_qs(parsed.query).items()}
            snow.requests.append((parsed.path, params))
            if not self._authorised():
                return self._send(
                    401,
                    {"error": {"message": "User Not Authenticated", "detail": "Required to provide Auth "
                               "information"}, "status": "failure"},
                )  # fmt: skip
            fault = next(
                (
                    f
                    for f in snow.faults
                    if parsed.path == f[0] and (not f[2] or int(params.get("sysparm_offset", 0)) > 0)
                ),
                None,
            )
            if fault:
                snow.faults.remove(fault)
                return self._fault(fault[1])
            status, body, headers = snow.answer(parsed.path, params)
            self._send(status, body, headers)

        def date_time_string(self, timestamp=None) -> str:  # the Date header: the model's clock
            return format_datetime(snow.clock, usegmt=True)

        def _authorised(self) -> bool:
            header = self.headers.get("Authorization", "")
            expected = base64.b64encode(f"{snow.user}:{snow.password}".encode()).decode()
            return header == f"Basic {expected}"

        def _fault(self, kind: str) -> None:
            if kind == "429":
                body = {
                    "error": {"message": "Too many requests", "detail": "rate limit"},
                    "status": "failure",
                }
                return self._send(429, body, {"Retry-After": "1"})
            if kind == "500":
                return self._send(500, {"error": {"message": "Internal error"}, "status": "failure"})
            if kind == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return None
            if kind == "html":
                page = b"<html><head><title>Instance Hibernating</title></head><body>wake it up</body></html>"
                return self._raw(200, page, "text/html")
            if kind == "truncated":
                return self._raw(200, b'{"result": [{"sys_id": "c0', "application/json")
            if kind == "stall":
                snow._released.wait(60)
                self.close_connection = True
                return None
            raise AssertionError(kind)

        def _send(self, status: int, body: object, headers: dict | None = None) -> None:
            self._raw(status, json.dumps(body).encode(), "application/json;charset=UTF-8", headers)

        def _raw(self, status: int, data: bytes, kind: str, headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    return Handler


# ------------------------------------------------------------ a few incidents, for the tests

PASSWORD = "s3cr3t-SN0W-pa55word-7c1e"
PASSWORD_ENV = "VSM_TEST_SNOW_PASSWORD"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def incidents(snow: FakeServiceNow) -> None:
    """Three incidents (tests/test_servicenow.py works out their events by hand).
    INC1: created New in Service Desk by cy; ann sets In Progress and assigns bob in one save;
    then, alone, the group becomes Network (bob still assigned); then bob resolves it.
    INC2: created New with no group, never changed.
    INC3: created New in Service Desk by dee; ann puts it On Hold and moves it to Network in
    one save."""
    snow.add_case("INC1", created=at(2, 8), by="cy", group="Service Desk", priority="2")
    snow.change("INC1", at=at(2, 9), user="ann", state="In Progress", assignee="bob")
    snow.change("INC1", at=at(3, 10), user="ann", group="Network")
    snow.change("INC1", at=at(3, 11), user="bob", state="Resolved")
    snow.add_case("INC2", created=at(4, 8), by="cy")
    snow.add_case("INC3", created=at(5, 8), by="dee", group="Service Desk")
    snow.change("INC3", at=at(5, 9), user="ann", state="On Hold", group="Network")


def settings_for(snow: FakeServiceNow, name: str = "inc", **source):
    from pipeline.settings import settings_from_dict

    data = {
        "stream": {"name": name},
        "source": {
            "kind": "servicenow",
            "url": snow.url,
            "user": snow.user,
            "auth": f"env:{PASSWORD_ENV}",
            "since": "2026-03-01",
        }
        | source,
    }
    return settings_from_dict(data)


def start(monkeypatch):
    """The conformance test's starter: the fake with incidents() in it, the stream's settings,
    and how to stop the fake."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    snow = FakeServiceNow(password=PASSWORD)
    incidents(snow)
    return settings_for(snow), snow.stop
