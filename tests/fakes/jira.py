"""A fake Jira Cloud on 127.0.0.1 for tests: a real HTTP server answering the endpoints a pull
uses, shaped as Atlassian documents them, from an in-memory model of issues a test can
change between runs. It records every request it saw and injects faults on request.

    jira = FakeJira()            # started; jira.url is its base URL
    jira.add_issue("CLM-1", created=..., status="To Do")
    jira.change("CLM-1", at=..., author="Ann", status="In Progress")
    jira.fail(SEARCH, "429")     # the next search answers 429 with Retry-After: 1
    ...
    jira.stop()

Faults (`fail(path, kind)`: each for the next matching request, in order): "429", "500", "drop" (the
connection is closed with no answer), "html", "truncated" (a JSON body cut off), "stall"
(no answer until `release()`), "expire" (400: the page token expired). `page_size` lowers
how many issues a page holds whatever the client asks; `inline_histories` how many
histories the search's expand=changelog holds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

from tests.fakes.loopback import LoopbackServer

MYSELF = "/rest/api/3/myself"
STATUSES = "/rest/api/3/status"
SEARCH = "/rest/api/3/search/jql"
CHANGELOG = "/rest/api/3/issue/"

STATUS_IDS = {"To Do": "10000", "In Progress": "3", "In Review": "10001", "Done": "10002", "Waiting": "10003"}


@dataclass
class Issue:
    id: str
    key: str
    created: datetime
    status: str  # status id now
    creator: str
    priority: str = "Medium"
    issue_type: str = "Task"
    team: str | None = None
    assignee: str | None = None
    histories: list[dict] = field(default_factory=list)

    @property
    def updated(self) -> datetime:
        return max([self.created] + [h["_at"] for h in self.histories])


class FakeJira(LoopbackServer):
    def __init__(
        self, *, time_zone: str = "Europe/Berlin", user: str = "bot@acme.example", token: str = "tok"
    ):
        self.time_zone = time_zone
        self.user, self.token = user, token
        self.statuses = dict(STATUS_IDS)
        self.issues: dict[str, Issue] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.faults: list[tuple[str, str, bool]] = []
        self.page_size = 100
        self.inline_histories = 100
        self.clock = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # the server's Date header
        self.blank_created: set[str] = set()  # issues answered without fields.created
        self.token_generation = 0  # page tokens of an older generation have expired
        self._history_id = 100
        self._serve(_handler(self))

    # ------------------------------------------------------------ the model

    def add_issue(
        self, key, *, created, status="To Do", creator="Cy", team=None, assignee=None, priority="Medium"
    ):
        issue = Issue(
            str(10000 + len(self.issues)),
            key,
            created,
            self.statuses[status],
            creator,
            priority,
            team=team,
            assignee=assignee,
        )
        self.issues[key] = issue
        return issue

    def change(self, key, *, at, author="Ann", status=None, team=None, assignee=None, priority=None):
        """A history on issue `key` at `at` by `author`: a status change, and/or team / assignee /
        priority."""
        issue = self.issues[key]
        items = []
        if status is not None:
            new = self.statuses[status]
            name_of = {v: k for k, v in self.statuses.items()}
            items.append(
                {
                    "field": "status",
                    "fieldtype": "jira",
                    "fieldId": "status",
                    "from": issue.status,
                    "fromString": name_of.get(issue.status),
                    "to": new,
                    "toString": status,
                }
            )
            issue.status = new
        if team is not None:
            items.append(
                {
                    "field": "Team",
                    "fieldtype": "custom",
                    "fieldId": "customfield_10010",
                    "from": None,
                    "fromString": issue.team,
                    "to": None,
                    "toString": team,
                }
            )
            issue.team = team
        if assignee is not None:
            items.append(
                {
                    "field": "assignee",
                    "fieldtype": "jira",
                    "fieldId": "assignee",
                    "from": None,
                    "fromString": issue.assignee,
                    "to": "x",
                    "toString": assignee,
                }
            )
            issue.assignee = assignee
        if priority is not None:
            ids = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4"}
            items.append(
                {
                    "field": "priority",
                    "fieldtype": "jira",
                    "fieldId": "priority",
                    "from": ids.get(issue.priority),
                    "fromString": issue.priority,
                    "to": ids.get(priority),
                    "toString": priority,
                }
            )
            issue.priority = priority
        self._history_id += 1
        issue.histories.append(
            {"_at": at, "id": str(self._history_id), "author": _user(author), "items": items}
        )

    def fail(self, path: str, kind: str, *, paged: bool = False) -> None:
        """The next request to `path` (with `paged`: the next one asking for a later page, with a
        nextPageToken) meets fault `kind`."""
        self.faults.append((path, kind, paged or kind == "expire"))

    def release(self) -> None:
        self._released.set()

    def seen(self, path: str) -> list[dict[str, str]]:
        return [params for p, params in self.requests if p.startswith(path)]

    # ------------------------------------------------------------ answers

    def time(self, at: datetime) -> str:
        local = at.astimezone(ZoneInfo(self.time_zone))
        return (
            local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")
        )

    def history(self, h: dict) -> dict:
        return {"id": h["id"], "author": h["author"], "created": self.time(h["_at"]), "items": h["items"]}

    def issue_json(self, issue: Issue, expand: bool) -> dict:
        name_of = {v: k for k, v in self.statuses.items()}
        fields = {
            "created": self.time(issue.created),
            "updated": self.time(issue.updated),
            "status": {"id": issue.status, "name": name_of.get(issue.status, "?")},
            "creator": _user(issue.creator),
            "reporter": _user(issue.creator),
            "priority": {"id": "3", "name": issue.priority},
            "issuetype": {"id": "10001", "name": issue.issue_type},
            "project": {"id": "10000", "key": issue.key.split("-")[0], "name": "Claims"},
            "assignee": _user(issue.assignee) if issue.assignee else None,
            "customfield_10010": {"id": "t1", "name": issue.team} if issue.team else None,
        }
        if issue.key in self.blank_created:
            del fields["created"]
        body = {
            "id": issue.id,
            "key": issue.key,
            "self": f"{self.url}/rest/api/3/issue/{issue.id}",
            "fields": fields,
        }
        if expand:
            shown = issue.histories[: self.inline_histories]
            body["changelog"] = {
                "startAt": 0,
                "maxResults": self.inline_histories,
                "total": len(issue.histories),
                "histories": [self.history(h) for h in shown],
            }
        return body

    def search(self, params: dict[str, str]) -> tuple[int, object]:
        token = params.get("nextPageToken")
        start = 0
        if token:
            generation, start = (int(x) for x in token.split("-")[1:])
            if generation != self.token_generation:
                return 400, {
                    "errorMessages": ["The provided next page token is invalid or expired."],
                    "errors": {},
                }
        jql = params.get("jql", "")
        matched = sorted(
            (i for i in self.issues.values() if _matches(jql, i, self.time_zone)),
            key=lambda i: (i.updated, i.id),
        )
        size = min(int(params.get("maxResults", 50)), self.page_size)
        page = matched[start : start + size]
        expand = "changelog" in params.get("expand", "")
        body: dict = {"issues": [self.issue_json(i, expand) for i in page]}
        if start + size < len(matched):
            body["nextPageToken"] = f"t-{self.token_generation}-{start + size}"
            body["isLast"] = False
        else:
            body["isLast"] = True
        return 200, body

    def changelog(self, issue_id: str, params: dict[str, str]) -> tuple[int, object]:
        issue = next((i for i in self.issues.values() if i.id == issue_id), None)
        if issue is None:
            return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}
        start = int(params.get("startAt", 0))
        size = min(int(params.get("maxResults", 100)), self.page_size)
        values = issue.histories[start : start + size]
        return 200, {
            "self": "",
            "maxResults": size,
            "startAt": start,
            "total": len(issue.histories),
            "isLast": start + size >= len(issue.histories),
            "values": [self.history(h) for h in values],
        }

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, object]:
        if path == MYSELF:
            return 200, {
                "accountId": "5b10",
                "emailAddress": self.user,
                "displayName": "Ops Bot",
                "timeZone": self.time_zone,
                "active": True,
            }
        if path == STATUSES:
            return 200, [
                {"id": i, "name": n, "statusCategory": {"key": "new"}} for n, i in self.statuses.items()
            ]
        if path == SEARCH:
            return self.search(params)
        m = re.fullmatch(r"/rest/api/3/issue/([^/]+)/changelog", path)
        if m:
            return self.changelog(m.group(1), params)
        return 404, {"errorMessages": [f"no such endpoint {path}"]}


def _user(name: str | None) -> dict | None:
    return {"accountId": f"id-{name}", "displayName": name, "active": True} if name else None


def _matches(jql: str, issue: Issue, zone: str) -> bool:
    project = re.search(r"project\s*=\s*(\w+)", jql)
    if project and issue.key.split("-")[0] != project.group(1):
        return False
    since = re.search(r'updated >= "(\d{4}/\d{2}/\d{2} \d{2}:\d{2})"', jql)
    if since:
        at = datetime.strptime(since.group(1), "%Y/%m/%d %H:%M").replace(tzinfo=ZoneInfo(zone))
        return issue.updated >= at
    return True


def _handler(jira: FakeJira):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802
            parsed = urlparse(self.path)
            params = {k: v[0] for k, v in parse_qs(parsed.query).items()}
            jira.requests.append((parsed.path, params))
            if not self._authorised():
                return self._send(
                    401, {"errorMessages": ["Client must be authenticated to access this resource."]}
                )
            fault = next(
                (
                    f
                    for f in jira.faults
                    if parsed.path.startswith(f[0]) and (not f[2] or "nextPageToken" in params)
                ),
                None,
            )
            if fault:
                jira.faults.remove(fault)
                return self._fault(fault[1])
            status, body = jira.answer(parsed.path, params)
            self._send(status, body)

        def date_time_string(self, timestamp=None) -> str:  # the Date header: the model's clock
            return format_datetime(jira.clock, usegmt=True)

        def _authorised(self) -> bool:
            import base64

            header = self.headers.get("Authorization", "")
            expected = base64.b64encode(f"{jira.user}:{jira.token}".encode()).decode()
            return header == f"Basic {expected}"

        def _fault(self, kind: str) -> None:
            if kind == "429":
                return self._send(429, {"errorMessages": ["Rate limit exceeded."]}, {"Retry-After": "1"})
            if kind == "500":
                return self._send(500, {"errorMessages": ["Internal server error"]})
            if kind == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return None
            if kind == "html":
                return self._raw(
                    200, b"<!DOCTYPE html><html><body>Log in to Atlassian</body></html>", "text/html"
                )
            if kind == "truncated":
                return self._raw(200, b'{"issues": [{"id": "10000", "key": "CL', "application/json")
            if kind == "stall":
                jira._released.wait(60)
                self.close_connection = True
                return None
            if kind == "expire":
                return self._send(
                    400, {"errorMessages": ["The provided next page token is invalid or expired."]}
                )
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
