"""Jira Cloud as a system source (declared in `connectors/systems.py`).

A pull: the API user's time zone (`/rest/api/3/myself`: Jira reads JQL date literals in
it), the status names by id (`/rest/api/3/status`), then the issues matching
`([source] query) AND updated >= "yyyy/MM/dd HH:mm" ORDER BY updated ASC` page by page
(`/rest/api/3/search/jql`, `nextPageToken`), each with its full changelog: the search's
`expand=changelog` holds at most a page of histories, so an issue whose `changelog.total`
is larger is read again from `/rest/api/3/issue/{id}/changelog`, page by page.

An expired page token (the search ran too long) restarts the search; issues are kept by
id, so a restart adds no duplicate. The cursor stored is the server's clock (its `Date`
header) when the pull began: anything changed after it is fetched again next time.

The mapping from Jira JSON to rows (`issue_rows`) is pure: one row per status entered, the
first at the issue's creation (its status then is the first status change's `from`, or its
status now if it never changed), and, when `[columns] team` names a field, one per change of
that field alone (the status in force, the new team: the handoff happens when the issue is
passed on, as ServiceNow's assignment group changes; a history changing both is one row).
resource = who made the change (the creator for the first row), team = the value in force of
the team field (none if unnamed), and the attributes: issue id, project, and the issue type,
priority and assignee in force at the change (read back from the changelog like the team).
Every row is the value in force when it happened, not the issue's value now: a pull reads an
updated issue's whole history again, and a later edit (a new priority) must not rewrite the
rows already loaded (they would be replaced each time); it shows on the issue's next row.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.systems import (
    CASE,
    CHANGED_AT,
    CHANGED_BY,
    STATUS,
    TEAM,
    BadAnswer,
    Page,
    PullContext,
    RequestRefused,
    events_frame,
    require,
    window_text,
)
from pipeline.errors import SettingsError

MYSELF = "/rest/api/3/myself"
STATUSES = "/rest/api/3/status"
SEARCH = "/rest/api/3/search/jql"
CHANGELOG = "/rest/api/3/issue/{id}/changelog"
PAGE_SIZE = 100
FIELDS = (
    "status",
    "created",
    "creator",
    "reporter",
    "issuetype",
    "priority",
    "project",
    "assignee",
    "updated",
)
# fields whose value in force at each row is read back from the changelog (attributes)
IN_FORCE = ("issuetype", "priority", "assignee")
RESTARTS = 3  # searches begun again after an expired page token, before giving up


def jql(query: str, start: datetime, zone: str) -> str:
    """The search's JQL: the stream's query, changed since `start` (UTC) written in the API
    user's zone to the minute (floored: never later than asked), oldest change first."""
    if "order by" in query.lower():
        raise SettingsError(
            f"[source] query = {query!r}: leave ORDER BY out; the pull orders by updated to read every change"
        )
    local = start.astimezone(ZoneInfo(zone))
    return f'({query}) AND updated >= "{local:%Y/%m/%d %H:%M}" ORDER BY updated ASC'


def plan(ctx: PullContext) -> list[str]:
    base = ctx.url.rstrip("/")
    query = jql(ctx.query, ctx.start, "UTC").replace('"', "'")
    return [
        f"GET {base}{MYSELF} (the API user's time zone: the JQL date below is written in it)",
        f"GET {base}{STATUSES} (status names by id)",
        f"GET {base}{SEARCH} pages of {PAGE_SIZE}, expand=changelog, jql: {query} (date shown in UTC)",
        f"GET {base}{CHANGELOG} for each issue whose history is longer than the search returns",
        window_text(ctx.start, ctx.first_run, ctx.system.overlap),
    ]


def pull(ctx: PullContext) -> Iterator[Page]:
    client = ctx.client
    assert client is not None
    me, headers = client.get_json(MYSELF)
    began = client.server_time(headers) or datetime.now(UTC)
    zone = _zone(ctx, me)
    statuses = _statuses(ctx)
    search = jql(ctx.query, ctx.start, zone)
    issues: dict[str, tuple[dict, list[dict]]] = {}
    for restart in range(RESTARTS + 1):
        try:
            _search(ctx, search, issues)
            break
        except RequestRefused as error:
            if error.status != 400 or "token" not in error.detail.lower() or restart == RESTARTS:
                raise
            ctx.on_stage(f"jira: the page token expired; searching again ({restart + 1} of {RESTARTS})")
    rows = []
    for issue, histories in issues.values():
        try:
            rows.extend(issue_rows(issue, histories, statuses, ctx.team_field))
        except BadAnswer as error:
            raise ctx.bad_answer(client.endpoint(SEARCH), error) from None
    yield Page(events_frame(rows, ctx.system), began.isoformat())


def _zone(ctx: PullContext, me: object) -> str:
    try:
        zone = require(me, "timeZone")
        ZoneInfo(zone)
        return zone
    except (BadAnswer, ZoneInfoNotFoundError, ValueError, TypeError) as error:
        detail = error if isinstance(error, BadAnswer) else f"unknown time zone {me.get('timeZone')!r}"
        raise ctx.bad_answer(ctx.client.endpoint(MYSELF), detail) from None


def _statuses(ctx: PullContext) -> dict[str, str]:
    answer, _ = ctx.client.get_json(STATUSES)
    if not isinstance(answer, list):
        raise ctx.bad_answer(ctx.client.endpoint(STATUSES), "expected a list of statuses")
    try:
        return {str(require(s, "id")): str(require(s, "name")) for s in answer}
    except BadAnswer as error:
        raise ctx.bad_answer(ctx.client.endpoint(STATUSES), error) from None


