"""Zendesk Support as a system source (declared in `connectors/systems.py`).

A pull reads the incremental ticket event export
(`/api/v2/incremental/ticket_events.json?start_time=<unix seconds>`) from the window's
start: each page holds up to 1000 ticket events and an `end_time`; the next page starts at
that `end_time`, until `end_of_stream`. Zendesk leaves out the events of the last minute,
so `end_time` is at most a minute before now; the cursor stored is the last page's
`end_time`, and the next pull starts exactly there (no overlap needed: events at that very
second come again and are recognised by their ticket event id within a pull and by their
event id in the store). A page size the server lowers is read back: paging follows
`end_time`, not a count.

Names: status display names (`new` -> New, `hold` -> On-hold, ...) or, when the account
has custom ticket statuses, the agent label of the `custom_status_id` a change sets
(`/api/v2/custom_statuses.json`); group names from `/api/v2/groups.json` (paged; a group
missing from it, e.g. deleted, from `/api/v2/groups/{id}.json`); who made a change and the
assignee by name from `/api/v2/users/show_many.json` (100 ids a request; Zendesk's own
updates, updater -1, are "Zendesk"; a user Zendesk no longer returns is "user <id>").

A ticket created before the window has no Create event in it: its status, group, assignee,
priority and type in force at the window's start are the `previous_value` of the first
change of each in the window, or, for a field the window does not change, the ticket's
value now (`/api/v2/tickets/show_many.json`, 100 tickets a request), unless the ticket was
updated after the export's end (the last minute it leaves out): then the first change after
the end in the ticket's audits (`/api/v2/tickets/{id}/audits.json`) holds the value in force
in the window. Every ticket of the window is read from show_many, because its channel is
read from one place only, the ticket's `via.channel` (Zendesk's channel code: web, email,
api, ...; set at creation, never changed): the export's own `via` is a display name ("Web
form", "Mail") and a ticket created before the window has no Create event to read it from,
so an event read again by a later pull (at the cursor's second) would otherwise come out
different and replace itself.

The mapping from ticket events to rows (`ticket_rows`) is pure: one row per status entered,
the first at the ticket's creation (the Create event, by its updater), and one per change of
group without a status change (the same status, the new team: the handoff happens when the
ticket is passed on, as ServiceNow's assignment group changes; a change of both is one row);
resource = who made the change, team = the group in force, and the attributes priority,
ticket type, channel and assignee in force at the change (a later edit does not rewrite rows
already loaded: it shows on the ticket's next row).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

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
)

EVENTS = "/api/v2/incremental/ticket_events.json"
CUSTOM_STATUSES = "/api/v2/custom_statuses.json"
GROUPS = "/api/v2/groups.json"
GROUP = "/api/v2/groups/{id}.json"
USERS = "/api/v2/users/show_many.json"
TICKETS = "/api/v2/tickets/show_many.json"
AUDITS = "/api/v2/tickets/{id}/audits.json"
SHOW_MANY = 100  # ids a show_many request takes
GROUP_PAGE = 100
# Zendesk's standard statuses as its agent interface shows them
STATUS_NAMES = {
    "new": "New",
    "open": "Open",
    "pending": "Pending",
    "hold": "On-hold",
    "solved": "Solved",
    "closed": "Closed",
    "deleted": "Deleted",
}
SYSTEM_UPDATER = "Zendesk"  # updater_id -1: a change Zendesk itself made (automations, closing)
# the fields a ticket event's child events change that the rows read
TRACKED = ("status", "custom_status_id", "group_id", "assignee_id", "priority", "type")
STATE = ("status", "custom_status_id", "group_id", "assignee_id", "priority", "type")
LAST_MINUTE = timedelta(seconds=60)  # Zendesk refuses a start_time within the last minute


def start_time(ctx: PullContext) -> int:
    """The export's start_time: the window's start in unix seconds."""
    return int(ctx.start.timestamp())


def plan(ctx: PullContext) -> list[str]:
    base = ctx.url.rstrip("/")
    how = "[source] since" if ctx.first_run else "the stored end_time"
    first = int(ctx.start.timestamp())
    return [
        f"GET {base}{EVENTS}?start_time={first} then start_time=<end_time> per page (up to 1000 events), "
        "until end_of_stream",
        f"GET {base}{CUSTOM_STATUSES} (custom status labels, where the account has them)",
        f"GET {base}{GROUPS} pages of {GROUP_PAGE} (group names)",
        f"GET {base}{USERS} {SHOW_MANY} ids a request (who made each change, assignees)",
        f"GET {base}{TICKETS} {SHOW_MANY} ids a request (every ticket of the window: its channel, and the "
        "state of tickets created before the window)",
        f"GET {base}{AUDITS} for a ticket created before the window and updated after its end (the "
        "values in force in the window)",
        f"changes from {ctx.start:%Y-%m-%d %H:%M:%S} UTC (start_time={first}, {how}) to a minute before now "
        "(Zendesk leaves the last minute out)",
    ]


def pull(ctx: PullContext) -> Iterator[Page]:
    client = ctx.client
    assert client is not None
    events, end = _export(ctx)
    by_ticket: dict[int, list[dict]] = {}
    for event in events.values():
        by_ticket.setdefault(event["ticket_id"], []).append(event)
    statuses = _custom_statuses(ctx)
    now = _tickets_now(ctx, sorted(by_ticket))
    older = [t for t, evs in by_ticket.items() if not any(is_create(e) for e in evs)]
    later = _changed_after(ctx, older, now, end)
    before = {t: state_before(now.get(t), by_ticket[t], later.get(t, [])) for t in older}
    groups = _groups(ctx, _ids(by_ticket, before, "group_id"))
    users = _users(ctx, _ids(by_ticket, before, "assignee_id") | _updaters(events.values()))
    rows = []
    for ticket_id, ticket_events in by_ticket.items():
        try:
            rows.extend(
                ticket_rows(
                    ticket_id,
                    ticket_events,
                    custom_statuses=statuses,
                    groups=groups,
                    users=users,
                    before=before.get(ticket_id),
                    channel=channel_of(now.get(ticket_id)),
                )
            )
        except BadAnswer as error:
            raise ctx.bad_answer(client.endpoint(EVENTS), error) from None
    cursor = datetime.fromtimestamp(end, UTC) if end is not None else ctx.start
    yield Page(events_frame(rows, ctx.system), cursor.isoformat())


# ---------------------------------------------------------------- fetching


def _export(ctx: PullContext) -> tuple[dict[int, dict], int | None]:
    """Every ticket event from the window's start to the end of the stream, by event id (the
    same event on two pages is kept once), and the last page's end_time."""
    client = ctx.client
    endpoint = client.endpoint(EVENTS)
    at = start_time(ctx)
    events: dict[int, dict] = {}
    end = None
    if ctx.start > datetime.now(UTC) - LAST_MINUTE:  # a since still to come: nothing to read yet
        ctx.on_stage(f"zendesk: the window starts at {ctx.start:%Y-%m-%d %H:%M:%S} UTC; nothing to read yet")
        return events, end
    while True:
        page, _ = client.get_json(EVENTS, {"start_time": at})
        try:
            found = require(page, "ticket_events")
            if not isinstance(found, list):
                raise BadAnswer("ticket_events is not a list")
            for event in found:
                event_id = require(event, "id", "a ticket event")
                where = f"ticket event {event_id}"
                event["ticket_id"] = require(event, "ticket_id", where)
                event["_at"] = event_time(event, where)
                events[event_id] = event
            done = page.get("end_of_stream")
            if not isinstance(done, bool):
                raise BadAnswer("missing field end_of_stream")
            end = page.get("end_time")
            if end is None and not done:
                raise BadAnswer("missing field end_time on a page that is not the end of the stream")
            if end is not None and not isinstance(end, int):
                raise BadAnswer(f"end_time: expected unix seconds, found {end!r}")
        except BadAnswer as error:
            raise ctx.bad_answer(endpoint, error) from None
        ctx.on_stage(f"zendesk: {len(events):,} ticket events read")
        if done:
            return events, end
        if end <= at:
            raise ctx.bad_answer(
                endpoint,
                f"end_time {end} did not move past start_time {at} (more than a page of events in one "
                "second?): the export cannot go on",
            )
        at = end


