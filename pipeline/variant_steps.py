"""A stream's variants as visits and transitions, folding rare steps, and start and end steps.

The shared ground of `pipeline.stream_map`: pure functions over a `variants`-shaped frame
(`steps`: step names joined by ' > ', `cases`, optionally `lead_time_mean_s`). Rules and
defaults are explained in docs/discovery.md.
"""

from __future__ import annotations

import polars as pl

from pipeline.discovery import STEP_SEPARATOR

OTHER = "other"  # the step that folded rare steps become
DEFAULT_COVERAGE = 0.995  # keep the most visited steps covering 99.5% of visits: only the long tail folds ...
DEFAULT_MAX_STEPS = 30  # ... and at most 30 of them: what keeps a 400-activity log's map readable
START_MIN_CASE_SHARE = 0.05  # a start step starts >= 5% of cases
END_MIN_CASE_SHARE = 0.05  # an end step ends >= 5% of cases ...
END_MIN_ENDING_SHARE = 0.25  # ... and >= 25% of the cases visiting it end there
# A rare terminal outcome (a rejection, a withdrawal) is an end step too when most cases
# reaching it stop there: >= 50% of the cases visiting it end there, and it ends at least
# 5 cases and at least 0.1% of all cases (so that a handful of cases caught mid-way at the
# end of the log do not make a step an end).
RARE_END_MIN_ENDING_SHARE = 0.5
RARE_END_MIN_CASES = 5
RARE_END_MIN_CASE_SHARE = 0.001
# An inferred terminal end step is an automatic close (a close the system makes by itself, a
# fixed time after the resolution) when at least 20% of its visits, and at least 20 of them,
# come one and the same delay (to the minute, of at least an hour) after the case became ready
# for them, and those visits became ready at 10 or more different times of day (a
# log of dates only, where delays are whole days and every time of day is midnight, never
# qualifies).
AUTO_CLOSE_MIN_SHARE = 0.2
AUTO_CLOSE_MIN_VISITS = 20
AUTO_CLOSE_MIN_DELAY_S = 3600.0
AUTO_CLOSE_MIN_CLOCK_TIMES = 10


def visit_rows(variants: pl.DataFrame) -> pl.DataFrame:
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


def transitions_of(rows: pl.DataFrame) -> pl.DataFrame:
    """Directly-follows transitions, `backward` when the case goes to a step it first reached no
    later than the step it leaves (a repeat of the same step included)."""
    return rows.filter(pl.col("next_step").is_not_null()).select(
        "variant",
        "cases",
        pl.col("step").alias("from_step"),
        pl.col("next_step").alias("to_step"),
        (pl.col("next_first_seq") <= pl.col("first_seq")).alias("backward"),
    )


def counts_by(frame: pl.DataFrame, keys: list[str]) -> dict:
    """Sum of `cases` per value of `keys`: {key: n}, or {(k1, k2): n} for two keys."""
    grouped = frame.group_by(keys).agg(pl.col("cases").sum())
    return {tuple(r[:-1]) if len(keys) > 1 else r[0]: r[-1] for r in grouped.iter_rows()}


def step_visits(variants: pl.DataFrame) -> pl.DataFrame:
    """step, visits, cases (cases visiting it), first_index_p50 and first_index_mean (median and
    mean 0-based position of its first visit in those cases). Most visited first."""
    return step_stats(visit_rows(variants))


def step_stats(rows: pl.DataFrame) -> pl.DataFrame:
    """`step_visits` from the rows of `visit_rows`."""
    first = (
        rows.filter(pl.col("seq") == pl.col("first_seq"))
        .group_by("step", "seq")
        .agg(pl.col("cases").sum())
        .sort("step", "seq")
        .with_columns((pl.col("cases").cum_sum() / pl.col("cases").sum()).over("step").alias("below"))
        .group_by("step")
        .agg(
            pl.col("cases").sum(),
            pl.col("seq").filter(pl.col("below") >= 0.5).first().alias("first_index_p50"),
            ((pl.col("cases") * pl.col("seq")).sum() / pl.col("cases").sum()).alias("first_index_mean"),
        )
    )
    return (
        rows.group_by("step")
        .agg(pl.col("cases").sum().alias("visits"))
        .join(first, on="step")
        .select("step", "visits", "cases", "first_index_p50", "first_index_mean")
        .sort(["visits", "step"], descending=[True, False])
    )


def lead_time_of(variants: pl.DataFrame) -> pl.Expr:
    """The variants' lead_time_mean_s (all null when the frame has none)."""
    column = pl.col("lead_time_mean_s") if "lead_time_mean_s" in variants.columns else pl.lit(None)
    return column.cast(pl.Float64).alias("lead_time_mean_s")


def weighted_lead_time() -> pl.Expr:
    """Cases-weighted mean of lead_time_mean_s over the rows that have one."""
    weight = pl.col("cases").filter(pl.col("lead_time_mean_s").is_not_null()).sum()
    mean = (pl.col("cases") * pl.col("lead_time_mean_s")).sum() / weight
    return pl.when(weight > 0).then(mean).alias("lead_time_mean_s")