def _search(ctx: PullContext, search: str, issues: dict) -> None:
    """Every page of the search, each issue with its full changelog, into `issues` (by id)."""
    client = ctx.client
    token = None
    seen_tokens: set[str] = set()
    fields = ",".join((*FIELDS, ctx.team_field) if ctx.team_field else FIELDS)
    while True:
        params = {"jql": search, "maxResults": PAGE_SIZE, "fields": fields, "expand": "changelog"}
        if token:
            params["nextPageToken"] = token
        page, _ = client.get_json(SEARCH, params)
        try:
            found = require(page, "issues")
            for issue in found:
                issue_id = str(require(issue, "id"))
                issues[issue_id] = (issue, _histories(ctx, issue))
        except BadAnswer as error:
            raise ctx.bad_answer(client.endpoint(SEARCH), error) from None
        ctx.on_stage(f"jira: {len(issues):,} issues read")
        token = page.get("nextPageToken")
        if not token or page.get("isLast") is True:
            return
        if token in seen_tokens:
            raise ctx.bad_answer(client.endpoint(SEARCH), f"the page token {token!r} came back twice")
        seen_tokens.add(token)


def _histories(ctx: PullContext, issue: dict) -> list[dict]:
    """The issue's whole changelog: the search's own when complete, else read page by page."""
    log = issue.get("changelog") or {}
    histories = log.get("histories")
    total = log.get("total")
    if isinstance(histories, list) and isinstance(total, int) and total <= len(histories):
        return histories
    path = CHANGELOG.format(id=issue["id"])
    out: list[dict] = []
    while True:
        answer, _ = ctx.client.get_json(path, {"startAt": len(out), "maxResults": PAGE_SIZE})
        try:
            values = require(answer, "values")
            total = require(answer, "total")
        except BadAnswer as error:
            raise ctx.bad_answer(ctx.client.endpoint(path), error) from None
        out.extend(values)  # the server may hand back fewer than asked: read on from what came
        if answer.get("isLast") is True or len(out) >= total:
            return out
        if not values:
            raise ctx.bad_answer(
                ctx.client.endpoint(path), f"the changelog ended after {len(out)} of {total} histories"
            )


# ---------------------------------------------------------------- mapping (pure)


def parse_time(text: object, where: str) -> datetime:
    """A Jira instant ('2025-01-02T10:00:00.000+0100') as an aware datetime."""
    if not isinstance(text, str):
        raise BadAnswer(f"{where}: expected a date and time, found {text!r}")
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    raise BadAnswer(f"{where}: {text!r} is not a Jira date and time (yyyy-MM-ddTHH:mm:ss.SSS+hhmm)")


def shown(value: object) -> str | None:
    """A field's value as text: a user or option object by its display name, name or value."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        for key in ("displayName", "name", "value", "key", "id"):
            if value.get(key):
                return str(value[key])
        return None
    if isinstance(value, list):
        return ", ".join(t for t in (shown(v) for v in value) if t) or None
    return str(value)


def _changes(history: dict, field: str) -> list[dict]:
    return [i for i in history.get("items") or [] if (i.get("fieldId") or i.get("field")) == field]


def issue_rows(
    issue: dict, histories: list[dict], statuses: dict[str, str], team_field: str = ""
) -> list[dict]:
    """One row per status the issue entered (pure: Jira JSON in, canonical rows out)."""
    key = str(require(issue, "key", "an issue"))
    where = f"issue {key}"
    fields = require(issue, "fields", where)
    created = parse_time(require(fields, "created", where), f"{where} fields.created")

    def name(status_id: object) -> str:
        if str(status_id) not in statuses:
            raise BadAnswer(f"{where}: status id {status_id!r} is not among the statuses {STATUSES} lists")
        return statuses[str(status_id)]

    ordered = sorted(
        histories,
        key=lambda h: (parse_time(h.get("created"), f"{where} history {h.get('id')}"), _number(h.get("id"))),
    )
    status_changes = [c for h in ordered for c in _changes(h, "status")]
    first_status = status_changes[0].get("from") if status_changes else require(fields, "status.id", where)

    def first_value(field: str, now: object) -> str | None:
        changes = [c for h in ordered for c in _changes(h, field)]
        return changes[0].get("fromString") if changes else shown(now)

    team = first_value(team_field, fields.get(team_field)) if team_field else None
    # the fields read back from the changelog (the value in force at each row): field id -> value
    in_force = {f: first_value(f, fields.get(f)) for f in IN_FORCE}
    fixed = {
        "issue_id": str(issue.get("id")),
        "project": shown((fields.get("project") or {}).get("key")) or shown(fields.get("project")),
    }
    creator = shown(fields.get("creator")) or shown(fields.get("reporter"))
    status = name(first_status)
    rows = [_row(key, status, created, creator, team, fixed, in_force)]
    for history in ordered:
        moved = False
        if team_field:
            for change in _changes(history, team_field):
                moved = moved or change.get("toString") != team
                team = change.get("toString")
        for field in IN_FORCE:
            for change in _changes(history, field):
                in_force[field] = change.get("toString")
        entered = [name(require(c, "to", where)) for c in _changes(history, "status")]
        if entered or moved:  # a history may change the status, the team and more: one row
            at = parse_time(history.get("created"), f"{where} history {history.get('id')}")
            status = entered[-1] if entered else status
            rows.append(_row(key, status, at, shown(history.get("author")), team, fixed, in_force))
    return rows


def _row(key, status, at, by, team, fixed, in_force) -> dict:
    return {
        CASE: key,
        STATUS: status,
        CHANGED_AT: at,
        CHANGED_BY: by,
        TEAM: team,
        **fixed,
        "issue_type": in_force["issuetype"],
        "priority": in_force["priority"],
        "assignee": in_force["assignee"],
    }


def _number(text: object) -> int:
    try:
        return int(str(text))
    except ValueError:
        return 0
