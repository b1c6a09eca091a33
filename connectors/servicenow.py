"""ServiceNow as a system source (declared in `connectors/systems.py`), over the Table API.

A pull reads, every request with `sysparm_display_value=false` (raw values: choice values,
sys_ids, instants as 'YYYY-MM-DD HH:MM:SS' in UTC) and every paged query ordered:

1. the choice labels of the case table (`sys_choice`: name = the table or `task`, which it
   inherits from; element state, priority, impact, urgency, category; language en);
2. the cases matching `[source] query` updated in the window (the case table, default
   `incident`: number, creation, current state / group / assignee, attributes);
3. the audit trail of the window (`sys_audit`: tablename = the table, fieldname in state,
   assignment_group, assigned_to, priority, impact, urgency, category,
   `sys_created_on >= start`), kept for the cases of 2;
4. the names of the groups (`sys_user_group`) and assignees (`sys_user`) met, by sys_id.

Paging is by `sysparm_offset` / `sysparm_limit`: the next page starts after the rows that
came (a page size the server lowers is read back), and a short page is not the end: the
pull reads on while `X-Total-Count` (or the `Link` header's rel="next") says there is more.

The window: from `[source] since` on the first run, then from the stored cursor (the
server's clock, its `Date` header, when the pull began) minus the overlap. Literal instants
in an encoded query are read in UTC, so the window is written in UTC to the second.

The mapping (`case_rows`) is pure: one row per state entered, and one per change of
assignment group (same state, the new team: the status model's team steps and handoffs read
every change of group, even while a case waits in one state); a change that sets both is one
row. The case's creation is a row (its first state, group and assignee: the old value of
the first audited change of each, or the value now if it never changed) when it lies in
the window. Values in force before the window are read back the same way, so a row fetched
by two runs is the same row (and the same event id). resource = who made the change (the
audit's `user`, the case's `sys_created_by` for its creation), team = the assignment group
in force, by name; the attributes are the assignee, priority, impact, urgency and category
in force at the row (a change of those alone is no row; a later edit shows on the case's next
row and does not rewrite rows already loaded; a field the instance does not audit is its
value now).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

from connectors.systems import (
    CASE,
    CHANGED_AT,
    CHANGED_BY,
    STATUS,
    TEAM,
    BadAnswer,
    Page,
    PullContext,
    events_frame,
    require,
    window_text,
)
from pipeline.errors import SettingsError

TABLE_API = "/api/now/table/"
CHOICES = TABLE_API + "sys_choice"
AUDIT = TABLE_API + "sys_audit"
GROUPS = TABLE_API + "sys_user_group"
USERS = TABLE_API + "sys_user"
DEFAULT_TABLE = "incident"
PAGE_SIZE = 1000
ID_CHUNK = 100  # sys_ids per sys_idIN query (the URL stays short)
LABELLED = ("state", "priority", "impact", "urgency", "category")  # fields read from sys_choice
# case attributes whose value in force at each row is read back from sys_audit (a field the
# instance does not audit, or that the window does not change, is its value now)
IN_FORCE = ("priority", "impact", "urgency", "category")
AUDITED = ("state", "assignment_group", "assigned_to", *IN_FORCE)
CASE_FIELDS = (
    "sys_id",
    "number",
    "sys_created_on",
    "sys_created_by",
    "state",
    "assignment_group",
    "assigned_to",
    "priority",
    "impact",
    "urgency",
    "category",
)
AUDIT_FIELDS = (
    "sys_id",
    "documentkey",
    "fieldname",
    "oldvalue",
    "newvalue",
    "sys_created_on",
    "user",
    "record_checkpoint",
)
ATTRIBUTES = ("sys_id", "priority", "impact", "urgency", "category", "assignee")
TIME = "%Y-%m-%d %H:%M:%S"
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def table_of(ctx: PullContext) -> str:
    table = ctx.table or DEFAULT_TABLE
    if not re.fullmatch(r"[a-z][a-z0-9_]*", table):
        raise SettingsError(
            f"[source] table = {table!r}: expected a ServiceNow table name such as incident or x_acme_claim"
        )
    return table


def user_query(query: str) -> str:
    """The stream's encoded query, checked: the pull appends its window and its order."""
    q = query.strip().strip("^")
    if re.search(r"(^|\^)ORDERBY", q):
        raise SettingsError(
            f"[source] query = {query!r}: leave ORDERBY out; the pull orders by creation to page safely"
        )
    if "^NQ" in q:
        raise SettingsError(
            f"[source] query = {query!r}: ^NQ (a second query) is not supported: the window would apply "
            "to its last part only; write one query (^OR for alternatives)"
        )
    return q


