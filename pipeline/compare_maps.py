"""The two maps of a comparison, drawn by the stream's own map renderer (`pipeline.vsm_map`)
over each side's figures, with one layout for both: the same boxes in the same places, so
the maps read one above the other.

The layout (main path, side steps, their order) comes from `pipeline.stream_map.map_steps`
over the completed cases of both windows together, rare steps folded into "other" as the
stream's map folds them ([discovery] coverage, max_steps). Each side then fills the boxes
with its own figures: its completed cases' share per step and rework loops, its ended visits'
times, people, teams and first-pass yield (`pipeline.compare.step_figures`), and its queue
WIP. A box of a step with no visit in one window is drawn there as not in it (GONE), and as
NEW on the after map when only the after window has it, GONE AFTER on the before map when only
the before window has it. Decision points need the discovered process model, so the
compared maps leave them out; handoff marks too (the page's table has the handoffs per case).
"""

from __future__ import annotations

import polars as pl

from pipeline.compare import Cohort, Comparison, step_figures, stream_figures
from pipeline.stream_map import map_steps, rework_loops
from pipeline.variant_steps import (
    DEFAULT_COVERAGE,
    DEFAULT_MAX_STEPS,
    OTHER,
    fold_rare_steps,
    fold_variants,
    step_visits,
)
from pipeline.vsm_map import GONE, LEAVES, MAX_REWORK_LOOPS, NEW, MapData, MapStep, ReworkLoop, Summary


def side_variants(cohort: Cohort) -> pl.DataFrame:
    """The variants of one side's completed cases: steps, cases, lead_time_mean_s."""
    cases = cohort.cases.filter(pl.col("steps").is_not_null())
    return (
        cases.group_by("steps")
        .agg(pl.len().cast(pl.Int64).alias("cases"), pl.col("lead_time_s").mean().alias("lead_time_mean_s"))
        .sort(["cases", "steps"], descending=[True, False])
    )


def _both(before: Cohort, after: Cohort) -> pl.DataFrame:
    joined = pl.concat([side_variants(before), side_variants(after)])
    return (
        joined.group_by("steps")
        .agg(
            pl.col("cases").sum(),
            ((pl.col("cases") * pl.col("lead_time_mean_s")).sum() / pl.col("cases").sum()).alias(
                "lead_time_mean_s"
            ),
        )
        .sort(["cases", "steps"], descending=[True, False])
    )


def shared_layout(
    before: Cohort, after: Cohort, coverage: float = DEFAULT_COVERAGE, max_steps: int = DEFAULT_MAX_STEPS
) -> tuple[dict[str, str], pl.DataFrame]:
    """The fold (step -> itself or OTHER) and map_steps of both windows' completed cases together."""
    both = _both(before, after)
    if both.is_empty():
        return {}, pl.DataFrame(schema={"step": pl.String, "position": pl.Int32})
    mapping = fold_rare_steps(step_visits(both), coverage, max_steps)
    return mapping, map_steps(fold_variants(both, mapping))


def layout_order(
    before: Cohort, after: Cohort, coverage: float = DEFAULT_COVERAGE, max_steps: int = DEFAULT_MAX_STEPS
) -> list[str]:
    """The steps as the maps place them, left to right (folded steps are not on it)."""
    _, layout = shared_layout(before, after, coverage, max_steps)
    return [s for s in layout["step"] if s != OTHER]


def comparison_maps(
    comparison: Comparison, coverage: float = DEFAULT_COVERAGE, max_steps: int = DEFAULT_MAX_STEPS
) -> tuple[MapData, MapData]:
    """The maps of the two sides of `comparison` (windows or streams), in one layout."""
    before, after = comparison.cohorts
    mapping, layout = shared_layout(before, after, coverage, max_steps)
    titles = (f"before \u00b7 {comparison.page_labels[0]}", f"after \u00b7 {comparison.page_labels[1]}")
    return (
        side_map(before, after, mapping, layout, f"{before.side.stream}, {titles[0]}", LEAVES),
        side_map(after, before, mapping, layout, f"{after.side.stream}, {titles[1]}", NEW),
    )


