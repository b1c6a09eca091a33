"""The flow's declared models and the one runner that materialises them (issue 22).

Each file under `sql/flow/` (but `macros.sql`) is one model: a plain SELECT after a header
that says what it is, one `-- key: value` line each:

    -- name: flow_cases                  the relation it makes (unique, or one per `when`)
    -- grain: case                       what one row is
    -- depends_on: flow_visits, ...      every relation its SELECT reads (checked by a test)
    -- published_as: cases               the result table its rows go to (flow.RESULTS)
    -- params: stream, as_of             the $parameters it binds (after macro expansion)
    -- when: log_shape = status          which computes it belongs to (absent: every one);
                                         `engine = duckdb`: an engine's own variant of a
                                         portable model (`<name>__duckdb.sql`, issue 22)
    -- materialise: view                 a view, not a table (a pass-through costs nothing)

A file's name is the model's name without `flow_`, and `__<variant>` for the alternatives of
one name (`raw_visits__interval.sql`). `macros.sql` holds the macros (`-- macro: f(a, b)` and
an expression body); the runner expands every call (a splice of text, no parser) before an
engine sees the SQL, so every engine gets plain SQL. The runner runs what a set of targets needs, in
dependency order, through an engine (pipeline/engine.py), timing each model.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from functools import cache
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from pipeline.errors import VsmError
from pipeline.store import SQL_DIR

FLOW_DIR = SQL_DIR / "flow"
HEADER_KEYS = ("name", "grain", "depends_on", "published_as", "params", "when", "materialise")
REQUIRED_KEYS = ("name", "grain")

# Relations the flow's Python steps make and register (engine.register), which models read.
INPUTS = (
    "flow_step_map",  # pipeline/flow.py step_map
    "flow_placeholder_statuses",  # pipeline/flow.py
    "flow_status_classes",  # pipeline/statuses.py, via flow.py
    "flow_calendar_intervals",  # pipeline/calendars.py stage_calendars
    "flow_calendar_numbers",
    "flow_team_calendars",
    "flow_sla_defs",  # pipeline/slas.py stage_slas
    "flow_sla_pauses",
    "flow_case_sla_picks",
    "flow_map_steps",  # pipeline/flow.py discover_map (pipeline/stream_map.py)
    "flow_rework_loops",
    "flow_decision_points",
)


class CatalogueError(VsmError):
    """The shipped models are inconsistent: a bug of vsm, not of the user's input."""

    exit_code = 70


@dataclass(frozen=True)
class Model:
    name: str
    path: Path
    grain: str
    depends_on: tuple[str, ...]
    published_as: str | None
    params: tuple[str, ...]
    when: str | None
    view: bool
    sql: str  # the file after its header: explanatory comment and the SELECT

    @property
    def where(self) -> str:
        root = SQL_DIR.parent
        return str(self.path.relative_to(root) if self.path.is_relative_to(root) else self.path)


@dataclass(frozen=True)
class Macro:
    name: str
    args: tuple[str, ...]
    body: str


