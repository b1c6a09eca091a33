"""The structure a value stream map is drawn from: main path, side steps, rework loops, decision points.

Every function here is pure: frames in, frames out, no pm4py types (the model comes from
`pipeline.discovery` as our own `Model`). The input is the `variants` table of a stream
(completed cases): `steps` (step names joined by ' > '), `cases`, and, for rework loops,
`lead_time_mean_s`. All figures are therefore over completed cases and agree with `variants`.
The rules are documented in docs/discovery.md; the constants below are the knobs they name.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import polars as pl

from pipeline.discovery import (
    DEFAULT_NOISE_THRESHOLD,
    LOOP,
    SEQUENCE,
    STEP_SEPARATOR,
    Model,
    TreeNode,
    discover_model,
)

OTHER = "other"  # the step that folded rare steps become
DEFAULT_COVERAGE = 0.995  # keep the most visited steps that together cover 99.5% of visits ...
DEFAULT_MAX_STEPS = 30  # ... but at most 30 of them, so a map of a 400-activity log stays readable
MAIN_PATH_MIN_EDGE_SHARE = 0.1  # an edge counts for the main path at >= 10% of its source's busiest way out
MIN_BRANCH_SHARE = 0.05  # a branch of a decision point carries >= 5% of the work leaving the step
PARALLEL_MIN_ORDER_SHARE = 0.1  # parallel steps: each order seen in >= 10% of the cases doing both
START_MIN_CASE_SHARE = 0.05  # a start step starts >= 5% of cases
END_MIN_CASE_SHARE = 0.05  # an end step ends >= 5% of cases ...
END_MIN_ENDING_SHARE = 0.25  # ... and >= 25% of the cases visiting it end there


@dataclass
class StreamMap:
    """Everything the map is drawn from, for one stream (frames without the `stream` column)."""

    model: Model
    main_path: list[str]
    map_steps: pl.DataFrame
    rework_loops: pl.DataFrame
    decision_points: pl.DataFrame
    folded_steps: list[str] = field(default_factory=list)  # steps shown as "other"


def build_map(
    variants: pl.DataFrame, *, noise_threshold: float = DEFAULT_NOISE_THRESHOLD,
    coverage: float = DEFAULT_COVERAGE, max_steps: int = DEFAULT_MAX_STEPS,
) -> StreamMap:
    """Fold rare steps, discover the model, and derive the map's structure from `variants`."""
    mapping = fold_rare_steps(step_visits(variants), coverage, max_steps)
    folded = fold_variants(variants, mapping)
    model = discover_model(folded, noise_threshold)
    return StreamMap(
        model=model,
        main_path=main_path(folded, model),
        map_steps=map_steps(folded, model),
        rework_loops=rework_loops(folded),
        decision_points=decision_points(folded, model),
        folded_steps=sorted(step for step, to in mapping.items() if to == OTHER and step != OTHER),
    )


# --- visits of the variants ------------------------------------------------------------------

def _visit_rows(variants: pl.DataFrame) -> pl.DataFrame:
    """One row per step of each variant: variant, cases, seq (0-based), step, first_seq (the
    step's first position in the variant), next_step and next_first_seq (null at the end)."""
    return (
        variants.select(pl.col("steps"), pl.col("cases").cast(pl.Int64))
        .with_row_index("variant")
        .with_columns(pl.col("steps").str.split(STEP_SEPARATOR).alias("step"))
        .explode("step")
        .filter(pl.col("step").is_not_null() & (pl.col("step") != ""))
        .with_columns(pl.int_range(pl.len()).over("variant").alias("seq"))
        .with_columns(pl.col("seq").min().over("variant", "step").alias("first_seq"))
        .with_columns(
            pl.col("step").shift(-1).over("variant").alias("next_step"),
            pl.col("first_seq").shift(-1).over("variant").alias("next_first_seq"),
        )
        .drop("steps")
    )


def _transitions(rows: pl.DataFrame) -> pl.DataFrame:
    """Directly-follows transitions with `backward`: the case returns to a step it first reached
    no later than the step it leaves (a self-loop included)."""
    return (
        rows.filter(pl.col("next_step").is_not_null())
        .select("variant", "cases", pl.col("step").alias("from_step"), pl.col("next_step").alias("to_step"),
                (pl.col("next_first_seq") <= pl.col("first_seq")).alias("backward"))
    )