# --- readable maps on messy logs ---------------------------------------------------------------


def fold_rare_steps(
    step_visits: pl.DataFrame,
    coverage: float = DEFAULT_COVERAGE,
    max_steps: int = DEFAULT_MAX_STEPS,
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
    renames = {k: v for k, v in mapping.items() if k != v}
    steps = pl.col("steps").str.split(STEP_SEPARATOR)
    if renames:
        steps = steps.list.eval(pl.element().replace(list(renames), list(renames.values()))).list.eval(
            pl.element().filter(
                ~((pl.element() == OTHER) & (pl.element().shift(1) == OTHER)).fill_null(False)
            )
        )
    return (
        variants.select(
            steps.list.join(STEP_SEPARATOR).alias("steps"),
            pl.col("cases").cast(pl.Int64),
            lead_time_of(variants),
        )
        .group_by("steps", maintain_order=True)
        .agg(pl.col("cases").sum(), weighted_lead_time())
    )


# --- start and end steps -----------------------------------------------------------------------


def start_end_steps(paths: pl.DataFrame) -> pl.DataFrame:
    """Where cases start and end, and which of those steps the exit rule should use.

    `paths` has `steps` (' > '-joined) and `cases`, like `variants`, but should cover every
    case, open ones too: inferring ends from completed cases only would be circular (a case is
    completed when it reaches an end). Order each case's steps as the exit rule reads them (by
    when their visits end, in interval logs). The counts go to `start_end_rule`.
    """
    rows = visit_rows(paths)
    counts = rows.group_by("step").agg(
        pl.col("cases").filter(pl.col("seq") == pl.col("first_seq")).sum().alias("cases"),
        pl.col("cases").filter(pl.col("seq") == 0).sum().alias("starts"),
        pl.col("cases").filter(pl.col("next_step").is_null()).sum().alias("ends"),
    )
    return start_end_rule(counts)


def start_end_rule(counts: pl.DataFrame) -> pl.DataFrame:
    """Which steps start and end cases, from per-step counts (flow/step_ends.sql, or
    `start_end_steps` from paths): step, cases (cases visiting it), starts, ends (cases whose
    first / last step it is). Adds is_start (starts >= START_MIN_CASE_SHARE of all cases) and
    is_end: a common end (ends >= END_MIN_CASE_SHARE of all cases and >= END_MIN_ENDING_SHARE
    of the cases visiting it), or a rare terminal outcome (ends >= RARE_END_MIN_ENDING_SHARE
    of the cases visiting it, and >= RARE_END_MIN_CASES and >= RARE_END_MIN_CASE_SHARE of all
    cases). is_terminal: an end step where most cases that reach it stop (ends >=
    RARE_END_MIN_ENDING_SHARE of the cases visiting it): work after it is trailing, not a
    continuation (flow/exits__end_steps.sql). Every case has one first step, so all
    cases = the sum of starts.
    """
    total = int(counts["starts"].sum()) if counts.height else 0
    ends = pl.col("ends")
    common_end = (ends >= END_MIN_CASE_SHARE * total) & (ends >= END_MIN_ENDING_SHARE * pl.col("cases"))
    most_stop = ends >= RARE_END_MIN_ENDING_SHARE * pl.col("cases")
    rare_end = most_stop & (ends >= RARE_END_MIN_CASES) & (ends >= RARE_END_MIN_CASE_SHARE * total)
    is_end = (common_end | rare_end) & (ends > 0)
    return counts.with_columns(
        (pl.col("starts") >= START_MIN_CASE_SHARE * total).alias("is_start"),
        is_end.alias("is_end"),
        (is_end & most_stop).alias("is_terminal"),
    ).sort("step")


def automatic_close_rule(delays: pl.DataFrame) -> list[str]:
    """The inferred end steps that are automatic closes, from per-step delay counts
    (flow/automatic_closes.sql: step, visits, delay_s, at_delay, clock_times), sorted.

    A case that reaches one ends when it became ready for it (the end of the step before), not
    when the close came: the wait for a close the system makes by itself a fixed time after the
    resolution is not the customer's lead time (on helpdesk, 'Closed' comes 15 d after 'Resolve
    ticket', within the minute, in 28% of cases, and a median 30 d after it). Thresholds:
    AUTO_CLOSE_*.
    """
    if not delays.height:
        return []
    at = pl.col("at_delay")
    automatic = delays.filter(
        (at >= AUTO_CLOSE_MIN_SHARE * pl.col("visits"))
        & (at >= AUTO_CLOSE_MIN_VISITS)
        & (pl.col("delay_s") >= AUTO_CLOSE_MIN_DELAY_S)
        & (pl.col("clock_times") >= AUTO_CLOSE_MIN_CLOCK_TIMES)
    )
    return sorted(automatic["step"].to_list())