@dataclass(frozen=True)
class Timing:
    model: str
    seconds: float
    rows: int | None  # None for a view


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def parse_model(path: Path) -> Model:
    """The model of one file; a missing or malformed header is refused with the file and line."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header: dict[str, str] = {}
    n = 0
    for n, line in enumerate(lines):  # noqa: B007 (n: the first line after the header)
        m = re.match(r"^-- ([a-z_]+): ?(.*?)\s*$", line)
        if not m or m.group(1) not in HEADER_KEYS:
            break
        if m.group(1) in header:
            raise CatalogueError(f"{path}:{n + 1}: header key {m.group(1)!r} given twice")
        header[m.group(1)] = m.group(2)
    else:
        n = len(lines)
    for key in REQUIRED_KEYS:
        if not header.get(key):
            raise CatalogueError(
                f"{path}:1: not a model: its header has no '-- {key}: ...' line "
                f"(a model starts with -- name:, -- grain:, -- depends_on:, ...)"
            )
    name = header["name"]
    if not re.fullmatch(r"flow_[a-z0-9_]+", name):
        raise CatalogueError(f"{path}:1: model name {name!r} is not flow_<lower case name>")
    expected = name.removeprefix("flow_")
    if path.stem.split("__")[0] != expected:
        raise CatalogueError(f"{path}:1: a model named {name!r} lives in {expected}.sql or {expected}__*.sql")
    view = header.get("materialise", "table")
    if view not in ("table", "view"):
        raise CatalogueError(f"{path}:1: materialise is 'table' or 'view', not {view!r}")
    sql = "".join(lines[n:])
    if re.search(r"^\s*(CREATE|INSERT|DELETE|UPDATE|ALTER|DROP|SET)\b", sql, re.M | re.I):
        raise CatalogueError(f"{path}:{n + 1}: a model is one SELECT (no DDL or DML)")
    return Model(
        name=name,
        path=path,
        grain=header["grain"],
        depends_on=_split_list(header.get("depends_on", "")),
        published_as=header.get("published_as") or None,
        params=_split_list(header.get("params", "")),
        when=header.get("when") or None,
        view=view == "view",
        sql=sql,
    )


def parse_macros(path: Path) -> dict[str, Macro]:
    macros: dict[str, Macro] = {}
    current: tuple[str, tuple[str, ...], int] | None = None
    body: list[str] = []

    def close() -> None:
        if current is not None:
            text = "\n".join(line for line in body if not line.strip().startswith("--")).strip()
            if not text:
                raise CatalogueError(f"{path}:{current[2]}: macro {current[0]!r} has no body")
            macros[current[0]] = Macro(current[0], current[1], text)

    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        m = re.match(r"^-- macro: (\w+)\(([^)]*)\)\s*$", line)
        if m:
            close()
            if m.group(1) in macros:
                raise CatalogueError(f"{path}:{n}: macro {m.group(1)!r} defined twice")
            current, body = (m.group(1), _split_list(m.group(2)), n), []
        elif current is not None:
            body.append(line)
    close()
    return macros


@cache
def store_tables() -> frozenset[str]:
    """The store's tables (sql/migrations): models may read them."""
    names = set()
    for path in (SQL_DIR / "migrations").glob("*.sql"):
        names |= {
            m.lower()
            for m in re.findall(
                r"CREATE (?:OR REPLACE )?(?:TABLE|VIEW)(?: IF NOT EXISTS)? (\w+)", path.read_text(), re.I
            )
        }
    return frozenset(names)


@dataclass
class Catalogue:
    models: list[Model]
    macros: dict[str, Macro]
    _expanded: dict[Path, str] = field(default_factory=dict, repr=False)

    def names(self) -> set[str]:
        return {m.name for m in self.models}

    def sql(self, model: Model) -> str:
        """The model's SQL with its macros expanded (once per catalogue)."""
        if model.path not in self._expanded:
            self._expanded[model.path] = expand_macros(model.sql, self.macros)
        return self._expanded[model.path]


def load_catalogue(folder: Path = FLOW_DIR) -> Catalogue:
    """Every model of the folder, checked: headers, unique names (per `when`), known
    dependencies, no cycle."""
    macros = parse_macros(folder / "macros.sql")
    models = [parse_model(p) for p in sorted(folder.glob("*.sql")) if p.name != "macros.sql"]
    seen: dict[tuple[str, str | None], Model] = {}
    for m in models:
        key = (m.name, m.when)
        if key in seen:
            raise CatalogueError(f"{m.where}:1: model {m.name!r} is also made by {seen[key].where}")
        seen[key] = m
        if m.when is not None:
            _when_holds(m.when, {}, m, check_only=True)
    known = {m.name for m in models} | set(INPUTS) | store_tables()
    graph: dict[str, set[str]] = {}
    for m in models:
        for d in m.depends_on:
            if d not in known:
                raise CatalogueError(
                    f"{m.where}:1: depends_on names {d!r}, which no model, input or table makes"
                )
        graph.setdefault(m.name, set()).update(d for d in m.depends_on if d != m.name)
        if m.name in m.depends_on:
            raise CatalogueError(f"{m.where}:1: model {m.name!r} depends on itself")
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as e:
        cycle = e.args[1]
        where = next(m.where for m in models if m.name == cycle[0])
        raise CatalogueError(
            f"{where}:1: models depend on each other in a cycle: {' -> '.join(cycle)}"
        ) from e
    return Catalogue(models, macros)


@cache
def catalogue() -> Catalogue:
    return load_catalogue()