def step_visits(variants: pl.DataFrame) -> pl.DataFrame:
    """step, visits, cases (completed cases visiting it), first_index_p50 and first_index_mean
    (median and mean 0-based position of its first visit in those cases). Most visited first."""
    first = (
        _visit_rows(variants).filter(pl.col("seq") == pl.col("first_seq"))
        .group_by("step", "seq").agg(pl.col("cases").sum())
        .sort("step", "seq")
        .with_columns((pl.col("cases").cum_sum() / pl.col("cases").sum()).over("step").alias("below"))
        .group_by("step").agg(
            pl.col("cases").sum(),
            pl.col("seq").filter(pl.col("below") >= 0.5).first().alias("first_index_p50"),
            ((pl.col("cases") * pl.col("seq")).sum() / pl.col("cases").sum()).alias("first_index_mean"),
        )
    )
    visits = _visit_rows(variants).group_by("step").agg(pl.col("cases").sum().alias("visits"))
    return (
        visits.join(first, on="step")
        .select("step", "visits", "cases", "first_index_p50", "first_index_mean")
        .sort(["visits", "step"], descending=[True, False])
    )


def _counts(frame: pl.DataFrame, keys: list[str]) -> dict:
    grouped = frame.group_by(keys).agg(pl.col("cases").sum())
    return {tuple(r[:-1]) if len(keys) > 1 else r[0]: r[-1] for r in grouped.iter_rows()}


# --- the order of the map and its main path ----------------------------------------------------

def step_order(variants: pl.DataFrame, model: Model) -> list[str]:
    """Every step in the order the model draws them (see docs/discovery.md, "Order")."""
    stats = step_visits(variants)
    first_index = {s: (p50, mean) for s, p50, mean in stats.select("step", "first_index_p50", "first_index_mean").iter_rows()}
    import os
    if os.environ.get("ORDER") == "median":
        return sorted(first_index, key=lambda s: (first_index[s], s))
    ordered = _tree_order(model.tree, first_index)
    if os.environ.get("ORDER") == "mediantree":
        tr = {s: i for i, s in enumerate(ordered)}
        return sorted(first_index, key=lambda s: (first_index[s][0], tr.get(s, 1e9), s))
    seen = set(ordered)
    rest = sorted((s for s in first_index if s not in seen), key=lambda s: (first_index[s], s))
    return list(dict.fromkeys(ordered + rest))


def _tree_order(node: TreeNode, first_index: dict[str, tuple[float, float]]) -> list[str]:
    if node.operator is None:
        return [node.label] if node.label is not None and node.label in first_index else []
    parts = [_tree_order(child, first_index) for child in node.children]
    if node.operator == SEQUENCE:
        return [s for part in parts for s in part]
    if node.operator == LOOP:
        return parts[0] + _merge(parts[1:], first_index)
    return _merge(parts, first_index)  # choice or parallel: interleave the branches by position


def _merge(parts: list[list[str]], first_index: dict[str, tuple[float, float]]) -> list[str]:
    """Interleave lists, keeping each list's own order, taking the head that comes first in the cases."""
    parts = [list(p) for p in parts if p]
    merged = []
    while parts:
        i = min(range(len(parts)), key=lambda i: (first_index[parts[i][0]], parts[i][0]))
        merged.append(parts[i].pop(0))
        if not parts[i]:
            del parts[i]
    return merged


def main_path(variants: pl.DataFrame, model: Model) -> list[str]:
    """The heaviest forward chain of directly-follows edges from a start step to an end step.

    Steps are ordered by `step_order`; an edge u -> v is forward when u comes before v, and
    counts when it carries at least MAIN_PATH_MIN_EDGE_SHARE of u's busiest way out (its
    busiest forward edge, or cases ending at u). The path maximises the number of
    transitions it carries (cases starting at its first step and ending at its last count
    too), so it follows where most work flows, across every step that work passes, and a rare
    variant (a light edge) cannot move it.
    """
    rows = _visit_rows(variants)
    order = step_order(variants, model)
    if not order:
        return []
    rank = {s: i for i, s in enumerate(order)}
    moves = _transitions(rows)
    edges = {(u, v): n for (u, v), n in _counts(moves, ["from_step", "to_step"]).items() if rank[u] < rank[v]}
    starts = _counts(rows.filter(pl.col("seq") == 0), ["step"])
    ends = _counts(rows.filter(pl.col("next_step").is_null()), ["step"])
    busiest = defaultdict(int, ends)
    for (u, _), n in edges.items():
        busiest[u] = max(busiest[u], n)
    floor = {u: MAIN_PATH_MIN_EDGE_SHARE * n for u, n in busiest.items()}
    most_starts = max(starts.values(), default=0)
    # best[v] = (transitions carried by the heaviest chain reaching v, previous step, count of its last edge)
    best: dict[str, tuple[int, str | None, int]] = {
        s: (n, None, n) for s, n in starts.items() if n >= MAIN_PATH_MIN_EDGE_SHARE * most_starts
    }
    incoming = defaultdict(list)
    for (u, v), n in edges.items():
        if n >= floor[u]:
            incoming[v].append((u, n))
    for v in order:  # order is topological for forward edges
        for u, n in sorted(incoming[v], key=lambda e: rank[e[0]]):
            if u in best and best[u][0] + n > best.get(v, (-1, None, 0))[0]:
                best[v] = (best[u][0] + n, u, n)
    # Ending counts no more cases than the chain brought to the step: a step where many cases
    # end, but few of them along this chain, must not pull the path to itself.
    finals = {v: w + min(ends[v], n_in) for v, (w, _, n_in) in best.items()
              if ends.get(v, 0) > 0 and ends[v] >= floor[v]}
    if not finals:  # no forward chain reaches an end: take the heaviest chain wherever it stops
        finals = {v: w for v, (w, _, _) in best.items()}
    last = min(finals, key=lambda v: (-finals[v], rank[v]))
    path = [last]
    while best[path[-1]][1] is not None:
        path.append(best[path[-1]][1])
    return path[::-1]


