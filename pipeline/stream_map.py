"""The structure a value stream map is drawn from: main path, side steps, rework loops, decision points.

Every function here is pure: frames in, frames out, no pm4py types (the model comes from
`pipeline.discovery` as our own `Model`). The input is a stream's `variants` (completed
cases): `steps` (step names joined by ' > '), `cases`, and, for rework loops,
`lead_time_mean_s`. So every figure is over completed cases and agrees with `variants`.
The rules are stated in docs/discovery.md; the constants below are the knobs they name.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import polars as pl

from pipeline.discovery import DEFAULT_NOISE_THRESHOLD, Model, discover_model
from pipeline.variant_steps import (
    DEFAULT_COVERAGE,
    DEFAULT_MAX_STEPS,
    OTHER,
    START_MIN_CASE_SHARE,
    counts_by,
    fold_rare_steps,
    fold_variants,
    lead_time_of,
    step_stats,
    step_visits,
    transitions_of,
    visit_rows,
    weighted_lead_time,
)

MAIN_PATH_MIN_EDGE_SHARE = 0.1  # an edge counts for the main path at >= 10% of the work leaving its source
MIN_BRANCH_SHARE = 0.05  # a branch of a decision point carries >= 5% of the work leaving the step
PARALLEL_MIN_ORDER_SHARE = 0.1  # parallel steps: each order seen in >= 10% of the cases doing both


@dataclass
class StreamMap:
    """Everything the map is drawn from, for one stream (frames without the `stream` column)."""

    model: Model
    main_path: list[str]
    map_steps: pl.DataFrame
    rework_loops: pl.DataFrame
    decision_points: pl.DataFrame
    folded_steps: list[str] = field(default_factory=list)  # steps drawn as OTHER


def build_map(
    variants: pl.DataFrame,
    *,
    noise_threshold: float = DEFAULT_NOISE_THRESHOLD,
    coverage: float = DEFAULT_COVERAGE,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> StreamMap:
    """Fold rare steps, discover the model, and derive the map's structure from `variants`."""
    mapping = fold_rare_steps(step_visits(variants), coverage, max_steps)
    folded = fold_variants(variants, mapping)
    model = discover_model(folded, noise_threshold)
    flow = _Flow.of(folded)
    return StreamMap(
        model=model,
        main_path=_main_path(flow),
        map_steps=_map_steps(flow),
        rework_loops=rework_loops(folded),
        decision_points=_decision_points(flow, model, MIN_BRANCH_SHARE),
        folded_steps=sorted(step for step, to in mapping.items() if to == OTHER and step != OTHER),
    )


@dataclass(frozen=True)
class _Flow:
    """What the map's rules read, computed once from the variants."""

    cases: int
    stats: pl.DataFrame
    order: list[str]  # steps by where cases first reach them
    moves: dict[tuple[str, str], int]  # every directly-follows transition: count
    forward: dict[tuple[str, str], int]  # transitions that are not rework (to a step not reached before)
    starts: dict[str, int]
    ends: dict[str, int]
    rows: pl.DataFrame

    @staticmethod
    def of(variants: pl.DataFrame) -> _Flow:
        rows = visit_rows(variants)
        stats = step_stats(rows)
        moves = transitions_of(rows)
        positions = stats.select("step", "first_index_p50", "first_index_mean").iter_rows()
        order = [s for s, *_ in sorted(positions, key=lambda r: (r[1], r[2], r[0]))]
        return _Flow(
            cases=int(variants["cases"].sum()) if variants.height else 0,
            stats=stats,
            order=order,
            moves=counts_by(moves, ["from_step", "to_step"]),
            forward=counts_by(moves.filter(~pl.col("backward")), ["from_step", "to_step"]),
            starts=counts_by(rows.filter(pl.col("seq") == 0), ["step"]),
            ends=counts_by(rows.filter(pl.col("next_step").is_null()), ["step"]),
            rows=rows,
        )


def step_order(variants: pl.DataFrame) -> list[str]:
    """Every step by where cases first reach it: median position of the first visit, then the
    mean, then the name."""
    return _Flow.of(variants).order


# --- the main path -----------------------------------------------------------------------------


def main_path(variants: pl.DataFrame) -> list[str]:
    """The chain of steps most work flows along, from a start step to an end step (docs/discovery.md).

    Steps are ordered by `step_order`; a directly-follows edge u -> v is forward when u comes
    first, and counts when it carries at least MAIN_PATH_MIN_EDGE_SHARE of the work leaving u
    (its transitions to other steps plus the cases ending at u). A chain carries the cases
    starting at its first step, each edge no more cases than the chain brought to it, and the
    cases ending at its last step, again no more than it brought; the heaviest chain wins.
    Then a step most work goes around (u -> v directly, in cases never visiting it, more
    often than from it to v) is dropped to a side step. OTHER (the folded rare steps) is never
    on the main path: it is many unrelated steps, not one a case goes through (a status log
    mapped by its 600 teams would otherwise draw "other" as the whole path).
    """
    return _main_path(_Flow.of(variants))