def _and(*parts: str) -> str:
    return "^".join(p for p in parts if p)


def case_query(query: str, start: datetime) -> str:
    return _and(
        user_query(query), f"sys_updated_on>={start:{TIME}}", "ORDERBYsys_created_on", "ORDERBYsys_id"
    )


def audit_query(table: str, start: datetime) -> str:
    return _and(
        f"tablename={table}",
        f"fieldnameIN{','.join(AUDITED)}",
        f"sys_created_on>={start:{TIME}}",
        "ORDERBYsys_created_on",
        "ORDERBYsys_id",
    )


def choice_query(table: str) -> str:
    names = table if table == "task" else f"{table},task"
    return _and(f"nameIN{names}", f"elementIN{','.join(LABELLED)}", "language=en", "ORDERBYsys_id")


def _start(ctx: PullContext) -> datetime:
    return ctx.start.astimezone(UTC).replace(microsecond=0)  # floored: never later than asked


def plan(ctx: PullContext) -> list[str]:
    base = ctx.url.rstrip("/")
    table = table_of(ctx)
    start = _start(ctx)
    return [
        f"GET {base}{CHOICES} (labels of {table}'s states and attributes): {choice_query(table)}",
        f"GET {base}{TABLE_API}{table} pages of {PAGE_SIZE}, sysparm_query: {case_query(ctx.query, start)}",
        f"GET {base}{AUDIT} pages of {PAGE_SIZE}, sysparm_query: {audit_query(table, start)} "
        "(or by record, documentkeyIN<sys_ids>^..., when that takes fewer requests)",
        f"GET {base}{GROUPS} and {USERS} (names of the groups and assignees met, by sys_id)",
        window_text(ctx.start, ctx.first_run, ctx.system.overlap),
    ]


def pull(ctx: PullContext) -> Iterator[Page]:
    client = ctx.client
    assert client is not None
    table = table_of(ctx)
    start = _start(ctx)
    cases_path = TABLE_API + table
    cases_q = case_query(ctx.query, start)  # checked before any request
    choices, headers = _read_all(ctx, CHOICES, choice_query(table), ("name", "element", "value", "label"))
    began = client.server_time(headers) or datetime.now(UTC)
    labels = _labels(ctx, choices, table)
    cases: dict[str, dict] = {}
    for record in _read_all(ctx, cases_path, cases_q, CASE_FIELDS)[0]:
        try:
            sys_id = str(require(record, "sys_id", f"a {table} record"))
            where = f"{table} {require(record, 'number', f'{table} {sys_id}')}"
            parse_time(require(record, "sys_created_on", where), f"{where} sys_created_on")
            cases[sys_id] = record
        except BadAnswer as error:
            raise ctx.bad_answer(client.endpoint(cases_path), error) from None
    ctx.on_stage(f"servicenow: {len(cases):,} {table} records changed in the window")
    audits: dict[str, list[dict]] = {}
    for row in _audit_rows(ctx, table, start, cases):
        try:
            key = str(require(row, "documentkey", f"sys_audit {row.get('sys_id')}"))
            require(row, "fieldname", f"sys_audit {row.get('sys_id')}")
            require(row, "sys_created_on", f"sys_audit {row.get('sys_id')}")
        except BadAnswer as error:
            raise ctx.bad_answer(client.endpoint(AUDIT), error) from None
        if key in cases:  # a record the query does not select now is not the stream's
            audits.setdefault(key, []).append(row)
    groups = _names(ctx, GROUPS, _referenced(cases, audits, "assignment_group"), ("name",))
    users = _names(ctx, USERS, _referenced(cases, audits, "assigned_to"), ("user_name", "name"))
    rows = []
    for sys_id, record in cases.items():
        try:
            rows.extend(case_rows(record, audits.get(sys_id, []), labels, groups, users, start, table))
        except BadAnswer as error:
            raise ctx.bad_answer(client.endpoint(AUDIT), error) from None
    yield Page(events_frame(rows, ctx.system), began.isoformat())


def _page(
    ctx: PullContext, path: str, query: str, fields: tuple[str, ...], offset: int
) -> tuple[list[dict], dict[str, str]]:
    """One page of a Table API query from `offset`, and its headers."""
    params = {
        "sysparm_query": query,
        "sysparm_fields": ",".join(fields),
        "sysparm_limit": PAGE_SIZE,
        "sysparm_offset": offset,
        "sysparm_display_value": "false",
        "sysparm_exclude_reference_link": "true",
    }
    answer, headers = ctx.client.get_json(path, params)
    result = answer.get("result") if isinstance(answer, dict) else None
    if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
        raise ctx.bad_answer(ctx.client.endpoint(path), 'expected {"result": [records]}')
    return result, headers