def _when_holds(when: str, choices: dict, model: Model, check_only: bool = False) -> bool:
    """`-- when:` terms joined by ` or ` / ` and ` (and binds tighter): a flag (`full`,
    `incremental`, `sla`), `not <flag>`, `key = value`, `key != value`."""
    result = False
    for alternative in when.split(" or "):
        holds = True
        for term in alternative.split(" and "):
            term = term.strip()
            m = re.fullmatch(r"(\w+)\s*(!=|=)\s*(\w+)", term) or re.fullmatch(r"(not )?(\w+)", term)
            if not m:
                raise CatalogueError(f"{model.where}:1: cannot read when: {when!r}")
            if check_only:
                continue
            key = m.group(1) if m.lastindex == 3 else m.group(2)
            if key not in choices:
                raise CatalogueError(f"{model.where}:1: when names {key!r}, which the compute does not set")
            if m.lastindex == 3:
                holds &= (str(choices[key]) == m.group(3)) == (m.group(2) == "=")
            else:
                holds &= bool(choices[key]) != bool(m.group(1))
        result |= holds
    return result


def expand_macros(sql: str, macros: dict[str, Macro]) -> str:
    """The SQL with every macro call replaced by the macro's body in parentheses, each of its
    parameters (a column name standing alone: not after a `.`, not a function's name) by the
    call's argument in parentheses, to a fixed point: macros may call macros. Calls in
    comments and string literals are left alone. SQL without a call is returned as written.

    A splice of text, not a parse: the model's text and the arguments stay as written, and a
    run pays no SQL parser (sqlglot's import and parses of every call took 0.5 to 0.7 s of
    CPU in every compute, however small the log). tests/test_models.py checks, for every
    model, that the result parses to the same tree as sqlglot's substitution of the parsed
    call gives."""
    return _expand(sql, macros, 0)


def _expand(sql: str, macros: dict[str, Macro], depth: int) -> str:
    if depth > 20:
        raise CatalogueError("macros call each other without end")
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, macros)) + r")\s*\(", re.I)
    if not pattern.search(sql):
        return sql
    mask = _code_mask(sql)
    calls, covered = [], -1
    for m in pattern.finditer(sql):  # the outermost calls (a call in another's arguments comes with it)
        if mask[m.start()] and m.start() > covered:
            covered = _closing_paren(sql, m.end() - 1, mask)
            calls.append((m.start(), m.end() - 1, covered))
    for start, opening, end in reversed(calls):
        call = _expand_call(sql[start:opening].strip(), _arguments(sql, opening, end, mask), macros)
        sql = sql[:start] + _expand(call, macros, depth + 1) + sql[end + 1 :]
    return sql


def _after_word(sql: str, i: int) -> bool:
    """The match at i continues a longer name or a qualified one (`x.name(`, `$name`)."""
    return i > 0 and (sql[i - 1].isalnum() or sql[i - 1] in "_$.")