def _main_path(flow: _Flow) -> list[str]:
    if not flow.order:
        return []
    rank = {s: i for i, s in enumerate(flow.order)}
    outflow = defaultdict(int, flow.ends)
    for (u, v), n in flow.moves.items():
        if u != v:
            outflow[u] += n
    floor = {u: MAIN_PATH_MIN_EDGE_SHARE * n for u, n in outflow.items()}
    most_starts = max(flow.starts.values(), default=0)
    incoming = defaultdict(list)
    for (u, v), n in flow.moves.items():
        if rank[u] < rank[v] and n >= floor[u] and OTHER not in (u, v):
            incoming[v].append((u, n))
    # Chains reaching each step, as labels (transitions carried, cases still carried, step, previous
    # label). Only labels no other label beats on both counts are kept (a Pareto front).
    labels: dict[str, list[_Chain]] = {}
    for v in flow.order:  # the order is topological for forward edges
        found = [
            _Chain(n, n, v, None)
            for s, n in flow.starts.items()
            if s == v and s != OTHER and n >= MAIN_PATH_MIN_EDGE_SHARE * most_starts
        ]
        for u, n in incoming[v]:
            for chain in labels.get(u, []):
                carried = min(chain.carried, n)
                found.append(_Chain(chain.weight + carried, carried, v, chain))
        labels[v] = _pareto(found)
    # Ending counts no more cases than the chain carries: a step where many cases end, but few
    # of them along this chain, must not pull the path to itself.
    finals = [
        (chain.weight + min(flow.ends[v], chain.carried), chain)
        for v, chains in labels.items()
        for chain in chains
        if v != OTHER and flow.ends.get(v, 0) > 0 and flow.ends[v] >= floor[v]
    ]
    if not finals:  # no forward chain reaches an end: take the heaviest chain wherever it stops
        finals = [(chain.weight, chain) for chains in labels.values() for chain in chains]
    if not finals:
        return []
    chain = min(finals, key=lambda f: (-f[0], rank[f[1].step], -f[1].carried))[1]
    return _without_detours(list(_steps_of(chain))[::-1], flow)


def _without_detours(path: list[str], flow: _Flow) -> list[str]:
    """Drop a step w from u -> w -> v when more work goes from u straight to v, in cases that
    never visit w, than from w to v: most work goes around w, so it is a side step (BPIC
    2012's lead handling before pre-acceptance). Steps done in either order (parallel) stay:
    the cases going u -> v there visit w too."""
    for i in range(1, len(path) - 1):
        u, w, v = path[i - 1 : i + 2]
        around = flow.rows.filter(
            (pl.col("step") == u)
            & (pl.col("next_step") == v)
            & ~pl.col("variant").is_in(flow.rows.filter(pl.col("step") == w)["variant"].implode())
        )["cases"].sum()
        if around > flow.moves.get((w, v), 0):
            return _without_detours(path[:i] + path[i + 1 :], flow)
    return path


@dataclass(frozen=True)
class _Chain:
    weight: int  # transitions carried so far, each edge counting no more cases than reached it
    carried: int  # cases the chain still carries: its start count, capped by every edge since
    step: str
    previous: _Chain | None


def _pareto(chains: list[_Chain]) -> list[_Chain]:
    """The chains no other chain beats on both weight and carried cases (deterministic order)."""
    kept: list[_Chain] = []
    for chain in sorted(chains, key=lambda c: (-c.carried, -c.weight, _steps_of(c))):
        if not kept or chain.weight > kept[-1].weight:
            kept.append(chain)
    return kept


def _steps_of(chain: _Chain | None) -> tuple[str, ...]:
    steps = []
    while chain is not None:
        steps.append(chain.step)
        chain = chain.previous
    return tuple(steps)


# --- the map's boxes ---------------------------------------------------------------------------


