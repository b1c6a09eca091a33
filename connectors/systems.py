"""System sources: streams pulled from a ticketing system's API (Jira, ServiceNow, Zendesk),
declared once, like the file connectors in `connectors/registry.py`.

A system source is a `SystemConnector`: its name, its `[source]` options (which keys it
takes, which it requires), a description, its retry policy, and two functions:

- `pull(ctx) -> Iterator[Page]`: fetch what changed since `ctx.start` (the stored cursor
  minus the connector's overlap, or `[source] since` on the first run) and yield pages of
  canonical status-log rows (`EVENT_COLUMNS`, then the connector's `attributes`), each with
  the cursor that is safe to store once it and every page before it are loaded.
- `plan(ctx) -> list[str]`: what a pull would fetch (endpoints, window), without any
  request: what `vsm ingest NAME --dry-run` prints.

The pipeline, not the connector, stores the cursor: `pipeline/pull.py` reads it from the
`source_cursors` table, runs `pull` to its end (everything in memory first), and the load
writes the events and the new cursor in one transaction (`pipeline/ingest.py`). A pull that
fails or is killed midway loads nothing and leaves the cursor as it was.

How a new system plugs in (ServiceNow, Zendesk, a database):
1. Write `connectors/<name>.py` with `pull(ctx)` and `plan(ctx)`. Make every request through
   `ctx.client.get_json(path, params)` (`SystemClient`): it adds Basic auth, retries 429
   (honouring Retry-After), 5xx and dropped connections with backoff within the policy's
   bounds, and turns a refusal, an HTML page or a truncated body into a one-line
   `SystemSourceError` naming system and endpoint. Declare `auth_user` when the Basic
   auth user name differs from `[source] user` (Zendesk: "{user}/token").
   The cursor a page carries is an ISO 8601 instant (what `start` is computed from: the
   stored one minus the declared `overlap`); `ctx.cursor` holds the stored one as written.
   Keep the mapping from vendor JSON to rows a pure function over recorded payloads; raise
   `BadAnswer(message)` from it for a missing field or an unknown id, and let the caller
   wrap it with `ctx.bad_answer(endpoint, error)`.
   Rows: one per status entered; `status` = the display name, `changed_at` = an aware
   datetime (converted to UTC by `events_frame`), the case's first status at its creation,
   `changed_by` = who made the change, `team` = the group in force (when `team=True` or the
   stream names a team field), then the case attributes. Build the page with
   `events_frame(rows, connector)`.
2. Declare it in `SYSTEMS` below (options: which `[source]` keys it takes; `required`: the
   ones it cannot run without; `team`: "builtin" when the system has groups, "field" when a
   `[columns] team` names a field, "" for none).
3. Add a fake server under `tests/fakes/` (see `tests/fakes/jira.py`: a real HTTP server on
   127.0.0.1, vendor-shaped JSON from a model the test changes, faults on request) and its
   starter to the conformance test (`tests/test_system_sources.py::SYSTEM_FAKES`), and a row
   to README's system sources table (a test checks both). Settings validation, the CLI
   help, dry runs and the docs read the declaration.

Secrets come only from `[source] auth` (`env:NAME` or `file:PATH`), resolved at pull time
into a `Secret` whose repr and str never show the value.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import SettingsError, SystemSourceError

if TYPE_CHECKING:
    import polars as pl

# The canonical columns every system source yields, in this order, before its attributes.
CASE, STATUS, CHANGED_AT, CHANGED_BY, TEAM = "case_id", "status", "changed_at", "changed_by", "team"
EVENT_COLUMNS = (CASE, STATUS, CHANGED_AT, CHANGED_BY, TEAM)
# The [source] keys a system source may take (the file keys are refused for one).
SYSTEM_KEYS = ("url", "query", "table", "user", "auth", "since")


class BadAnswer(Exception):
    """An answer that is not what the API documents (missing field, unknown id): raised by a
    connector's pure mapping, turned into a SystemSourceError naming the endpoint."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a request is retried: `attempts` in all, waits growing from `backoff_s`
    (doubling, at most `max_backoff_s`; Retry-After when the server sends one), and never
    past `max_total_s` of waiting in one request. `timeout_s` bounds each attempt."""

    attempts: int = 6
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    max_total_s: float = 300.0
    timeout_s: float = 60.0


@dataclass(frozen=True)
class SystemConnector:
    name: str
    description: str
    options: tuple[str, ...]  # the [source] keys (of SYSTEM_KEYS) it takes
    required: tuple[str, ...]  # ... and the ones it cannot run without
    module: str  # connectors.<name>: defines pull(ctx) and plan(ctx)
    attributes: tuple[str, ...] = ()  # case attribute columns its rows carry, after EVENT_COLUMNS
    team: str = ""  # "builtin": the system's own groups; "field": [columns] team names a field
    team_help: str = ""  # what [columns] team names, for a "field" team
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # how far before the stored cursor the next pull starts: changes made while a pull ran,
    # or stamped by a clock a little behind, are fetched again (and deduplicated by event id)
    overlap: timedelta = timedelta(minutes=5)
    option_help: dict[str, str] = field(default_factory=dict)  # key -> what it means here
    # the Basic auth user name, from [source] user (Zendesk's API tokens: "{user}/token")
    auth_user: str = "{user}"

    def pull(self, ctx: PullContext) -> Iterator[Page]:
        return importlib.import_module(self.module).pull(ctx)

    def plan(self, ctx: PullContext) -> list[str]:
        return importlib.import_module(self.module).plan(ctx)


SYSTEMS: dict[str, SystemConnector] = {
    s.name: s
    for s in (
        SystemConnector(
            "jira",
            "Jira Cloud: issues matching a JQL query, status changes from their full changelogs",
            options=("url", "query", "user", "auth", "since"),
            required=("url", "query", "user", "auth"),
            module="connectors.jira",
            attributes=("issue_id", "project", "issue_type", "priority", "assignee"),
            team="field",
            team_help="the Jira field holding the team, e.g. customfield_10010 (its changes are tracked)",
            option_help={
                "url": "the site, e.g. https://acme.atlassian.net",
                "query": "JQL selecting the issues, e.g. project = CLM",
                "user": "the account's e-mail (Basic auth with an API token)",
                "auth": "the API token: env:NAME or file:PATH",
            },
        ),
        SystemConnector(
            "servicenow",
            "ServiceNow: the records of a table (incident) an encoded query selects, state and group "
            "changes from sys_audit",
            options=("url", "query", "table", "user", "auth", "since"),
            required=("url", "user", "auth"),
            module="connectors.servicenow",
            attributes=("sys_id", "priority", "impact", "urgency", "category", "assignee"),
            team="builtin",
            option_help={
                "url": "the instance, e.g. https://acme.service-now.com",
                "query": "an encoded query on table, e.g. active=true^priority<=2 (empty: every record)",
                "table": "the case table (empty: incident)",
                "user": "the account's user name (Basic auth with its password)",
                "auth": "the password: env:NAME or file:PATH",
            },
        ),
        SystemConnector(
            "zendesk",
            "Zendesk Support: every ticket's status changes from the incremental ticket event export",
            options=("url", "user", "auth", "since"),
            required=("url", "user", "auth"),
            module="connectors.zendesk",
            attributes=("priority", "ticket_type", "channel", "assignee"),
            team="builtin",
            overlap=timedelta(0),  # the export's end_time is exact: the next pull starts there
            auth_user="{user}/token",
            option_help={
                "url": "the account, e.g. https://acme.zendesk.com",
                "user": "an admin's e-mail (Basic auth with an API token: e-mail/token)",
                "auth": "the API token: env:NAME or file:PATH",
            },
        ),
    )
}
KINDS = ("file", *SYSTEMS)


@dataclass(frozen=True)
class Page:
    """Canonical rows of one part of a pull, and the cursor safe to store once it (and every
    page before it) is loaded."""

    events: pl.DataFrame
    cursor: str


class Secret:
    """A credential read from `[source] auth`; its repr and str never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def resolve_auth(spec: str, system: str) -> Secret:
    """The secret `[source] auth` points at: `env:NAME` (an environment variable) or
    `file:PATH` (a file's text, stripped). The error names where, never what."""
    kind, _, where = spec.partition(":")
    if kind == "env" and where:
        value = os.environ.get(where, "")
        if not value:
            raise SettingsError(
                f"[source] auth = 'env:{where}': the environment variable {where} is not set or empty; "
                f"set it to the {system} token"
            )
        return Secret(value)
    if kind == "file" and where:
        try:
            value = Path(where).expanduser().read_text(encoding="utf-8").strip()
        except OSError as error:
            raise SettingsError(
                f"[source] auth = 'file:{where}': cannot be read ({error.strerror or error})"
            ) from error
        if not value:
            raise SettingsError(f"[source] auth = 'file:{where}': the file is empty")
        return Secret(value)
    raise SettingsError(auth_form_error())


