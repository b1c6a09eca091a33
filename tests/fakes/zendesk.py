"""A fake Zendesk Support on 127.0.0.1 for tests: a real HTTP server answering the endpoints a
pull uses, shaped as Zendesk documents them, from an in-memory model of tickets a test can
change between runs. It records every request it saw and injects faults on request, with
the fault harness of the fake Jira (tests/fakes/jira.py).

    zd = FakeZendesk(token=...)       # started; zd.url is its base URL
    zd.create(101, at=..., by=13, status="new")
    zd.change(101, at=..., by=11, status="open", group=201)
    zd.fail(EVENTS, "429")            # the next export request answers 429 with Retry-After: 1
    ...
    zd.stop()

The export (`/api/v2/incremental/ticket_events.json`) answers the events from `start_time`
to a minute before the model's `clock`, `page_size` a page (1000, as Zendesk), with
`end_time` = the last event's time; `paged=True` faults meet only a request for a later
page (a start_time an earlier page handed out as its end_time). Child events are written
with `field_name` / `value` / `previous_value` (`style = "keyed"`: the field as a key).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

from tests.fakes.jira import _handler
from tests.fakes.loopback import LoopbackServer

EVENTS = "/api/v2/incremental/ticket_events.json"
CUSTOM_STATUSES = "/api/v2/custom_statuses.json"
GROUPS = "/api/v2/groups.json"
GROUP = "/api/v2/groups/"
USERS = "/api/v2/users/show_many.json"
TICKETS = "/api/v2/tickets/show_many.json"

USERS_NAMED = {11: "Ann Agent", 12: "Bob Billing", 13: "Cy Customer"}
GROUPS_NAMED = {201: "Tier 1", 202: "Billing"}
CHANNELS = {"Web form": "web", "Mail": "email", "Web service": "api"}


def unix(at: datetime) -> int:
    return int(at.timestamp())


class FakeZendesk(LoopbackServer):
    def __init__(self, *, email: str = "admin@acme.example", token: str = "tok"):
        self.email, self.token = email, token
        self.user = f"{email}/token"  # what Basic auth carries with an API token
        self.clock = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
        self.users = dict(USERS_NAMED)
        self.groups = dict(GROUPS_NAMED)
        self.deleted_groups: dict[int, str] = {}  # not in groups.json, known to groups/{id}.json
        self.custom_statuses: list[dict] | None = None  # None: the endpoint answers 404
        self.tickets: dict[int, dict] = {}
        self.events: list[dict] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.faults: list[tuple[str, str, bool]] = []
        self.page_size = 1000
        self.group_page = 100
        self.style = "field_name"
        self.continued: set[int] = set()  # end_times handed out on pages that were not the last
        self._event_id = 5000
        self._serve(_zendesk(self))

    # ------------------------------------------------------------ the model

    def create(
        self, ticket_id, *, at, by, status="new", group=None, assignee=None, priority="normal",
        ticket_type="question", via="Web form", custom_status=None,
    ):  # fmt: skip
        """A ticket created at `at` by user `by`: one ticket event whose child events create
        each field (and a comment, present but not sideloaded)."""
        ticket = {
            "id": ticket_id,
            "status": status,
            "group_id": group,
            "assignee_id": assignee,
            "priority": priority,
            "type": ticket_type,
            "custom_status_id": custom_status,
            "via": {"channel": CHANNELS.get(via, "web"), "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": _iso(at),
            "updated_at": _iso(at),
        }
        self.tickets[ticket_id] = ticket
        fields = {"subject": "Help", "status": status, "priority": priority, "type": ticket_type}
        fields |= {"group_id": group, "assignee_id": assignee, "requester_id": by}
        if custom_status is not None:
            fields["custom_status_id"] = custom_status
        children = [{"comment_present": True, "comment_public": True, "event_type": "Comment"}]
        children += [self._child(f, v, None, "Create") for f, v in fields.items()]
        self._event(ticket_id, at, by, via, children)

    def change(self, ticket_id, *, at, by, via="Web form", **fields):
        """A ticket update at `at` by user `by` (-1: Zendesk itself) changing `fields`
        (status, group_id, assignee_id, priority, custom_status_id)."""
        ticket = self.tickets[ticket_id]
        children = []
        for field, value in fields.items():
            children.append(self._child(field, value, ticket.get(field), "Change"))
            ticket[field] = value
        ticket["updated_at"] = _iso(at)
        self._event(ticket_id, at, by, via, children)

    def _child(self, field, value, previous, kind) -> dict:
        self._event_id += 1
        child = {"id": self._event_id, "via": "Web form", "via_reference_id": None, "event_type": kind}
        if self.style == "keyed":
            child[field] = value
        else:
            child |= {"field_name": field, "value": value}
        if kind == "Change":
            child["previous_value"] = previous
        return child

    def _event(self, ticket_id, at, by, via, children) -> None:
        self._event_id += 1
        self.events.append(
            {
                "id": self._event_id,
                "ticket_id": ticket_id,
                "timestamp": unix(at),
                "created_at": _iso(at),
                "updater_id": by,
                "via": via,
                "system": {"client": "Mozilla/5.0", "ip_address": "192.0.2.7"},
                "metadata": {},
                "event_type": "Audit",
                "child_events": children,
            }
        )

    def fail(self, path: str, kind: str, *, paged: bool = False) -> None:
        """The next request to `path` (with `paged`: the next one for a later page) meets `kind`."""
        self.faults.append((path, kind, paged))

    def release(self) -> None:
        self._released.set()

    def seen(self, path: str) -> list[dict[str, str]]:
        return [params for p, params in self.requests if p.startswith(path)]

    def later_page(self, path: str, params: dict[str, str]) -> bool:
        return path == EVENTS and int(params.get("start_time", -1)) in self.continued

    # ------------------------------------------------------------ answers

    def export(self, params: dict[str, str]) -> tuple[int, object]:
        try:
            start = int(params["start_time"])
        except (KeyError, ValueError):
            return 400, {"error": "InvalidValue", "description": "start_time is required"}
        last = unix(self.clock) - 60  # the last minute is left out
        if start > last:
            return 422, {"error": "InvalidValue", "description": "Too recent start_time"}
        eligible = sorted(
            (e for e in self.events if start <= e["timestamp"] <= last),
            key=lambda e: (e["timestamp"], e["id"]),
        )
        page = eligible[: self.page_size]
        more = len(eligible) > self.page_size
        end = page[-1]["timestamp"] if page else start
        if more:
            self.continued.add(end)
        return 200, {
            "ticket_events": page,
            "next_page": f"{self.url}{EVENTS}?start_time={end}",
            "count": len(page),
            "end_of_stream": not more,
            "end_time": end,
        }

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, object]:
        if path == EVENTS:
            return self.export(params)
        if path == CUSTOM_STATUSES:
            if self.custom_statuses is None:
                return 404, {"error": "InvalidEndpoint", "description": "Not found"}
            return 200, {"custom_statuses": self.custom_statuses}
        if path == GROUPS:
            number = int(params.get("page", 1))
            size = min(int(params.get("per_page", 100)), self.group_page)
            ids = sorted(self.groups)
            shown = ids[(number - 1) * size : number * size]
            more = number * size < len(ids)
            return 200, {
                "groups": [{"id": i, "name": self.groups[i], "deleted": False} for i in shown],
                "next_page": f"{self.url}{GROUPS}?page={number + 1}&per_page={size}" if more else None,
                "previous_page": None,
                "count": len(ids),
            }
        m = re.fullmatch(r"/api/v2/groups/(\d+)\.json", path)
        if m:
            group_id = int(m.group(1))
            known = self.groups | self.deleted_groups
            if group_id not in known:
                return 404, {"error": "RecordNotFound", "description": "Not found"}
            deleted = group_id in self.deleted_groups
            return 200, {"group": {"id": group_id, "name": known[group_id], "deleted": deleted}}
        if path in (USERS, TICKETS):
            ids = [int(i) for i in params.get("ids", "").split(",") if i]
            if path == USERS:
                users = [{"id": i, "name": self.users[i], "role": "agent"} for i in ids if i in self.users]
                return 200, {"users": users}
            return 200, {"tickets": [self.tickets[i] for i in ids if i in self.tickets]}
        m = re.fullmatch(r"/api/v2/tickets/(\d+)/audits\.json", path)
        if m:  # every audit of the ticket, oldest first, on one page (child events as `events`)
            ticket_id = int(m.group(1))
            audits = [
                {
                    "id": e["id"],
                    "ticket_id": ticket_id,
                    "created_at": e["created_at"],
                    "author_id": e["updater_id"],
                    "via": {"channel": "web"},
                    "events": [{**c, "type": c["event_type"]} for c in e["child_events"]],
                }
                for e in sorted(self.events, key=lambda e: (e["timestamp"], e["id"]))
                if e["ticket_id"] == ticket_id
            ]
            return 200, {"audits": audits, "next_page": None, "previous_page": None, "count": len(audits)}
        return 404, {"error": "InvalidEndpoint", "description": f"no such endpoint {path}"}


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _zendesk(zd: FakeZendesk):
    class Handler(_handler(zd)):
        def do_GET(self) -> None:  # noqa: N802
            parsed = urlparse(self.path)
            params = {k: v[0] for k, v in parse_qs(parsed.query).items()}
            zd.requests.append((parsed.path, params))
            if not self._authorised():
                return self._send(401, {"error": "Couldn't authenticate you"})
            fault = next(
                (
                    f
                    for f in zd.faults
                    if parsed.path.startswith(f[0]) and (not f[2] or zd.later_page(parsed.path, params))
                ),
                None,
            )
            if fault:
                zd.faults.remove(fault)
                if fault[1] == "truncated":
                    return self._raw(200, b'{"ticket_events": [{"id": 1, "ticket_', "application/json")
                return self._fault(fault[1])
            status, body = zd.answer(parsed.path, params)
            self._raw(status, json.dumps(body).encode(), "application/json; charset=utf-8")

    return Handler