# --- the map's boxes ---------------------------------------------------------------------------

def map_steps(variants: pl.DataFrame, model: Model) -> pl.DataFrame:
    """One row per step: step, position (1 = first box of the map), on_main_path, case_share
    (cases visiting it / completed cases), cases, visits, anchor_step (the main-path step a
    side step is drawn after; null for main-path steps and for side steps before the first).

    Main-path steps keep the main path's order; each side step is drawn after its anchor, the
    main-path step from which work most often reaches it going forward (through other side
    steps if need be), side steps of one anchor in the model's order.
    """
    stats = step_visits(variants)
    total = int(variants["cases"].sum()) if variants.height else 0
    spine = main_path(variants, model)
    order = step_order(variants, model)
    rank = {s: i for i, s in enumerate(order)}
    forward = _transitions(_visit_rows(variants)).filter(~pl.col("backward"))
    into = defaultdict(dict)
    for (u, v), n in _counts(forward, ["from_step", "to_step"]).items():
        into[v][u] = n
    anchor: dict[str, str | None] = {s: s for s in spine}
    for s in order:
        if s in anchor:
            continue
        known = {u: n for u, n in into[s].items() if u in anchor}
        if known:
            u = min(known, key=lambda u: (-known[u], rank[u]))
            anchor[s] = anchor[u]
        else:  # reached only from steps drawn later, or a start: after the last main-path step before it
            before = [p for p in spine if rank[p] < rank[s]]
            anchor[s] = before[-1] if before else None
    placed = [s for s in order if anchor[s] is None]
    for p in spine:
        placed += [p] + [s for s in order if anchor[s] == p and s != p]
    frame = pl.DataFrame({
        "step": placed,
        "position": list(range(1, len(placed) + 1)),
        "on_main_path": [s in set(spine) for s in placed],
        "anchor_step": [None if s in set(spine) else anchor[s] for s in placed],
    }, schema={"step": pl.String, "position": pl.Int32, "on_main_path": pl.Boolean, "anchor_step": pl.String})
    return (
        frame.join(stats.select("step", "cases", "visits"), on="step", how="left")
        .with_columns((pl.col("cases") / total).alias("case_share"))
        .select("step", "position", "on_main_path", "case_share", "cases", "visits", "anchor_step")
    )


