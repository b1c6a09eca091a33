"""The portable subset of the flow's SQL: DuckDB's dialect is the source, Spark a target.

`check(sql)` parses a model's SELECT (DuckDB dialect, macros expanded) with sqlglot and
lists the constructs that do not survive the trip to Spark or change meaning there without
an error; each Problem names the construct and its portable rewrite. `to_spark(sql,
params)` binds the $parameters as literals (Spark's named parameters take no lists) and
transpiles, correcting what sqlglot's Spark output gets wrong for our uses.

What is refused, and why (tests/spark_catalogue.py runs every flow statement on both
engines; tests/spark_catalogue_rewrites.md gives each construct's portable rewrite):
- ASOF joins: Spark has none.
- generate_series / range as a value (a list): transpiled to SEQUENCE, whose bounds are
  inclusive where range's end is not, and a list column is no table: unnest it in FROM.
- HUGEINT and unsigned types: Spark has neither (UINT/INT128 do not parse there).
- list(... ORDER BY) and list slices: COLLECT_LIST drops the ORDER BY (its order is then
  the shuffle's), and a slice l[a:b] is 1-based inclusive in DuckDB, not a Spark form.
- hash(): a different function (Murmur3 32-bit in Spark, 64-bit in DuckDB).
- getvariable(): DuckDB session variables; bind a parameter instead.
- infinite timestamps ('infinity', '-infinity'): Spark's TIMESTAMP has none.
- string_agg / list / array_agg without ORDER BY: the order of the text or list is the
  engine's scan order, which differs (equal only by chance). A list of structs sorted by
  value, list_sort(list({...})), is portable (Spark: array_sort(collect_list(struct(...)));
  a struct is never NULL, so collect_list, which drops NULLs, keeps every element).
- quantile_cont / quantile_disc with a list of fractions: one call per fraction instead.
- product(), to_timestamp(double), list_reduce, list_distinct ...: no Spark equivalent
  of the same meaning (UNPORTABLE_FUNCTIONS).
Translated faithfully by to_spark (so allowed): epoch / epoch_us / epoch_ms (with the
fraction), quantile_cont (Spark's percentile: the same linear interpolation), arg_min /
arg_max (which skip NULL arguments in DuckDB), an empty list() (NULL), list_sum,
CAST('0x' || hex AS BIGINT) (a hexadecimal text as a number: Spark's conv(hex, 16, 10)),
to_microseconds, a series joined in FROM. Portable as they are (checked): `//` truncates
toward zero in both (Spark's DIV); `/` of integers is a double in both; DuckDB's default
NULLS LAST is written out by sqlglot; day buckets follow the session zone in both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

import sqlglot
from sqlglot import exp

from pipeline.errors import VsmError


@dataclass(frozen=True)
class Problem:
    construct: str  # what the statement uses, e.g. "ASOF join"
    sql: str  # the fragment, as written (DuckDB dialect)
    rewrite: str  # the portable form to use instead

    def __str__(self) -> str:
        return f"{self.construct}: {self.sql} (portable: {self.rewrite})"


class NotPortableError(VsmError):
    exit_code = 70

    def __init__(self, name: str, problems: list[Problem]):
        self.problems = problems
        super().__init__(f"model {name} is not portable: " + "; ".join(str(p) for p in problems))


UNSIGNED_OR_HUGE = {
    exp.DataType.Type.UTINYINT,
    exp.DataType.Type.USMALLINT,
    exp.DataType.Type.UINT,
    exp.DataType.Type.UBIGINT,
    exp.DataType.Type.UINT128,
    exp.DataType.Type.UINT256,
    exp.DataType.Type.INT128,
    exp.DataType.Type.INT256,
    exp.DataType.Type.UMEDIUMINT,
    exp.DataType.Type.UDECIMAL,
}

# functions DuckDB has and Spark has not (or has under the same name with another meaning),
# by the name sqlglot leaves them under (lower case)
UNPORTABLE_FUNCTIONS = {
    "hash": "a key of the values themselves (concat_ws of the columns), or md5(...) where a digest is meant",
    "getvariable": "a bound $parameter (the runner binds it) or a one-row relation joined in",
    "product": "CASE WHEN count(*) FILTER (WHERE x = 0) > 0 THEN 0 ELSE exp(sum(ln(x))) END (x > 0)",
    "list_reduce": "unnest in FROM and aggregate",
    "to_timestamp": "ts + seconds * INTERVAL 1 SECOND from a known instant (make_timestamp)",
    "arg_min_null": "min_by on rows filtered for the order",
    "arg_max_null": "max_by on rows filtered for the order",
    "list_position": "array_position (1-based in both) via a CASE, or a join",
    "unnest": "unnest in FROM (LATERAL VIEW explode) only, not as a value",
    "list_distinct": "array_distinct(...) is unordered in both: sort it (list_sort / array_sort)",
    "struct_extract": "dot access s.field",
    "regexp_matches": "regexp_matches with a literal pattern (Spark RLIKE), never regexp_full_match",
}


def check(sql: str) -> list[Problem]:
    """The constructs of a DuckDB-dialect statement that do not survive the trip to Spark or
    change meaning silently there (empty: portable)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    problems: list[Problem] = []
    for node in tree.walk():
        problems.extend(_problems(node))
    unique, seen = [], set()
    for p in problems:
        if (p.construct, p.sql) not in seen:
            seen.add((p.construct, p.sql))
            unique.append(p)
    return unique