def map_steps(variants: pl.DataFrame) -> pl.DataFrame:
    """One row per step: step, position (1 = leftmost box), on_main_path, case_share (cases
    visiting it / completed cases), cases, visits, anchor_step, starts / ends (completed cases
    whose first / last step it is), start_share / end_share (those / completed cases), entry_lane.

    Main-path steps keep the main path's order. Each side step is drawn after its anchor: the
    main-path step from which work most often reaches it going forward (through other side
    steps if need be); side steps reached only from later steps, or only at the start, are
    drawn after the last main-path step that comes before them in `step_order` (null anchor:
    before the first). Side steps of one anchor follow `step_order`.

    Entry lanes (`entry_lanes`, entry_lane true): when cases start at more than one step, the
    start steps off the main path are drawn in the first column under the main path's first
    box, most starts first, each fed by the map's entry like it. Their position and anchor are
    as for any side step (work reaching them later, going forward, comes from the anchor).
    """
    return _map_steps(_Flow.of(variants))


def entry_lanes(variants: pl.DataFrame) -> list[str]:
    """The map's entry lanes, top to bottom: the main path's first step, then every step off
    the main path that starts at least START_MIN_CASE_SHARE of the completed cases (the start
    step rule of `variant_steps.start_end_rule`), most starts first (then `step_order`). Empty
    when there is no such step: the map has one entry, its main path's first box.

    A routing process (incidents by resolver team: most start at one team and stay there)
    reads as parallel lanes fed by one entry, not as one box with the others after it.
    """
    flow = _Flow.of(variants)
    return _entry_lanes(flow, _main_path(flow))


def _entry_lanes(flow: _Flow, spine: list[str]) -> list[str]:
    if not spine:
        return []
    rank = {s: i for i, s in enumerate(flow.order)}
    others = [s for s, n in flow.starts.items() if s not in spine and n >= START_MIN_CASE_SHARE * flow.cases]
    if not others:
        return []
    return [spine[0], *sorted(others, key=lambda s: (-flow.starts[s], rank[s]))]


def _map_steps(flow: _Flow) -> pl.DataFrame:
    spine = _main_path(flow)
    rank = {s: i for i, s in enumerate(flow.order)}
    into = defaultdict(dict)
    for (u, v), n in flow.forward.items():
        if u != v:
            into[v][u] = n
    anchor: dict[str, str | None] = {s: s for s in spine}
    for s in flow.order:
        if s in anchor:
            continue
        known = {u: n for u, n in into[s].items() if u in anchor and anchor[u] is not None}
        if known:
            anchor[s] = anchor[min(known, key=lambda u: (-known[u], rank[u]))]
        else:
            before = [p for p in spine if rank[p] < rank[s]]
            anchor[s] = before[-1] if before else None
    placed = [s for s in flow.order if anchor[s] is None]
    for p in spine:
        placed += [p] + [s for s in flow.order if anchor[s] == p and s != p]
    lanes = _entry_lanes(flow, spine)
    on_path = set(spine)
    frame = pl.DataFrame(
        {
            "step": placed,
            "position": list(range(1, len(placed) + 1)),
            "on_main_path": [s in on_path for s in placed],
            "anchor_step": [None if s in on_path else anchor[s] for s in placed],
            "starts": [flow.starts.get(s, 0) for s in placed],
            "ends": [flow.ends.get(s, 0) for s in placed],
            "entry_lane": [s in lanes for s in placed],
        },
        schema={
            "step": pl.String,
            "position": pl.Int32,
            "on_main_path": pl.Boolean,
            "anchor_step": pl.String,
            "starts": pl.Int64,
            "ends": pl.Int64,
            "entry_lane": pl.Boolean,
        },
    )
    return (
        frame.join(flow.stats.select("step", "cases", "visits"), on="step", how="left")
        .with_columns(
            (pl.col("cases") / flow.cases).alias("case_share"),
            (pl.col("starts") / flow.cases).alias("start_share"),
            (pl.col("ends") / flow.cases).alias("end_share"),
        )
        .select(
            "step",
            "position",
            "on_main_path",
            "case_share",
            "cases",
            "visits",
            "anchor_step",
            "starts",
            "start_share",
            "ends",
            "end_share",
            "entry_lane",
        )
        .sort("position")
    )


# --- rework loops ------------------------------------------------------------------------------