def side_map(
    cohort: Cohort, other: Cohort, mapping: dict, layout: pl.DataFrame, title: str, only_here: str
) -> MapData:
    """One side's map in the shared `layout`: its own figures in every box; a step of the
    layout it never visited is GONE, one the other side never visited `only_here` (NEW on
    the after map, LEAVES on the before map)."""
    variants = side_variants(cohort)
    folded = fold_variants(variants, mapping) if variants.height else variants
    shares = map_steps(folded) if folded.height else pl.DataFrame(schema={"step": pl.String})
    share = {r["step"]: r for r in shares.iter_rows(named=True)} if "case_share" in shares.columns else {}
    figures = {r["step"]: r for r in step_figures(cohort).iter_rows(named=True)}
    others = set(other.visits["step"])
    steps = []
    for row in layout.iter_rows(named=True):
        step = row["step"]
        fig = figures.get(step)
        mark = ""
        if step != OTHER and fig is None:
            mark = GONE
        elif step != OTHER and step not in others:
            mark = only_here
        steps.append(_box(row, fig, share.get(step), mark))
    loops = rework_loops(folded).head(MAX_REWORK_LOOPS) if folded.height else None
    return MapData(
        stream=title,
        summary=_summary(cohort),
        steps=tuple(steps),
        loops=tuple(
            ReworkLoop(r["from_step"], r["to_step"], r["cases"], r["visits"], r["case_share"])
            for r in (loops.iter_rows(named=True) if loops is not None else [])
        ),
    )


def _box(layout_row: dict, fig: dict | None, share: dict | None, mark: str) -> MapStep:
    fig = fig or {}
    teams = tuple(t for t in (fig.get("teams") or "").split(", ") if t)
    return MapStep(
        step=layout_row["step"],
        position=layout_row["position"],
        on_main_path=layout_row["on_main_path"],
        anchor_step=layout_row["anchor_step"],
        case_share=(share or {}).get("case_share"),
        start_share=(share or {}).get("start_share"),
        end_share=(share or {}).get("end_share"),
        entry_lane=bool(layout_row.get("entry_lane")),
        map_visits=(share or {}).get("visits"),
        visits=fig.get("visits") if mark != GONE else 0,
        resources=fig.get("resources"),
        teams=teams,
        queue_wip_avg=fig.get("queue_wip_avg"),
        queue_time_p50_s=fig.get("queue_time_p50_s"),
        queue_time_mean_s=fig.get("queue_time_mean_s"),
        queue_visits=fig.get("queue_visits"),
        process_time_p50_s=fig.get("process_time_p50_s"),
        process_time_mean_s=fig.get("process_time_mean_s"),
        first_pass_yield=fig.get("first_pass_yield"),
        mark=mark,
    )


def _summary(cohort: Cohort) -> Summary:
    figures = stream_figures(cohort)
    cases = cohort.cases
    lead_total = cases["lead_time_s"].sum() if cases.height else None
    observed = cases.height and cases["process_time_s"].null_count() < cases.height
    process_total = cases["process_time_s"].sum() if observed else None  # point logs: not observed
    return Summary(
        log_shape=cohort.side.log_shape,
        as_of=cohort.side.span_end,
        completed_cases=cases.height,
        open_cases=cohort.open_at_end,
        lead_time_mean_s=cases["lead_time_s"].mean() if cases.height else None,
        lead_time_p50_s=figures["lead_time_p50_s"],
        lead_time_p85_s=figures["lead_time_p85_s"],
        process_time_mean_s=process_total / cases.height
        if cases.height and process_total is not None
        else None,
        flow_efficiency=process_total / lead_total if lead_total and process_total is not None else None,
        first_pass_yield=figures["first_pass_yield"],
        wip_avg=figures["wip_avg"],
        throughput_per_day=figures["throughput_per_day"],
        handoffs_per_case=figures["handoffs_per_case"],
        littles_law=False,
    )