def _problems(node: exp.Expression) -> list[Problem]:
    text = _short(node)
    if isinstance(node, exp.Join) and (node.args.get("method") or "").upper() == "ASOF":
        return [
            Problem(
                "ASOF join",
                text,
                "a LEFT JOIN on the key with the last match chosen by a window "
                "(max_by(b.value, b.ts) grouped by the left row, or row_number() OVER "
                "(PARTITION BY left key ORDER BY b.ts DESC) = 1)",
            )
        ]
    if isinstance(node, exp.GenerateSeries) or (
        isinstance(node, exp.Anonymous) and node.name.lower() in ("range", "generate_series")
    ):
        if not _in_from(node):
            return [
                Problem(
                    "generate_series/range as a value",
                    text,
                    "unnest it in FROM (FROM generate_series(a, b) AS g(x), or a join on a "
                    "calendar relation made once), never a list held in a column",
                )
            ]
        return []
    if isinstance(node, exp.DataType) and node.this in UNSIGNED_OR_HUGE:
        return [
            Problem("HUGEINT/unsigned type", text, "BIGINT (INTEGER where it fits), DECIMAL(38, 0) beyond")
        ]
    if isinstance(node, exp.ArrayAgg):
        parent = node.parent.parent if isinstance(node.parent, exp.Filter) else node.parent
        sorted_structs = isinstance(parent, exp.ArraySort) and isinstance(node.this, exp.Struct)
        if sorted_structs and not node.find(exp.Order):
            return []  # list_sort(list({...})): ordered by value, and a struct is never NULL
        if node.find(exp.Order):
            return [
                Problem(
                    "list(... ORDER BY)",
                    text,
                    "sort the list after it is built: list_sort(list(struct_pack(k := order_key, "
                    "v := value))) and take .v (Spark: array_sort(collect_list(struct(k, v))).v)",
                )
            ]
        return [
            Problem(
                "list() without ORDER BY",
                text,
                "an order (the list's order is the engine's scan order otherwise): list_sort(list(x)) "
                "or the struct sort above",
            )
        ]
    if isinstance(node, exp.Bracket) and any(isinstance(e, exp.Slice) for e in node.expressions):
        return [
            Problem(
                "list slice",
                text,
                "the elements by position: list[i] for each one needed (1-based in DuckDB; "
                "transpiled to element_at), or filter on the unnested position",
            )
        ]
    if isinstance(node, exp.GroupConcat) or (
        isinstance(node, exp.Anonymous) and node.name.lower() in ("string_agg", "listagg", "group_concat")
    ):
        if not node.find(exp.Order):
            return [
                Problem(
                    "string_agg without ORDER BY",
                    text,
                    "string_agg(x, sep ORDER BY x): the text's order is the engine's otherwise",
                )
            ]
        return []
    if isinstance(node, exp.Literal) and node.is_string and node.this.lower() in ("infinity", "-infinity"):
        parent = node.parent
        if isinstance(parent, exp.Cast) and parent.to.is_type(*exp.DataType.TEMPORAL_TYPES):
            return [
                Problem(
                    "infinite timestamp",
                    _short(parent),
                    "NULL for an open bound, tested with IS NULL / coalesce to the data's own "
                    "min or max; or TIMESTAMPTZ '0001-01-01' / '9999-12-31'",
                )
            ]
    if isinstance(node, (exp.Quantile, exp.PercentileCont, exp.PercentileDisc)) or (
        isinstance(node, exp.Anonymous) and node.name.lower().startswith("quantile")
    ):
        args = [a for a in node.args.values() if isinstance(a, exp.Array)]
        if args:
            return [
                Problem(
                    "quantile with a list of fractions",
                    text,
                    "one quantile_cont(x, f) per fraction (Spark: percentile(x, f), the same "
                    "linear interpolation)",
                )
            ]
        return []
    if type(node).__name__ in ("Hash", "Farmhash"):
        return [Problem("hash()", text, UNPORTABLE_FUNCTIONS["hash"])]
    if isinstance(node, exp.Anonymous) and node.name.lower() in UNPORTABLE_FUNCTIONS:
        name = node.name.lower()
        return [Problem(f"{name}()", text, UNPORTABLE_FUNCTIONS[name])]
    if (
        isinstance(node, exp.Lambda)
        and isinstance(node.parent, exp.Anonymous)
        and node.parent.name.lower() not in UNPORTABLE_FUNCTIONS
    ):
        return [Problem(f"{node.parent.name}() with a lambda", _short(node.parent), "unnest and aggregate")]
    return []