def _custom_statuses(ctx: PullContext) -> dict[str, str]:
    """Custom status id -> agent label; none where the account has no custom statuses."""
    client = ctx.client
    try:
        answer, _ = client.get_json(CUSTOM_STATUSES)
    except RequestRefused as error:
        if error.status == 404:
            return {}
        raise
    try:
        found = require(answer, "custom_statuses")
        return {str(require(s, "id", "a custom status")): str(require(s, "agent_label")) for s in found}
    except (BadAnswer, TypeError) as error:
        raise ctx.bad_answer(client.endpoint(CUSTOM_STATUSES), error) from None


def _groups(ctx: PullContext, wanted: set[int]) -> dict[int, str]:
    """Group id -> name: every page of the groups list, then each wanted id it lacks."""
    client = ctx.client
    groups: dict[int, str] = {}
    path, params = GROUPS, {"per_page": GROUP_PAGE}
    seen: set[str] = set()
    while path:
        answer, _ = client.get_json(path, params)
        try:
            for group in require(answer, "groups"):
                groups[require(group, "id", "a group")] = str(require(group, "name"))
            path, params = _next(ctx, answer.get("next_page"), GROUPS)
        except BadAnswer as error:
            raise ctx.bad_answer(client.endpoint(GROUPS), error) from None
        if path and str(params) in seen:
            raise ctx.bad_answer(client.endpoint(GROUPS), "next_page came back twice")
        seen.add(str(params))
    for group_id in sorted(wanted - groups.keys()):
        one = GROUP.format(id=group_id)
        try:
            answer, _ = client.get_json(one)
        except RequestRefused as error:
            if error.status != 404:
                raise
            raise ctx.bad_answer(
                client.endpoint(one), f"group id {group_id} is set on tickets but Zendesk does not know it"
            ) from None
        try:
            groups[group_id] = str(require(answer, "group.name"))
        except BadAnswer as error:
            raise ctx.bad_answer(client.endpoint(one), error) from None
    return groups