def _read_all(
    ctx: PullContext,
    path: str,
    query: str,
    fields: tuple[str, ...],
    first: tuple[list[dict], dict[str, str]] | None = None,
) -> tuple[list[dict], dict[str, str]]:
    """Every row of a Table API query, page by page (after `first`, when already read); and
    the first answer's headers."""
    result, headers = first or _page(ctx, path, query, fields, 0)
    out, first_headers = list(result), headers
    # the server may hand back fewer than asked: read on from what came
    while result and _more(headers, len(out)):
        result, headers = _page(ctx, path, query, fields, len(out))
        out.extend(result)
    return out, first_headers


def _audit_rows(ctx: PullContext, table: str, start: datetime, cases: dict[str, dict]) -> list[dict]:
    """The window's sys_audit rows of the table; by record (documentkeyIN, 100 a query) when
    that likely takes fewer requests than the table's whole window (the first page's
    X-Total-Count says how many): a narrow query on a busy table."""
    query = audit_query(table, start)
    first = _page(ctx, AUDIT, query, AUDIT_FIELDS, 0)
    total = _total(first[1])
    page = len(first[0])
    if total is not None and page and total > page:
        pages_left = -(-(total - page) // page)
        keys = sorted(cases)
        chunks = [keys[i : i + ID_CHUNK] for i in range(0, len(keys), ID_CHUNK)]
        # by record: a query a chunk, and pages for their rows (reckoned at 10 changes a record)
        if len(chunks) + -(-len(keys) * 10 // page) < pages_left:
            ctx.on_stage(
                f"servicenow: sys_audit read for {len(keys):,} records, not {total:,} rows of {table}"
            )
            out: list[dict] = []
            for chunk in chunks:
                out += _read_all(ctx, AUDIT, _and(f"documentkeyIN{','.join(chunk)}", query), AUDIT_FIELDS)[0]
            return out
    return _read_all(ctx, AUDIT, query, AUDIT_FIELDS, first)[0]


def _total(headers: dict[str, str]) -> int | None:
    total = {k.lower(): v for k, v in headers.items()}.get("x-total-count", "").strip()
    return int(total) if total.isdigit() else None


def _more(headers: dict[str, str], read: int) -> bool:
    """Whether rows remain after `read`: X-Total-Count says, else the Link header's rel="next";
    with neither, read on until an empty page."""
    total = _total(headers)
    if total is not None:
        return read < total
    lower = {k.lower(): v for k, v in headers.items()}
    if "link" in lower:
        return 'rel="next"' in lower["link"]
    return True


def _labels(ctx: PullContext, choices: list[dict], table: str) -> dict[str, dict[str, str]]:
    """element -> value -> label; the table's own choices over those it inherits from task."""
    labels: dict[str, dict[str, str]] = {}
    try:
        for own in (False, True):
            for c in choices:
                if (c.get("name") == table) == own:
                    labels.setdefault(str(require(c, "element", "sys_choice")), {})[
                        str(require(c, "value", "sys_choice"))
                    ] = str(require(c, "label", "sys_choice"))
    except BadAnswer as error:
        raise ctx.bad_answer(ctx.client.endpoint(CHOICES), error) from None
    if not labels.get("state"):
        raise ctx.bad_answer(
            ctx.client.endpoint(CHOICES),
            f"no state choices for {table} (nor task) in language en: check [source] table and the "
            "account's read access to sys_choice",
        )
    return labels


def _referenced(cases: dict[str, dict], audits: dict[str, list[dict]], field: str) -> set[str]:
    ids = {ref(r.get(field)) for r in cases.values()}
    for rows in audits.values():
        for a in rows:
            if a.get("fieldname") == field:
                ids |= {ref(a.get("oldvalue")), ref(a.get("newvalue"))}
    return {i for i in ids if i}


def _names(ctx: PullContext, path: str, ids: set[str], fields: tuple[str, ...]) -> dict[str, str]:
    """sys_id -> the record's first non-empty field of `fields`, for the ids asked."""
    out: dict[str, str] = {}
    ordered = sorted(ids)
    for i in range(0, len(ordered), ID_CHUNK):
        query = _and(f"sys_idIN{','.join(ordered[i : i + ID_CHUNK])}", "ORDERBYsys_id")
        for record in _read_all(ctx, path, query, ("sys_id", *fields))[0]:
            name = next((str(record[f]) for f in fields if record.get(f)), None)
            if record.get("sys_id") and name:
                out[str(record["sys_id"])] = name
    missing = len(ids) - len(ids & out.keys())
    if missing:
        ctx.on_stage(f"servicenow: {missing} sys_id(s) not found in {path} (deleted?): kept as the sys_id")
    return out


# ---------------------------------------------------------------- mapping (pure)


def ref(value: object) -> str:
    """A reference field's sys_id: a plain string, or {"value": ...} with a reference link."""
    if isinstance(value, dict):
        value = value.get("value")
    return "" if value is None else str(value)


def parse_time(text: object, where: str) -> datetime:
    """A ServiceNow instant with display_value=false ('2026-03-02 08:00:00', UTC)."""
    if isinstance(text, str) and _INSTANT.fullmatch(text):
        try:
            return datetime.fromisoformat(text).replace(tzinfo=UTC)  # strptime is 10x slower
        except ValueError:
            pass
    raise BadAnswer(f"{where}: {text!r} is not a ServiceNow date and time (YYYY-MM-DD HH:MM:SS, UTC)")


def _updates(audits: list[dict], number: str) -> list[list[dict]]:
    """The audit rows grouped by update (one save of the record: its instant and checkpoint),
    oldest first."""

    def key(a: dict) -> tuple:
        at = parse_time(a.get("sys_created_on"), f"{number} sys_audit {a.get('sys_id')}")
        return at, _number(a.get("record_checkpoint")), str(a.get("sys_id"))

    groups: dict[tuple, list[dict]] = {}
    for k, a in sorted(((key(a), a) for a in audits), key=lambda pair: pair[0]):
        groups.setdefault(k[:2], []).append(a)
    return list(groups.values())


def case_rows(
    case: dict,
    audits: list[dict],
    labels: dict[str, dict[str, str]],
    groups: dict[str, str],
    users: dict[str, str],
    start: datetime,
    table: str = DEFAULT_TABLE,
) -> list[dict]:
    """The case's rows in the window from `start` (pure: Table API JSON in, canonical rows out)."""
    number = str(require(case, "number", f"{table} {case.get('sys_id')}"))
    where = f"{table} {number}"
    created = parse_time(require(case, "sys_created_on", where), f"{where} sys_created_on")
    updates = _updates(audits, number)

    def before(field: str) -> str:
        """The value in force before the first audited change of `field` (or now, if none)."""
        for update in updates:
            for a in update:
                if a.get("fieldname") == field:
                    old = ref(a.get("oldvalue"))
                    at = parse_time(a.get("sys_created_on"), where)
                    # an audited insert (glide.sys.audit_inserts) has no old value: the new is the first
                    return ref(a.get("newvalue")) if not old and at <= created else old
        return ref(case.get(field))

    def state_label(value: str) -> str:
        if not value:
            raise BadAnswer(f"{where}: an empty state")
        if value not in labels.get("state", {}):
            raise BadAnswer(
                f"{where}: state {value!r} is not among the choices sys_choice lists for {table}.state"
            )
        return labels["state"][value]

    def label(field: str, value: str) -> str | None:
        return labels.get(field, {}).get(value, value) if value else None

    # the attributes in force: read back like the state, so a later edit (a new priority) does
    # not rewrite a row that a second pull reads again in its overlap
    in_force = {f: before(f) for f in IN_FORCE}
    sys_id = str(case.get("sys_id"))
    state, group, assignee = before("state"), before("assignment_group"), before("assigned_to")

    def row(at: datetime, by: object) -> dict:
        return {
            CASE: number,
            STATUS: state_label(state),
            CHANGED_AT: at,
            CHANGED_BY: str(by) if by else None,
            TEAM: groups.get(group, group) or None,
            "sys_id": sys_id,
            **{f: label(f, v) for f, v in in_force.items()},
            "assignee": users.get(assignee, assignee) or None,
        }

    rows = [row(created, case.get("sys_created_by"))] if created >= start else []
    for update in updates:
        moved = False
        for a in update:
            field, new = a.get("fieldname"), ref(a.get("newvalue"))
            if field == "state" and new != state:
                state, moved = new, True
            elif field == "assignment_group" and new != group:
                group, moved = new, True
            elif field == "assigned_to":
                assignee = new
            elif field in in_force:
                in_force[field] = new
        if moved:
            rows.append(row(parse_time(update[0].get("sys_created_on"), where), update[0].get("user")))
    return rows


def _number(text: object) -> int:
    try:
        return int(str(text))
    except ValueError:
        return 0