def rework_loops(variants: pl.DataFrame) -> pl.DataFrame:
    """One row per backward transition (from_step -> to_step): the case goes back to a step it
    first reached no later than the step it leaves, or repeats a step.

    cases: completed cases with it; visits: how many times it happens; case_share: cases /
    completed cases; lead_time_mean_s: mean lead time of those cases; added_lead_time_s: that
    minus the mean lead time of completed first-pass cases (no step visited twice).
    Busiest first. Needs `lead_time_mean_s` in `variants` (null figures without it).
    """
    lead = variants["lead_time_mean_s"] if "lead_time_mean_s" in variants.columns else pl.Series([None] * variants.height)
    with_lead = variants.select("cases").with_row_index("variant").with_columns(
        lead.cast(pl.Float64).alias("lead_time_mean_s"))
    rows = _visit_rows(variants)
    total = int(variants["cases"].sum()) if variants.height else 0
    repeated = set(rows.filter(pl.col("seq") != pl.col("first_seq"))["variant"].to_list())
    first_pass = with_lead.filter(~pl.col("variant").is_in(list(repeated)))
    first_pass_mean = _weighted_mean(first_pass)
    loops = _transitions(rows).filter(pl.col("backward"))
    per_variant = loops.group_by("from_step", "to_step", "variant").agg(pl.len().alias("times"), pl.col("cases").first())
    return (
        per_variant.join(with_lead.select("variant", "lead_time_mean_s"), on="variant")
        .group_by("from_step", "to_step")
        .agg(
            pl.col("cases").sum().alias("cases"),
            (pl.col("cases") * pl.col("times")).sum().alias("visits"),
            ((pl.col("cases") * pl.col("lead_time_mean_s")).sum()
             / pl.col("cases").filter(pl.col("lead_time_mean_s").is_not_null()).sum()).alias("lead_time_mean_s"),
        )
        .with_columns(
            (pl.col("cases") / total).alias("case_share"),
            (pl.col("lead_time_mean_s") - first_pass_mean).alias("added_lead_time_s"),
        )
        .select("from_step", "to_step", "cases", "visits", "case_share", "lead_time_mean_s", "added_lead_time_s")
        .sort(["visits", "cases", "from_step", "to_step"], descending=[True, True, False, False])
    )


def _weighted_mean(frame: pl.DataFrame) -> float | None:
    known = frame.filter(pl.col("lead_time_mean_s").is_not_null())
    weight = int(known["cases"].sum()) if known.height else 0
    return float((known["cases"] * known["lead_time_mean_s"]).sum()) / weight if weight else None


# --- decision points ---------------------------------------------------------------------------

def parallel_steps(variants: pl.DataFrame, model: Model) -> set[frozenset[str]]:
    """Pairs the model puts in parallel and the cases confirm: of the cases doing both, each
    order (by first visit) is seen in at least PARALLEL_MIN_ORDER_SHARE of them."""
    candidates = model.parallel_pairs()
    if not candidates:
        return set()
    pairs = pl.DataFrame([sorted(p) for p in candidates], schema=["a", "b"], orient="row")
    first = _visit_rows(variants).filter(pl.col("seq") == pl.col("first_seq")).select("variant", "cases", "step", "seq")
    both = (
        first.join(pairs, left_on="step", right_on="a").rename({"step": "a", "seq": "seq_a"})
        .join(first.select("variant", pl.col("step").alias("b"), pl.col("seq").alias("seq_b")), on=["variant", "b"])
        .group_by("a", "b")
        .agg(pl.col("cases").sum().alias("together"), pl.col("cases").filter(pl.col("seq_a") < pl.col("seq_b")).sum()
             .alias("a_first"))
    )
    return {
        frozenset((a, b)) for a, b, together, a_first in both.iter_rows()
        if min(a_first, together - a_first) >= PARALLEL_MIN_ORDER_SHARE * together
    }


def decision_points(variants: pl.DataFrame, model: Model, min_share: float = MIN_BRANCH_SHARE) -> pl.DataFrame:
    """One row per branch of each step after which forward work goes two or more ways:
    step, to_step, share (of the forward transitions leaving the step), count.

    Rework loops are not branches (they are in `rework_loops`), nor is a case ending at the
    step. Steps the model runs in parallel (confirmed by `parallel_steps`) are one fork, not
    alternatives: a move between two of them is interleaving and is left out, and parallel
    targets count as one branch, named after the busier of them. A step is a decision point
    when at least two branches each carry `min_share`; only those branches are listed.
    """
    parallel = parallel_steps(variants, model)
    rank = {s: i for i, s in enumerate(step_order(variants, model))}
    moves = _transitions(_visit_rows(variants)).filter(~pl.col("backward"))
    outgoing: dict[str, dict[str, int]] = defaultdict(dict)
    for (u, v), n in _counts(moves, ["from_step", "to_step"]).items():
        if frozenset((u, v)) not in parallel:
            outgoing[u][v] = n
    rows = []
    for step in sorted(outgoing, key=lambda s: rank[s]):
        branches = _fork_branches(outgoing[step], parallel)
        total = sum(outgoing[step].values())
        kept = [(to, n) for to, n in branches if n >= min_share * total]
        if len(kept) >= 2:
            rows += [(step, to, n / total, n) for to, n in kept]
    return pl.DataFrame(rows, schema={"step": pl.String, "to_step": pl.String, "share": pl.Float64,
                                      "count": pl.Int64}, orient="row")