def _arguments(sql: str, opening: int, closing: int, mask: list[bool]) -> list[str]:
    """The texts of a call's arguments: split at its own commas (not those inside brackets,
    strings or comments)."""
    args, depth, start = [], 0, opening + 1
    for i in range(opening + 1, closing):
        if not mask[i]:
            continue
        c = sql[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            args.append(sql[start:i])
            start = i + 1
    last = sql[start:closing]
    if args or last.strip():
        args.append(last)
    return [a.strip() for a in args]


def _expand_call(name: str, args: list[str], macros: dict[str, Macro]) -> str:
    macro = macros[name.lower()]
    if len(args) != len(macro.args):
        raise CatalogueError(
            f"macro {macro.name} takes {len(macro.args)} arguments, called with {len(args)}: "
            f"{name}({', '.join(args)})"
        )
    bound = dict(zip(macro.args, args, strict=True))
    body = _renamed_body(macro)
    mask = _code_mask(body)
    out, last = [], 0
    for m in _NAME.finditer(body):
        if (
            m.group() in bound
            and mask[m.start()]
            and not _after_word(body, m.start())
            and not body[m.end() :].lstrip().startswith((".", "("))  # a table's name, a function
        ):
            out += [body[last : m.start()], _parenthesised(bound[m.group()])]
            last = m.end()
    out.append(body[last:])
    return _parenthesised("".join(out))


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _parenthesised(text: str) -> str:
    return f"({text}\n)" if "--" in text else f"({text})"  # a closing ")" after a comment is no code


@cache
def _renamed_body(macro: Macro) -> str:
    """The macro's body, its lambda parameters renamed within their lambda (`x` ->
    `calendar_w_x`): an argument put in later may name a table alias that is also a lambda
    parameter (calendar_w(x.cum_s, ..., x.hour, ts) in cases.sql), and inside `lambda x: ...`
    its `x.hour` would read the lambda's element (DuckDB happens to resolve it to the column;
    Spark does not: no field hour)."""
    body = macro.body
    mask = _code_mask(body)
    for m in reversed(list(re.finditer(r"\blambda\s+(\w+(?:\s*,\s*\w+)*)\s*:", body, re.I))):
        if not mask[m.start()]:
            continue
        names = {n.strip() for n in m.group(1).split(",")}
        end = _lambda_end(body, m.end(), mask)
        part = body[m.start() : end]
        part_mask = mask[m.start() : end]

        def rename(n, part=part, part_mask=part_mask, names=names):
            whole = n.start() == 0 or not (part[n.start() - 1].isalnum() or part[n.start() - 1] in "_$")
            return (
                f"{macro.name}_{n.group()}"
                if n.group() in names and part_mask[n.start()] and whole
                else n.group()
            )

        renamed = _NAME.sub(rename, part)
        body = body[: m.start()] + renamed + body[end:]
        mask = _code_mask(body)
    return body


def _lambda_end(body: str, i: int, mask: list[bool]) -> int:
    """Where the lambda whose body starts at i ends: at the comma or closing bracket of the
    call it is an argument of."""
    depth = 0
    for j in range(i, len(body)):
        if not mask[j]:
            continue
        if body[j] in "([{":
            depth += 1
        elif body[j] in ")]}":
            if depth == 0:
                return j
            depth -= 1
        elif body[j] == "," and depth == 0:
            return j
    return len(body)


# What is not SQL code: a -- comment (to the line's end), a /* comment */, a 'string' or a
# "quoted identifier" (a doubled quote inside either is part of it); unclosed: to the end.
_NOT_CODE = re.compile(r"--[^\n]*|/\*.*?(?:\*/|\Z)|'(?:[^']|'')*(?:'|\Z)|\"(?:[^\"]|\"\")*(?:\"|\Z)", re.S)


def _code_mask(sql: str) -> list[bool]:
    """Per character: True where it is SQL code, False inside a comment, a string literal or
    a quoted identifier."""
    mask = [True] * len(sql)
    for m in _NOT_CODE.finditer(sql):
        mask[m.start() : m.end()] = [False] * (m.end() - m.start())
    return mask


def _closing_paren(sql: str, opening: int, mask: list[bool]) -> int:
    depth = 0
    for i in range(opening, len(sql)):
        if not mask[i]:
            continue
        if sql[i] == "(":
            depth += 1
        elif sql[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise CatalogueError(f"unbalanced parentheses after {sql[opening - 20 : opening + 20]!r}")


def model_sql(model: Model) -> str:
    """A model of the shipped catalogue, its macros expanded."""
    return catalogue().sql(model)


def reads(sql: str) -> set[str]:
    """The relations a SELECT reads: its table references less its CTEs' names (and table
    functions such as range())."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="duckdb")
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    return {t.name.lower() for t in tree.find_all(exp.Table) if t.name and t.name.lower() not in ctes}


def used_params(sql: str) -> set[str]:
    """The $parameters a SELECT binds (not those in its comments or strings)."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="duckdb")
    return {n.name for n in tree.find_all(exp.Placeholder) if n.name}


@dataclass
class Runner:
    """Runs models through an engine for one compute. `choices` (set as the compute learns
    them: log shape, step_by, full, ...) decide which alternative of a name runs (`-- when:`);
    a model whose `when` names a choice not made yet is not available yet. `run(targets)`
    materialises what the targets need that is not built yet. A built relation every
    reader of which (this compute's models) has run is dropped, to free its memory, unless
    it is in `keep` (what the Python steps and publish read)."""

    engine: object
    choices: dict = field(default_factory=dict)
    keep: set[str] = field(default_factory=set)
    catalogue: Catalogue = field(default_factory=catalogue)
    built: set[str] = field(default_factory=set)
    # built once in this compute, then dropped: a reader that has read its inputs, so they
    # may go too (a view dropped before what it reads: that relation is not held to the end)
    freed: set[str] = field(default_factory=set)
    timings: list[Timing] = field(default_factory=list)
    _readers_by_choices: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # `-- when: engine = duckdb`: an engine-specific variant of a portable model (a file
        # `<name>__duckdb.sql`; the portable one says `engine != duckdb`)
        self.choices.setdefault("engine", getattr(self.engine, "name", "duckdb"))

    def active(self) -> dict[str, Model]:
        active: dict[str, Model] = {}
        for m in self.catalogue.models:
            try:
                applies = m.when is None or _when_holds(m.when, self.choices, m)
            except CatalogueError:  # a choice not made yet
                continue
            if applies:
                if m.name in active:
                    raise CatalogueError(
                        f"{m.where}:1: {m.name!r} is also made by {active[m.name].where} "
                        f"in this compute ({self.choices})"
                    )
                active[m.name] = m
        return active

    def plan(self, targets: tuple[str, ...]) -> list[Model]:
        """The models the targets need, not built yet, in dependency order."""
        active = self.active()
        needed: dict[str, set[str]] = {}
        stack = list(targets)
        while stack:
            name = stack.pop()
            if name in needed or name in self.built:
                continue
            if name not in active:
                if name in self.catalogue.names():
                    raise CatalogueError(f"no model {name!r} applies to this compute ({self.choices})")
                continue  # an input or a store table
            deps = {d for d in active[name].depends_on if d in self.catalogue.names() and d not in self.built}
            needed[name] = deps
            stack.extend(deps)
        return [active[n] for n in TopologicalSorter(needed).static_order()]

    def run(self, *targets: str, params: dict | None = None) -> None:
        params = params or {}
        plan = self.plan(targets)
        self.freed -= {m.name for m in plan}  # to be built again: not done reading yet
        for model in plan:
            missing = [p for p in model.params if p not in params]
            if missing:
                raise CatalogueError(f"{model.where}: parameters not given: {', '.join(missing)}")
            started = time.perf_counter()
            rows = self.engine.materialise(
                model.name, self.catalogue.sql(model), {p: params[p] for p in model.params}, view=model.view
            )
            self.timings.append(Timing(model.name, time.perf_counter() - started, rows))
            self.built.add(model.name)
            self._free(model.depends_on)

    def rows(self, name: str) -> int:
        """The rows of a relation the runner built: as the engine told them, else counted."""
        told = next((t.rows for t in reversed(self.timings) if t.model == name), None)
        if told is not None:
            return told
        return self.engine.read_arrow(f"SELECT count(*) AS n FROM {name}")["n"][0].as_py()

    def _readers(self) -> dict[str, list[Model]]:
        """The models that read each relation, in this compute or maybe (their `when` names a
        choice not made yet); worked out once per state of the choices."""
        key = tuple(sorted((k, str(v), bool(v)) for k, v in self.choices.items()))
        if key not in self._readers_by_choices:
            readers: dict[str, list[Model]] = {}
            for m in self.catalogue.models:
                try:
                    if m.when is not None and not _when_holds(m.when, self.choices, m):
                        continue
                except CatalogueError:  # a choice not made yet: it may read it
                    pass
                for d in m.depends_on:
                    readers.setdefault(d, []).append(m)
            self._readers_by_choices[key] = readers
        return self._readers_by_choices[key]

    def _free(self, candidates) -> None:
        readers = self._readers()

        def finished(name: str) -> bool:
            return name not in self.keep and all(
                r.name in self.freed or (r.name in self.built and (not r.view or finished(r.name)))
                for r in readers.get(name, [])
            )

        views = {m.name: m for m in self.catalogue.models if m.view}
        stack = list(candidates)
        while stack:
            name = stack.pop()
            if name in self.built and finished(name):
                self.drop(name)
                if name in views:  # what the view read may be finished now
                    stack.extend(self.active().get(name, views[name]).depends_on)

    def drop(self, name: str) -> None:
        """Free a relation nothing later reads (its memory); it counts as not built again."""
        self.engine.drop(name)
        self.built.discard(name)
        self.freed.add(name)