def _next(ctx: PullContext, url: object, expected: str) -> tuple[str, dict]:
    """A next_page URL as a path and parameters for the client (None: the last page)."""
    if not url:
        return "", {}
    parsed = urlparse(str(url))
    base = urlparse(ctx.url)
    if parsed.netloc and parsed.netloc != base.netloc or parsed.path != expected:
        raise BadAnswer(f"next_page {url!r} points outside {expected}")
    return parsed.path, {k: v[0] for k, v in parse_qs(parsed.query).items()}


def _users(ctx: PullContext, ids: set[int]) -> dict[int, str]:
    """User id -> name, for the ids asked (Zendesk's own updates, -1, need no request)."""
    client = ctx.client
    users: dict[int, str] = {}
    wanted = sorted(i for i in ids if i is not None and i != -1)
    for chunk in _chunks(wanted, SHOW_MANY):
        answer, _ = client.get_json(USERS, {"ids": ",".join(str(i) for i in chunk)})
        try:
            for user in require(answer, "users"):
                users[require(user, "id", "a user")] = str(require(user, "name"))
        except BadAnswer as error:
            raise ctx.bad_answer(client.endpoint(USERS), error) from None
    return users


def _tickets_now(ctx: PullContext, ids: list[int]) -> dict[int, dict]:
    """The tickets as they are now, by id (a ticket Zendesk no longer returns, e.g. deleted, is
    left out: nothing is known of it beyond its events)."""
    client = ctx.client
    now: dict[int, dict] = {}
    for chunk in _chunks(ids, SHOW_MANY):
        answer, _ = client.get_json(TICKETS, {"ids": ",".join(str(i) for i in chunk)})
        try:
            for ticket in require(answer, "tickets"):
                now[require(ticket, "id", "a ticket")] = ticket
        except BadAnswer as error:
            raise ctx.bad_answer(client.endpoint(TICKETS), error) from None
    return now


def _changed_after(
    ctx: PullContext, older: list[int], now: dict[int, dict], end: int | None
) -> dict[int, list[dict]]:
    """The audits after the export's end of each ticket (created before the window) that
    Zendesk shows updated after it: the export leaves the last minute out, so such a ticket's
    values now may be newer than its rows; the first later change's previous value is the
    value in force in the window (`state_before`)."""
    if end is None:
        return {}
    later: dict[int, list[dict]] = {}
    for ticket_id in sorted(older):
        updated = (now.get(ticket_id) or {}).get("updated_at")
        if not isinstance(updated, str) or _instant(updated) <= datetime.fromtimestamp(end, UTC):
            continue
        later[ticket_id] = [a for a in _audits(ctx, ticket_id) if a["_at"] > datetime.fromtimestamp(end, UTC)]
    return later