def rework_loops(variants: pl.DataFrame) -> pl.DataFrame:
    """One row per backward transition from_step -> to_step: the case goes to a step it first
    reached no later than the step it leaves (so it is visiting to_step again; a repeat of the
    same step included).

    cases: completed cases with it; visits: how many times it happens; case_share: cases /
    completed cases; lead_time_mean_s: mean lead time of those cases; added_lead_time_s: that
    minus the mean lead time of completed first-pass cases (no step visited twice), null when
    there are none. Busiest first. Lead times need `lead_time_mean_s` in `variants`.
    """
    per_variant = variants.select(pl.col("cases").cast(pl.Int64), lead_time_of(variants))
    per_variant = per_variant.with_row_index("variant")
    rows = visit_rows(variants)
    reworked = rows.filter(pl.col("seq") != pl.col("first_seq"))["variant"].unique()
    first_pass_mean = _weighted_mean(per_variant.filter(~pl.col("variant").is_in(reworked.implode())))
    total = int(per_variant["cases"].sum()) if variants.height else 0
    return (
        transitions_of(rows)
        .filter(pl.col("backward"))
        .group_by("from_step", "to_step", "variant")
        .agg(pl.len().alias("times"))
        .join(per_variant, on="variant")
        .group_by("from_step", "to_step")
        .agg(
            pl.col("cases").sum(),
            (pl.col("cases") * pl.col("times")).sum().alias("visits"),
            weighted_lead_time(),
        )
        .with_columns(
            (pl.col("cases") / total).alias("case_share"),
            (pl.col("lead_time_mean_s") - first_pass_mean).alias("added_lead_time_s"),
        )
        .select(
            "from_step", "to_step", "cases", "visits", "case_share", "lead_time_mean_s", "added_lead_time_s"
        )
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
    return _parallel_steps(_Flow.of(variants), model)


def _parallel_steps(flow: _Flow, model: Model) -> set[frozenset[str]]:
    candidates = model.parallel_pairs()
    if not candidates:
        return set()
    pairs = pl.DataFrame([sorted(p) for p in candidates], schema=["a", "b"], orient="row")
    first = flow.rows.filter(pl.col("seq") == pl.col("first_seq")).select("variant", "cases", "step", "seq")
    both = (
        first.join(pairs, left_on="step", right_on="a")
        .rename({"step": "a", "seq": "seq_a"})
        .join(
            first.select("variant", pl.col("step").alias("b"), pl.col("seq").alias("seq_b")),
            on=["variant", "b"],
        )
        .group_by("a", "b")
        .agg(
            pl.col("cases").sum().alias("together"),
            pl.col("cases").filter(pl.col("seq_a") < pl.col("seq_b")).sum().alias("a_first"),
        )
    )
    return {
        frozenset((a, b))
        for a, b, together, a_first in both.iter_rows()
        if min(a_first, together - a_first) >= PARALLEL_MIN_ORDER_SHARE * together
    }


def decision_points(
    variants: pl.DataFrame,
    model: Model,
    min_share: float = MIN_BRANCH_SHARE,
) -> pl.DataFrame:
    """One row per branch of each step after which work goes two or more ways forward:
    step, to_step, share (of the step's forward transitions), count. Steps in `step_order`,
    branches busiest first.

    Rework (backward transitions) is not a branch, it is in `rework_loops`; nor is a case
    ending at the step. Steps the model runs in parallel (confirmed by `parallel_steps`) are
    one fork, not alternatives: a move between two of them is interleaving and left out, and
    parallel targets form one branch, named after its busiest target. A step is a decision
    point when at least two branches each carry `min_share`; only those are listed.
    """
    return _decision_points(_Flow.of(variants), model, min_share)


def _decision_points(flow: _Flow, model: Model, min_share: float) -> pl.DataFrame:
    parallel = _parallel_steps(flow, model)
    rank = {s: i for i, s in enumerate(flow.order)}
    outgoing: dict[str, dict[str, int]] = defaultdict(dict)
    for (u, v), n in flow.forward.items():
        if u != v and frozenset((u, v)) not in parallel:
            outgoing[u][v] = n
    rows = []
    for step in sorted(outgoing, key=lambda s: rank[s]):
        total = sum(outgoing[step].values())
        kept = [(to, n) for to, n in _fork_branches(outgoing[step], parallel) if n >= min_share * total]
        if len(kept) >= 2:
            rows += [(step, to, n / total, n) for to, n in kept]
    return pl.DataFrame(
        rows,
        schema={"step": pl.String, "to_step": pl.String, "share": pl.Float64, "count": pl.Int64},
        orient="row",
    )


def _fork_branches(targets: dict[str, int], parallel: set[frozenset[str]]) -> list[tuple[str, int]]:
    """Targets grouped so that parallel ones form one branch named after its busiest target; busiest first."""
    group = {t: t for t in targets}

    def root(t: str) -> str:
        while group[t] != t:
            t = group[t]
        return t

    for pair in parallel:
        a, b = sorted(pair)
        if a in group and b in group and root(a) != root(b):
            group[root(a)] = root(b)
    members = defaultdict(list)
    for t in targets:
        members[root(t)].append(t)
    branches = [
        (min(ts, key=lambda t: (-targets[t], t)), sum(targets[t] for t in ts)) for ts in members.values()
    ]
    return sorted(branches, key=lambda b: (-b[1], b[0]))