def _fork_branches(targets: dict[str, int], parallel: set[frozenset[str]]) -> list[tuple[str, int]]:
    """Targets grouped so that parallel ones form one branch, named after its busiest target; busiest first."""
    group = {t: t for t in targets}

    def root(t: str) -> str:
        while group[t] != t:
            t = group[t]
        return t

    for pair in parallel:
        a, b = sorted(pair)
        if a in group and b in group:
            group[root(a)] = root(b)
    members = defaultdict(list)
    for t in targets:
        members[root(t)].append(t)
    branches = [(min(ts, key=lambda t: (-targets[t], t)), sum(targets[t] for t in ts)) for ts in members.values()]
    return sorted(branches, key=lambda b: (-b[1], b[0]))


# --- readable maps on messy logs ---------------------------------------------------------------

def fold_rare_steps(
    step_visits: pl.DataFrame, coverage: float = DEFAULT_COVERAGE, max_steps: int = DEFAULT_MAX_STEPS,
) -> dict[str, str]:
    """step -> the step it is drawn as: itself, or OTHER.

    `step_visits` has `step` and `visits`. The most visited steps are kept (ties by name)
    until they cover `coverage` of all visits or `max_steps` are kept; the rest fold into
    OTHER, unless only one would fold (that would rename it, not simplify the map).
    """
    ranked = step_visits.select("step", "visits").sort(["visits", "step"], descending=[True, False])
    total = int(ranked["visits"].sum()) if ranked.height else 0
    kept, covered = [], 0
    for step, visits in ranked.iter_rows():
        if len(kept) >= max_steps or covered >= coverage * total:
            break
        kept.append(step)
        covered += visits
    folded = ranked.height - len(kept)
    return {step: step if folded <= 1 or step in kept else OTHER for step in ranked["step"]}


def fold_variants(variants: pl.DataFrame, mapping: dict[str, str]) -> pl.DataFrame:
    """Variants with their steps renamed by `mapping` (steps not in it keep their name).

    Consecutive OTHER visits become one (they are different rare steps, not rework), and
    variants that become equal are merged: cases add up, lead_time_mean_s is their
    cases-weighted mean. Columns: steps, cases, lead_time_mean_s.
    """
    lead = (pl.col("lead_time_mean_s") if "lead_time_mean_s" in variants.columns else pl.lit(None)).cast(pl.Float64)
    renames = {k: v for k, v in mapping.items() if k != v}
    steps = pl.col("steps").str.split(STEP_SEPARATOR)
    if renames:
        steps = steps.list.eval(
            pl.element().replace(list(renames), list(renames.values()))
        ).list.eval(
            pl.element().filter(~((pl.element() == OTHER) & (pl.element().shift(1) == OTHER)).fill_null(False))
        )
    return (
        variants.select(steps.list.join(STEP_SEPARATOR).alias("steps"), pl.col("cases").cast(pl.Int64),
                        lead.alias("lead_time_mean_s"))
        .group_by("steps", maintain_order=True)
        .agg(
            pl.col("cases").sum(),
            ((pl.col("cases") * pl.col("lead_time_mean_s")).sum()
             / pl.col("cases").filter(pl.col("lead_time_mean_s").is_not_null()).sum()).alias("lead_time_mean_s"),
        )
    )


# --- start and end steps -----------------------------------------------------------------------

def start_end_steps(paths: pl.DataFrame) -> pl.DataFrame:
    """Where cases start and end, and which of those steps the exit rule should use.

    `paths` has `steps` (' > '-joined) and `cases`, like `variants`, but should cover every
    case, open ones too: inferring ends from completed cases only would be circular (a case is
    completed when it reaches an end). Columns: step, cases (cases visiting it), starts, ends
    (cases whose first / last step it is), is_start (starts >= START_MIN_CASE_SHARE of all
    cases), is_end (ends >= END_MIN_CASE_SHARE of all cases and >= END_MIN_ENDING_SHARE of
    the cases visiting it).
    """
    rows = _visit_rows(paths)
    total = int(paths["cases"].sum()) if paths.height else 0
    return (
        rows.group_by("step").agg(
            pl.col("cases").filter(pl.col("seq") == pl.col("first_seq")).sum().alias("cases"),
            pl.col("cases").filter(pl.col("seq") == 0).sum().alias("starts"),
            pl.col("cases").filter(pl.col("next_step").is_null()).sum().alias("ends"),
        )
        .with_columns(
            (pl.col("starts") >= START_MIN_CASE_SHARE * total).alias("is_start"),
            ((pl.col("ends") >= END_MIN_CASE_SHARE * total) & (pl.col("ends") >= END_MIN_ENDING_SHARE * pl.col("cases"))
             & (pl.col("ends") > 0)).alias("is_end"),
        )
        .sort("step")
    )