def _audits(ctx: PullContext, ticket_id: int) -> list[dict]:
    """A ticket's audits (pages of 100 by next_page), each as a ticket event (`child_events`,
    `_at`) for `changes`."""
    client = ctx.client
    first = AUDITS.format(id=ticket_id)
    path, params = first, {"per_page": 100}
    out: list[dict] = []
    seen: set[str] = set()
    while path:
        answer, _ = client.get_json(path, params)
        try:
            for audit in require(answer, "audits"):
                where = f"ticket {ticket_id} audit {audit.get('id')}"
                at = event_time({"created_at": require(audit, "created_at", where)}, where)
                out.append({"id": audit.get("id"), "_at": at, "child_events": audit.get("events") or []})
            path, params = _next(ctx, answer.get("next_page"), first)
        except BadAnswer as error:
            raise ctx.bad_answer(client.endpoint(first), error) from None
        if path and str(params) in seen:
            raise ctx.bad_answer(client.endpoint(first), "next_page came back twice")
        seen.add(str(params))
    return out


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)  # unreadable: treat as changed since (read the audits)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _ids(by_ticket: dict[int, list[dict]], before: dict[int, dict], field: str) -> set[int]:
    ids = {s.get(field) for s in before.values()}
    ids |= {v for events in by_ticket.values() for e in events for f, v, _ in changes(e) if f == field}
    return {i for i in ids if isinstance(i, int)}


def _updaters(events: Iterable[dict]) -> set[int]:
    return {e.get("updater_id") for e in events if isinstance(e.get("updater_id"), int)}


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# ---------------------------------------------------------------- mapping (pure)


def state_before(ticket: dict | None, events: list[dict], later: Iterable[dict] = ()) -> dict:
    """A ticket's state (STATE) at the window's start when its Create event is not in the
    window: the previous_value of the first change of each field in `events`, else of the
    first in `later` (its audits after the window's end, each with `_at`), else the ticket's
    value now (`ticket`, from tickets/show_many; None: nothing known)."""
    ticket = ticket or {}
    state = {f: ticket.get(f) for f in STATE}
    first_change: dict[str, object] = {}
    for event in [*sorted(events, key=_order), *sorted(later, key=lambda a: (a["_at"], _number(a["id"])))]:
        for field, _, previous in changes(event):
            first_change.setdefault(field, previous)
    return state | {f: v for f, v in first_change.items() if f in STATE}


def channel_of(ticket: dict | None) -> str | None:
    """The ticket's channel code (`via.channel`: web, email, api, ...), None if unknown."""
    via = (ticket or {}).get("via")
    return _text(via.get("channel")) if isinstance(via, dict) else None


def event_time(event: dict, where: str) -> datetime:
    """A ticket event's instant: `timestamp` (unix seconds), else `created_at` (ISO 8601)."""
    stamp = event.get("timestamp")
    if isinstance(stamp, int) and not isinstance(stamp, bool):
        return datetime.fromtimestamp(stamp, UTC)
    text = event.get("created_at")
    if isinstance(text, str):
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise BadAnswer(f"{where}: created_at {text!r} is not an ISO 8601 date and time") from None
        if value.tzinfo is not None:
            return value.astimezone(UTC)
    raise BadAnswer(f"missing field timestamp ({where})")


def changes(event: dict) -> list[tuple[str, object, object]]:
    """(field, value, previous value) of each tracked field a ticket event creates or changes.
    A child event names its field in `field_name` with `value`, or (as the export writes
    them) carries the field itself as a key next to `previous_value`."""
    out = []
    for child in event.get("child_events") or []:
        if not isinstance(child, dict) or (child.get("event_type") or child.get("type")) not in (
            "Create",
            "Change",
        ):
            continue
        if "field_name" in child:
            if child["field_name"] in TRACKED:
                out.append((child["field_name"], child.get("value"), child.get("previous_value")))
            continue
        for field in TRACKED:
            if field in child:
                out.append((field, child[field], child.get("previous_value")))
    return out