def auth_form_error() -> str:
    # The value is never echoed: it may be the secret itself, pasted where a reference belongs.
    return (
        "[source] auth: expected env:NAME (an environment variable) or file:PATH (a file holding "
        "the token), never the secret itself"
    )


def parse_since(text: str, timezone: str = "UTC") -> datetime:
    """`[source] since` as an aware UTC instant: a date (midnight in the stream's timezone) or
    an ISO 8601 date and time (naive = in the stream's timezone)."""
    from zoneinfo import ZoneInfo

    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise SettingsError(
            f"[source] since = {text!r}: expected a date (2025-01-01) or an ISO 8601 date and time "
            "(2025-01-01T08:00:00+01:00)"
        ) from error
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value.astimezone(UTC)


@dataclass
class PullContext:
    """What a connector's pull and plan read: the stream's [source] keys, the start of the
    window, and the HTTP client (None for a plan: a dry run makes no request)."""

    system: SystemConnector
    url: str
    query: str = ""
    table: str = ""
    user: str = ""
    team_field: str = ""  # [columns] team, for a system whose team is a field
    start: datetime = datetime(1970, 1, 1, tzinfo=UTC)  # fetch changes from here (UTC)
    first_run: bool = True  # start is [source] since, not a stored cursor
    cursor: str = ""  # the stored cursor (ISO 8601 instant), "" on a first run
    client: SystemClient | None = None
    on_stage: Callable[[str], None] = lambda _: None

    def bad_answer(self, endpoint: str, error: BadAnswer | str) -> SystemSourceError:
        return SystemSourceError(self.system.name, endpoint, str(error))