def _in_from(node: exp.Expression) -> bool:
    """A table function in FROM / a lateral unnest, not a value in a SELECT list or predicate."""
    parent = node.parent
    while isinstance(parent, (exp.Unnest, exp.Explode, exp.Paren)):
        parent = parent.parent
    return isinstance(parent, (exp.Table, exp.From, exp.Join, exp.Lateral))


def _short(node: exp.Expression, width: int = 120) -> str:
    text = node.sql(dialect="duckdb")
    return text if len(text) <= width else text[: width - 3] + "..."


def bind(tree: exp.Expression, params: dict | None) -> exp.Expression:
    """The $parameters as literals (a datetime as a TIMESTAMPTZ, a list as a list literal)."""
    params = params or {}

    def literal(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.name in params:
            return value_sql(params[node.name])
        return node

    return tree.transform(literal)


def value_sql(value) -> exp.Expression:
    """A Python value as a SQL literal that means the same in DuckDB and Spark."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP")
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMPTZ")
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if isinstance(value, list | tuple):
        if not value:  # an empty list of text: typed, or Spark's array() is array<void>
            return exp.cast(exp.Array(expressions=[]), "VARCHAR[]")
        return exp.Array(expressions=[value_sql(v) for v in value])
    return exp.convert(value)


def to_spark(sql: str, params: dict | None = None) -> str:
    """A DuckDB-dialect statement in Spark SQL, its $parameters bound as literals."""
    tree = _series_as_lateral_views(bind(sqlglot.parse_one(sql, read="duckdb"), params))
    tree = tree.transform(_arg_min_skips_nulls).transform(_empty_list_is_null).transform(_spark_fixes)
    _correlated_equalities_in_the_domain(tree)
    return tree.sql(dialect="spark")


def _correlated_equalities_in_the_domain(tree: exp.Expression) -> None:
    """A subquery correlated by equalities and by an inequality (`WHERE m.case_id =
    s.case_id AND m.ts >= s.start_ts`): Spark decorrelates it by joining the inner rows to
    the DISTINCT outer values of the inequality's columns only, the equalities pulled up
    above that join: a cartesian product of every start with every mark (quadratic; 38 CPU
    seconds for the sample incidents' flow_sla). Each correlated equality written `(a = b)
    = TRUE` (the same filter: NULL, FALSE and TRUE alike) is kept in that join instead, as
    its hash key. In place; a subquery with an unqualified column is left as it is."""
    for subquery in list(tree.find_all(exp.Subquery)):
        inner = subquery.this
        if not isinstance(inner, exp.Select) or isinstance(subquery.parent, exp.From | exp.Join):
            continue
        where = inner.args.get("where")
        if where is None:
            continue
        sources = [inner.args.get("from_") or inner.args.get("from")] + list(inner.args.get("joins") or [])
        names = {t.alias_or_name for s in sources if s is not None for t in [s.this]}
        columns = list(where.find_all(exp.Column))
        if not names or any(not c.table for c in columns):
            continue
        conjuncts = list(where.this.flatten()) if isinstance(where.this, exp.And) else [where.this]
        correlated = [c for c in conjuncts if any(col.table not in names for col in c.find_all(exp.Column))]
        if not any(not isinstance(c, exp.EQ) for c in correlated):
            continue  # equalities only: Spark pulls them up, no domain join
        for c in correlated:
            if isinstance(c, exp.EQ):
                c.replace(exp.EQ(this=exp.Paren(this=c.copy()), expression=exp.true()))


def _empty_list_is_null(node: exp.Expression) -> exp.Expression:
    """DuckDB's list() over no row is NULL, Spark's collect_list an empty array: a CASE on
    the count of the same rows. (collect_list also drops NULL values, which list keeps:
    check() asks for lists of values that are never NULL, e.g. structs.)"""
    agg = node.this if isinstance(node, exp.Filter) else node
    if not isinstance(agg, exp.ArrayAgg) or (
        isinstance(node, exp.ArrayAgg) and isinstance(node.parent, exp.Filter)
    ):
        return node
    if node.find_ancestor(exp.Window) is not None or isinstance(node.parent, exp.Window):
        return node
    count = exp.Count(this=exp.Star())
    if isinstance(node, exp.Filter):
        count = exp.Filter(this=count, expression=node.expression.copy())
    return exp.Case(
        ifs=[exp.If(this=exp.EQ(this=count, expression=exp.Literal.number(0)), true=exp.Null())],
        default=node.copy(),
    )


def _series_as_lateral_views(tree: exp.Expression) -> exp.Expression:
    """A series joined in FROM (`CROSS JOIN range(a, b) AS h(hour)`, `, generate_series(w.a,
    w.b, INTERVAL 1 DAY) AS g(day)`, `JOIN generate_series(1, v.n) AS r(i) ON TRUE`: the
    portable form) as Spark's `LATERAL VIEW explode(sequence(...)) h AS hour` (sqlglot's own
    text, `EXPLODE(SEQUENCE(..), _u(h))`, does not parse). range's end is exclusive."""
    for select in list(tree.find_all(exp.Select)):
        for join in list(select.args.get("joins") or []):
            table = join.this
            if not (isinstance(table, exp.Table) and isinstance(table.this, exp.GenerateSeries)):
                continue
            if join.side or (join.args.get("on") and join.args["on"].sql() != "TRUE"):
                continue  # an outer or conditional join of a series: left as it is (check it)
            series, alias = table.this, table.args.get("alias")
            end = series.args["end"].copy()
            if series.args.get("is_end_exclusive"):
                end = exp.Sub(this=end, expression=exp.Literal.number(1))
            bounds = [series.args["start"].copy(), end]
            if series.args.get("step") is not None:
                bounds.append(series.args["step"].copy())
            # an empty series when the end is before the start (Spark's sequence would count down)
            empty = exp.Anonymous(
                this="filter",
                expressions=[
                    exp.Anonymous(this="sequence", expressions=[bounds[0].copy(), bounds[0].copy()]),
                    exp.Lambda(this=exp.false(), expressions=[exp.to_identifier("x")]),
                ],
            )
            sequence = exp.If(
                this=exp.LT(this=end.copy(), expression=bounds[0].copy()),
                true=empty,
                false=exp.Anonymous(this="sequence", expressions=bounds),
            )
            lateral = exp.Lateral(
                this=exp.Explode(this=sequence),
                view=True,
                alias=exp.TableAlias(
                    this=alias.this.copy() if alias else exp.to_identifier("series"),
                    columns=[c.copy() for c in (alias.columns if alias else [])],
                ),
            )
            join.pop()
            select.append("laterals", lateral)
    return tree


def _list_sum(values: exp.Expression) -> exp.Expression:
    """list_sum(l) as DuckDB means it: the sum of the non-NULL elements, NULL when there is
    none (an empty list, or only NULLs); Spark: aggregate over the list."""
    spark = sqlglot.parse_one(
        "CASE WHEN size(filter(l, x -> x IS NOT NULL)) = 0 THEN NULL "
        "ELSE aggregate(filter(l, x -> x IS NOT NULL), CAST(0 AS DOUBLE), (acc, x) -> acc + x) END",
        read="spark",
    )
    return spark.transform(
        lambda n: values.copy() if isinstance(n, exp.Column) and n.name == "l" and not n.table else n
    )


def _arg_min_skips_nulls(node: exp.Expression) -> exp.Expression:
    """DuckDB's arg_min(x, v) / arg_max(x, v) take the row of the least v among the rows
    whose x is not NULL (arg_min_null would take NULLs); Spark's min_by / max_by take the
    row of the least v whatever x is. The same rows on Spark: a FILTER (WHERE x IS NOT NULL)."""
    if isinstance(node, (exp.ArgMin, exp.ArgMax)) and not isinstance(node.parent, exp.Filter):
        return exp.Filter(this=node.copy(), expression=exp.Where(this=_not_null(node.this)))
    if isinstance(node, exp.Filter) and isinstance(node.this, (exp.ArgMin, exp.ArgMax)):
        where = node.expression.this
        return exp.Filter(
            this=node.this.copy(),
            expression=exp.Where(this=exp.and_(where.copy(), _not_null(node.this.this))),
        )
    return node


def _not_null(value: exp.Expression) -> exp.Expression:
    return exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null()))


_PRINTF_SPEC = re.compile(r"%(?:\d+\$)?[-#+ 0,(]*\d*(?:\.\d+)?([a-zA-Z%])")


def _printf_doubles(node: exp.Anonymous) -> None:
    """printf's floating-point conversions (%f %e %g) take a DOUBLE on Spark (a DECIMAL, such
    as 100.0 * n / m there, fails the job): those arguments cast to DOUBLE."""
    pattern = node.expressions[0]
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        return
    conversions = [c for c in _PRINTF_SPEC.findall(pattern.this) if c != "%"]
    for i, conversion in enumerate(conversions, start=1):
        if conversion in "feEgGaA" and i < len(node.expressions):
            arg = node.expressions[i]
            if not (isinstance(arg, exp.Cast) and arg.to.is_type("double")):
                arg.replace(exp.cast(arg.copy(), "DOUBLE"))


def _spark_fixes(node: exp.Expression) -> exp.Expression:
    """Where sqlglot's Spark text would mean something else or not run: epoch() of an instant
    is its seconds WITH the fraction in DuckDB (UNIX_TIMESTAMP drops it): unix_micros / 1e6;
    epoch_us / epoch_ms are unix_micros / unix_millis; quantile_cont(x, f) is Spark's
    percentile(x, f) (the same linear interpolation; PERCENTILE_CONT takes WITHIN GROUP)."""
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.IgnoreNulls):
        # any_value(x) FILTER (...): sqlglot writes `ANY_VALUE(x) IGNORE NULLS FILTER(...)`,
        # which Spark does not parse; any_value(x, true) is the same (skips NULLs)
        inner = node.this.this
        if isinstance(inner, exp.AnyValue):
            call = exp.Anonymous(this="any_value", expressions=[inner.this.copy(), exp.true()])
            return exp.Filter(this=call, expression=node.expression.copy())
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("epoch_us", "epoch_ms"):
        name = "unix_micros" if node.name.lower() == "epoch_us" else "unix_millis"
        return exp.Anonymous(this=name, expressions=[exp.cast(node.expressions[0], "TIMESTAMPTZ")])
    if isinstance(node, exp.Anonymous) and node.name.lower() == "printf" and node.expressions:
        _printf_doubles(node)  # in place: its arguments get their own fixes
        return node
    if isinstance(node, exp.Avg) and not (isinstance(node.this, exp.Cast) and node.this.to.is_type("double")):
        node.set("this", exp.cast(node.this, "DOUBLE"))  # DuckDB's avg of numbers is a DOUBLE;
        return node  # Spark's of a DECIMAL (avg(CASE ... THEN 1.0 ...)) a DECIMAL of 5 places
    if isinstance(node, exp.DPipe):  # DuckDB binds + - * / tighter than ||; Spark as tight as + -,
        for side in ("this", "expression"):  # and sqlglot writes no parentheses: give them
            operand = node.args.get(side)
            if isinstance(operand, exp.Binary) and not isinstance(operand, exp.DPipe | exp.Paren):
                node.set(side, exp.Paren(this=operand))
        return node
    if isinstance(node, exp.Anonymous) and node.name.lower() == "to_microseconds":
        one = exp.Interval(this=exp.Literal.string("0.000001"), unit=exp.var("SECOND"))
        return exp.Paren(this=exp.Mul(this=exp.Paren(this=node.expressions[0]), expression=one))
    if isinstance(node, exp.Anonymous) and node.name.lower() == "list_sum":
        return _list_sum(node.expressions[0])
    if (
        isinstance(node, exp.Cast)
        and isinstance(node.this, exp.DPipe)
        and isinstance(node.this.this, exp.Literal)
        and node.this.this.this.lower() == "0x"
    ):  # DuckDB reads '0x...' text as a hexadecimal number; Spark's CAST does not: conv
        hex_digits = node.this.expression.transform(
            _spark_fixes
        )  # transform does not descend into a replacement
        digits = exp.Anonymous(
            this="conv", expressions=[hex_digits, exp.Literal.number(16), exp.Literal.number(10)]
        )
        return exp.Cast(this=digits, to=node.to.copy())
    if isinstance(node, exp.PercentileCont) and not isinstance(node.expression, exp.Array):
        if node.find_ancestor(exp.WithinGroup) is None:
            return exp.Anonymous(this="percentile", expressions=[node.this, node.expression])
    if isinstance(node, exp.TimeToUnix) or (isinstance(node, exp.Anonymous) and node.name.lower() == "epoch"):
        arg = node.this if isinstance(node, exp.TimeToUnix) else node.expressions[0]
        micros = exp.Anonymous(this="unix_micros", expressions=[exp.cast(arg, "TIMESTAMPTZ")])
        # a DOUBLE as DuckDB's epoch (bigint / 1000000.0 would be a DECIMAL in Spark: printf fails)
        micros = exp.cast(micros, "DOUBLE")
        return exp.Paren(this=exp.Div(this=micros, expression=exp.Literal.number("1000000.0")))
    return node