def is_create(event: dict) -> bool:
    if event.get("event_type") == "Create":
        return True
    return any(
        isinstance(c, dict) and (c.get("event_type") or c.get("type")) == "Create"
        for c in event.get("child_events") or []
    )


def _order(event: dict) -> tuple:
    return (event["_at"], not is_create(event), _number(event.get("id")))


def ticket_rows(
    ticket_id: object,
    events: list[dict],
    *,
    custom_statuses: dict[str, str],
    groups: dict[int, str],
    users: dict[int, str],
    before: dict | None = None,
    channel: str | None = None,
) -> list[dict]:
    """One row per status the ticket entered in `events` (its ticket events in the window,
    each with `_at`, its instant), and one per change of group alone (the status in force, the
    new team). `before`: the ticket's state at the window's start when its Create event is
    not among them (`state_before`). `channel`: the ticket's channel code (`channel_of`);
    None (a ticket Zendesk no longer returns): the Create event's `via`, if in the window."""
    case = str(ticket_id)
    state: dict[str, object] = dict(before or {})
    rows = []
    for event in sorted(events, key=_order):
        where = f"ticket {case} event {event.get('id')}"
        found = changes(event)
        create = is_create(event)
        if create:
            state = {f: None for f in STATE}
            if channel is None:
                via = event.get("via")
                channel = _text(via.get("channel") if isinstance(via, dict) else via)
        group_before = _text(state.get("group_id"))
        for field, value, _ in found:
            if field in STATE:
                state[field] = value
        custom = [v for f, v, _ in found if f == "custom_status_id" and v is not None]
        plain = [v for f, v, _ in found if f == "status" and v is not None]
        if custom and custom_statuses:
            status = _custom_name(custom[-1], custom_statuses, where)
        elif plain:
            status = _status_name(plain[-1], where)
        elif create:
            raise BadAnswer(f"{where}: the ticket's Create event sets no status")
        elif _text(state.get("group_id")) != group_before:
            status = _status_in_force(state, custom_statuses, where)
        else:
            status = None
        if status is None:
            continue
        rows.append(
            {
                CASE: case,
                STATUS: status,
                CHANGED_AT: event["_at"],
                CHANGED_BY: user_name(event.get("updater_id"), users),
                TEAM: _group_name(state.get("group_id"), groups, where),
                "priority": _text(state.get("priority")),
                "ticket_type": _text(state.get("type")),
                "channel": channel,
                "assignee": user_name(state.get("assignee_id"), users),
            }
        )
    return rows


def _status_in_force(state: dict, custom_statuses: dict[str, str], where: str) -> str | None:
    """The status a ticket is in (for a row of a group change alone); None when no status is
    known (a ticket created before the window that Zendesk no longer returns)."""
    if custom_statuses and state.get("custom_status_id") is not None:
        return _custom_name(state["custom_status_id"], custom_statuses, where)
    if state.get("status") is not None:
        return _status_name(state["status"], where)
    return None


def user_name(user_id: object, users: dict[int, str]) -> str | None:
    if user_id is None or user_id == "":
        return None
    if user_id == -1:
        return SYSTEM_UPDATER
    number = _number(user_id)
    return users.get(number) or f"user {user_id}"


def _status_name(value: object, where: str) -> str:
    name = STATUS_NAMES.get(str(value).lower())
    if name is None:
        raise BadAnswer(f"{where}: status {value!r} is not a Zendesk status ({', '.join(STATUS_NAMES)})")
    return name


def _custom_name(value: object, custom: dict[str, str], where: str) -> str:
    name = custom.get(str(value))
    if name is None:
        raise BadAnswer(
            f"{where}: custom status id {value!r} is not among the statuses {CUSTOM_STATUSES} lists"
        )
    return name


def _group_name(value: object, groups: dict[int, str], where: str) -> str | None:
    if value is None or value == "":
        return None
    name = groups.get(_number(value))
    if name is None:
        raise BadAnswer(f"{where}: group id {value!r} is not among the groups {GROUPS} lists")
    return name


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _number(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0