def events_frame(rows: list[dict], system: SystemConnector) -> pl.DataFrame:
    """Canonical rows as a frame: EVENT_COLUMNS then the connector's attributes, every
    instant in UTC (rows may hold any aware datetime), the same schema when empty."""
    import polars as pl  # here: the declarations above are read by `vsm --help`, kept light

    schema: dict[str, pl.DataType] = {
        CASE: pl.String,
        STATUS: pl.String,
        CHANGED_AT: pl.Datetime("us", "UTC"),
        CHANGED_BY: pl.String,
        TEAM: pl.String,
    }
    schema |= {name: pl.String for name in system.attributes}
    data = [{**r, CHANGED_AT: r[CHANGED_AT].astimezone(UTC)} for r in rows]
    return pl.DataFrame(data, schema=schema, orient="row") if data else pl.DataFrame(schema=schema)


# ---------------------------------------------------------------- HTTP


def pause(seconds: float) -> None:
    """Wait between two attempts of a request."""
    time.sleep(seconds)


class _Transient(Exception):
    def __init__(self, what: str, retry_after: float | None = None) -> None:
        super().__init__(what)
        self.retry_after = retry_after


class SystemClient:
    """An httpx client for one system: Basic auth, JSON answers checked, retries bounded.

    `get_json(path, params)` returns the decoded JSON and the response headers. The waits
    between attempts come from the policy (or Retry-After) and are spent in `pause`."""

    def __init__(
        self,
        system: SystemConnector,
        base_url: str,
        user: str,
        secret: Secret,
        *,
        policy: RetryPolicy | None = None,
    ) -> None:
        import httpx

        self.system = system
        self.base_url = base_url.rstrip("/")
        self.policy = policy or system.retry
        self.requests = 0
        self._client = httpx.Client(
            base_url=self.base_url,
            auth=httpx.BasicAuth(user, secret.reveal()),
            timeout=self.policy.timeout_s,
            headers={"Accept": "application/json", "User-Agent": "vsm"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SystemClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def endpoint(self, path: str) -> str:
        return f"GET {self.base_url}{path}"

    def get_json(self, path: str, params: dict | None = None) -> tuple[object, dict[str, str]]:
        from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt

        p = self.policy
        waited = [0.0]

        def wait(state) -> float:
            error = state.outcome.exception()
            backoff = min(p.backoff_s * 2 ** (state.attempt_number - 1), p.max_backoff_s)
            seconds = error.retry_after if getattr(error, "retry_after", None) is not None else backoff
            if waited[0] + seconds > p.max_total_s:  # the bound on waiting: give up now
                raise _GiveUp(str(error), state.attempt_number)
            waited[0] += seconds
            return seconds

        retrying = Retrying(
            stop=stop_after_attempt(p.attempts),
            wait=wait,
            retry=retry_if_exception_type(_Transient),
            sleep=lambda seconds: pause(seconds),  # looked up when called: tests record the waits
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(path, params)
        except RetryError as error:
            last = error.last_attempt.exception()
            raise self._error(path, f"{last} (gave up after {p.attempts} attempts)") from None
        except _GiveUp as error:
            raise self._error(
                path,
                f"{error.what} (gave up after {error.attempts} attempts: waiting more would pass "
                f"the retry bound of {p.max_total_s:g} s)",
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, path: str, message: str) -> SystemSourceError:
        return SystemSourceError(self.system.name, self.endpoint(path), message)

    def _once(self, path: str, params: dict | None) -> tuple[object, dict[str, str]]:
        import httpx

        self.requests += 1
        try:
            response = self._client.get(path, params=params)
        except httpx.TimeoutException as error:
            raise _Transient(
                f"no answer within {self.policy.timeout_s:g} s ({type(error).__name__})"
            ) from None
        except httpx.TransportError as error:  # refused, reset, or closed mid-answer
            raise _Transient(f"connection failed or dropped ({type(error).__name__}: {error})") from None
        status = response.status_code
        if status == 429:
            raise _Transient("rate limited (429)", _retry_after(response.headers.get("Retry-After")))
        if status >= 500:
            raise _Transient(f"server error {status}", _retry_after(response.headers.get("Retry-After")))
        if status in (401, 403):
            raise self._error(
                path,
                f"refused the credentials ({status}): check [source] user and the token [source] auth "
                "points at, and the account's rights",
            )
        if status >= 400:
            raise RequestRefused(self.system.name, self.endpoint(path), status, _vendor_message(response))
        if status >= 300:
            raise self._error(
                path,
                f"answered {status} (a redirect to {response.headers.get('Location', '?')}): "
                "check [source] url",
            )
        return _decode(response, lambda message: self._error(path, message)), dict(response.headers)

    def server_time(self, headers: dict[str, str]) -> datetime | None:
        """The server's clock from a response's Date header (None when absent or unreadable)."""
        value = {k.lower(): v for k, v in headers.items()}.get("date")
        try:
            return parsedate_to_datetime(value).astimezone(UTC) if value else None
        except (TypeError, ValueError):
            return None


class _GiveUp(Exception):
    def __init__(self, what: str, attempts: int) -> None:
        super().__init__(what)
        self.what = what
        self.attempts = attempts


class RequestRefused(SystemSourceError):
    """A 4xx answer other than a refusal of the credentials: a connector that expects one
    (Jira's expired page token) catches it and reads `status` and `detail`."""

    def __init__(self, system: str, endpoint: str, status: int, detail: str) -> None:
        super().__init__(system, endpoint, f"answered {status}: {detail}")
        self.status = status
        self.detail = detail


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: a number, or an HTTP date (its distance from now)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def _vendor_message(response) -> str:
    """The error the API wrote (Jira errorMessages, ServiceNow error.message, ...), short."""
    try:
        body = response.json()
    except ValueError:
        return _snippet(response.text)
    if isinstance(body, dict):
        for key in ("errorMessages", "errors", "error", "message", "description"):
            value = body.get(key)
            if value:
                if isinstance(value, dict):
                    value = value.get("message") or value.get("detail") or json.dumps(value)
                if isinstance(value, list):
                    value = "; ".join(str(v) for v in value)
                return _snippet(str(value))
    return _snippet(response.text)


def _snippet(text: str, limit: int = 160) -> str:
    one = " ".join(text.split())
    return one[:limit] + ("..." if len(one) > limit else "")


def _decode(response, error: Callable[[str], SystemSourceError]) -> object:
    kind = response.headers.get("Content-Type", "")
    text = response.text
    if "html" in kind.lower() or text.lstrip().startswith("<"):
        raise error(
            f"answered an HTML page, not JSON (a login, proxy or maintenance page?): {_snippet(text, 80)}"
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as problem:
        ends_early = problem.msg.startswith("Unterminated") or problem.pos >= len(text.rstrip()) - 1
        what = "truncated" if ends_early else "not valid"
        raise error(
            f"the body is {what} JSON ({problem.msg}; character {problem.pos} of {len(text)})"
        ) from None


def require(record: object, path: str, where: str = ""):
    """`record[a][b]...` for `path` 'a.b...', or BadAnswer naming the missing field."""
    value = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value or value[part] is None:
            raise BadAnswer(f"missing field {path}" + (f" ({where})" if where else ""))
        value = value[part]
    return value


def window_text(start: datetime, first_run: bool, overlap: timedelta) -> str:
    how = "[source] since" if first_run else f"the stored cursor minus {overlap.total_seconds() / 60:g} min"
    return f"changes from {start:%Y-%m-%d %H:%M:%S} UTC ({how}) to now"
