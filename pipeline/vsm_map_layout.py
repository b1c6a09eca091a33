"""Layout and drawing of the value stream map: `MapData` in, one SVG document out.

Left to right, one column per main-path step: the queue before the step (inventory
triangle, cases waiting, queue time) and the process box (team, people, visits, process
time, first-pass yield), joined by push arrows; a handoff mark where the top team changes
and a decision mark where work branches. Rework loops between boxes arc over the top (each
on its own level, so no two overlap); a step redone in place gets a small loop on its box.
Side steps hang below their anchor, in a lane of their own. When cases start at several
steps (a routing process: incidents by resolver team), those steps are entry lanes stacked
under the first box, each fed by the map's entry with its share of the starts and with its
own exit to Done. Under everything, the timeline ladder (mean queue time up, mean process
time down) with the totals; above, the summary, the decision points and a legend. Sizes come
from the number of boxes and rows, never from measuring text, so the output is a pure
function of the data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.svg import esc, shorten, wrap
from pipeline.vsm_map import (
    CHANGED,
    GONE,
    LEAVES,
    MAX_REWORK_LOOPS,
    NEW,
    REMOVED,
    Branch,
    MapData,
    MapStep,
    ReworkLoop,
    fmt_amount,
    fmt_count,
    fmt_duration,
    fmt_pct,
    fmt_ratio,
)

FONT_STACK = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
CHAR = 0.58  # mean advance of a character, in font sizes: enough to keep labels apart

MARGIN = 20
QUEUE_W = 88  # the gap before each box: the queue's triangle and figures
BOX_W = 148
COL_W = QUEUE_W + BOX_W
BOX_H = 146
HEAD_H = 58  # the box's name and team; its data below
SIDE_W = 150
SIDE_H = 76
SIDE_REWORK_H = 90  # with a row for a loop on the side step itself
SIDE_GAP = 14
SIDE_ROWS = 8  # side steps stacked under one column before they wrap into columns to its right
SIDE_PITCH = SIDE_W + 84  # wrapped columns: the gap holds the links in, a loop out and its label
BUS_DROP = 7  # wrapped columns' links run along a bus this far above the side steps
SIDE_X = BOX_W * 0.45  # a column's side steps start this far right of its main-path box
LANE_ROUND = 60  # a link round the entry lanes runs down this far right of the side step it serves
ENTRY_W = 36  # with entry lanes: room left of the first queue for the entry's trunk and start shares
LANE_GAP = 48  # between stacked entry lanes: room for a loop on a lane and the links into lanes
TOTALS_W = 216
ARC_FIRST = 48  # first rework level above the boxes, then one level every ARC_STEP
ARC_STEP = 24
MIN_WIDTH = 780
PANELS_Y = 76  # under the title and its two lines of facts

INK = "#212529"
MUTED = "#6c757d"
LINE = "#495057"
QUEUE_FILL, QUEUE_STROKE = "#fff3bf", "#e67700"
BOX_FILL, HEAD_FILL = "#ffffff", "#e7f5ff"
SIDE_FILL = "#f8f9fa"
REWORK = "#c92a2a"
HANDOFF = "#f08c00"
DECISION = "#5f3dc4"
NEW_FILL = "#2b8a3e"  # a step only in this window (the maps of `vsm compare`)
CHANGED_FILL = "#e8590c"  # a step a scenario changes (the future-state map of `vsm simulate`)
GONE_FILL, GONE_STROKE = "#f1f3f5", "#adb5bd"  # a step not in this window


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h


# ---------------------------------------------------------------- primitives


def _n(value: float) -> str:
    text = f"{round(value, 1) + 0.0:.1f}"  # + 0.0: never "-0"
    return text[:-2] if text.endswith(".0") else text


def text(x, y, content, *, size=11, anchor="start", weight="", fill=INK, cls="", key="", italic=False) -> str:
    attrs = f'x="{_n(x)}" y="{_n(y)}" font-size="{_n(size)}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if weight:
        attrs += f' font-weight="{weight}"'
    if italic:
        attrs += ' font-style="italic"'
    if fill != INK:
        attrs += f' fill="{fill}"'
    if cls:
        attrs += f' class="{cls}"'
    if key:
        attrs += f' data-key="{key}"'
    return f"<text {attrs}>{esc(content)}</text>"


def halo_text(x, y, content, **kw) -> str:
    """Text with a white outline, readable where it crosses lines."""
    return text(x, y, content, **kw).replace(
        "<text ", '<text stroke="#fff" stroke-width="3" paint-order="stroke" stroke-linejoin="round" ', 1
    )


def branch_share_text(x: float, y: float, share: float | None, anchor: str = "start") -> str:
    """The share of a step's cases taking a branch, as drawn at a decision and a side step."""
    return halo_text(
        x, y, fmt_pct(share), size=10, anchor=anchor, fill=DECISION, cls="branch-share", key="branch_share"
    )


def rect(r: Rect, *, fill="none", stroke=LINE, width=1.0, dash="", radius=0.0) -> str:
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    extra += f' rx="{_n(radius)}"' if radius else ""
    return (
        f'<rect x="{_n(r.x)}" y="{_n(r.y)}" width="{_n(r.w)}" height="{_n(r.h)}" fill="{fill}" '
        f'stroke="{stroke}" stroke-width="{_n(width)}"{extra}/>'
    )


def line(x1, y1, x2, y2, *, stroke=LINE, width=1.0, dash="") -> str:
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" stroke="{stroke}" '
        f'stroke-width="{_n(width)}"{extra}/>'
    )


def polygon(points: list[tuple[float, float]], *, fill: str, stroke: str = "", width: float = 1.0) -> str:
    outline = f' stroke="{stroke}" stroke-width="{_n(width)}"' if stroke else ""
    joined = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
    return f'<polygon points="{joined}" fill="{fill}"{outline}/>'


def triangle(cx: float, top: float, half: float, height: float, **kw) -> str:
    """The inventory triangle of VSM notation: apex up."""
    return polygon([(cx, top), (cx + half, top + height), (cx - half, top + height)], **kw)


def diamond(cx: float, cy: float, half: float, **kw) -> str:
    """The decision symbol."""
    return polygon([(cx - half, cy), (cx, cy - half), (cx + half, cy), (cx, cy + half)], **kw)


def arrowhead(x, y, angle: float, *, fill=LINE, size=7.0) -> str:
    """A filled arrowhead with its tip at (x, y), pointing along `angle` (radians)."""
    back = [(x - size * math.cos(angle + s), y - size * math.sin(angle + s)) for s in (0.42, -0.42)]
    return polygon([(x, y), *back], fill=fill)


def group(cls: str, parts: list[str], *, title: str = "", data: dict[str, str] | None = None) -> str:
    attrs = f'class="{cls}"' + "".join(f' data-{k}="{esc(v)}"' for k, v in (data or {}).items())
    return f"<g {attrs}>" + (f"<title>{esc(title)}</title>" if title else "") + "".join(parts) + "</g>"


def fits(content: str, width: float, size: float) -> str:
    """`content` cut with an ellipsis to about `width` pixels at `size`."""
    return shorten(content, max(3, int(width / (size * CHAR))))


def data_row(x: float, width: float, y: float, label: str, value: str, key: str, *, size=11) -> list[str]:
    """A label on the left and its value on the right, as in a VSM data box."""
    muted = value in ("n/a", "not observed")
    parts = [text(x, y, label, size=size, fill=MUTED, cls="label")] if label else []
    if value:
        parts.append(
            text(
                x + width,
                y,
                value,
                size=size,
                anchor="end",
                cls="value",
                key=key,
                fill=MUTED if muted else INK,
            )
        )
    return parts


# ---------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    width: float
    panels_y: float
    main_y: float
    side_y: float
    ladder_y: float
    height: float
    boxes: dict[str, Rect]  # main path, entry lanes and side steps, by step
    columns: list[MapStep]  # main path, left to right
    levels: dict[tuple[str, str], int]  # rework loops between main-path boxes
    lanes: list[MapStep]  # entry lanes under the first box, top to bottom (MapData.entry_lanes)
    wrapped: frozenset[str] = frozenset()  # side steps of a column that wraps (_side_places)

    def box(self, i: int) -> Rect:
        return self.boxes[self.columns[i].step]

    def gap(self, i: int) -> Rect:
        """The queue before main-path box i."""
        return self.queue(self.box(i))

    @staticmethod
    def queue(box: Rect) -> Rect:
        """The queue before a main-path or lane box."""
        return Rect(box.x - QUEUE_W, box.y, QUEUE_W, BOX_H)

    @property
    def first_column(self) -> set[str]:
        """The steps stacked in the first column when there are entry lanes (else none)."""
        return {self.columns[0].step, *(s.step for s in self.lanes)} if self.lanes else set()


def _side_lanes(data: MapData, index: dict[str, int]) -> dict[int, list[MapStep]]:
    """Side steps by the main-path column they hang from (-1: before the first box)."""
    lanes: dict[int, list[MapStep]] = {}
    for side in data.side_steps:
        lanes.setdefault(index.get(side.anchor_step or "", -1), []).append(side)
    return lanes


def _levels(loops: list[ReworkLoop], index: dict[str, int]) -> dict[tuple[str, str], int]:
    """A level per loop between two different main-path boxes: shorter spans lower, and no
    two loops on one level share a column (their labels and lines would overlap)."""
    spans = sorted(
        (
            (abs(index[lp.to_step] - index[lp.from_step]), -lp.cases, lp.from_step, lp.to_step)
            for lp in loops
            if lp.from_step in index and lp.to_step in index and lp.from_step != lp.to_step
        ),
    )
    taken: list[list[tuple[int, int]]] = []
    levels = {}
    for _, _, src, dst in spans:
        lo, hi = sorted((index[src], index[dst]))
        level = next(
            (k for k, used in enumerate(taken) if all(hi < a or lo > b for a, b in used)), len(taken)
        )
        if level == len(taken):
            taken.append([])
        taken[level].append((lo, hi))
        levels[(src, dst)] = level
    return levels


@dataclass(frozen=True)
class SidePlace:
    x: float
    row: int
    wrapped: bool  # its column wraps (more than SIDE_ROWS side steps): links come along the bus


def _side_places(data: MapData) -> dict[str, SidePlace]:
    """Where each side step goes: under the main-path column it hangs from (MARGIN for those
    hanging from none), SIDE_ROWS deep at most while there is room to the right: a column of
    more wraps into columns SIDE_PITCH apart, filled top to bottom, up to the next column
    that has side steps of its own (the last one widens the map). A process routed through
    teams, whose main path may be one box, would otherwise draw its side steps as one tower."""
    index = {s.step: i for i, s in enumerate(data.main_path)}
    left = MARGIN + (ENTRY_W if data.entry_lanes else 0)
    lanes = _side_lanes(data, index)

    def column_x(column: int) -> float:
        return MARGIN if column < 0 else left + column * COL_W + QUEUE_W + SIDE_X

    places = {}
    columns = sorted(lanes)
    for k, column in enumerate(columns):
        sides, x = lanes[column], column_x(column)
        room = len(sides)
        if k + 1 < len(columns):  # up to the next column of side steps, a gap before it
            room = int((column_x(columns[k + 1]) - SIDE_GAP - SIDE_W - x) // SIDE_PITCH) + 1
        wraps = max(1, min(math.ceil(len(sides) / SIDE_ROWS), room))
        rows = math.ceil(len(sides) / wraps)
        for i, side in enumerate(sides):
            places[side.step] = SidePlace(x + (i // rows) * SIDE_PITCH, i % rows, wraps > 1)
    return places


def _map_width(data: MapData, places: dict[str, SidePlace]) -> float:
    """The map's width: its main path and totals, or its side steps (`places`, _side_places)
    where they reach further."""
    entry = ENTRY_W if data.entry_lanes else 0
    sides = max((p.x + SIDE_W + MARGIN for p in places.values()), default=0.0)
    return max(MARGIN + entry + len(data.main_path) * COL_W + 24 + TOTALS_W + MARGIN, MIN_WIDTH, sides)


def layout(data: MapData, panels_height: float, places: dict[str, SidePlace] | None = None) -> Layout:
    """Where everything goes; `places`: _side_places(data), when the caller has it already."""
    places = _side_places(data) if places is None else places
    columns = data.main_path
    index = {s.step: i for i, s in enumerate(columns)}
    levels = _levels(list(data.loops), index)
    has_self_loop = any(lp.from_step == lp.to_step and lp.from_step in index for lp in data.loops)
    arc_band = ARC_FIRST + (max(levels.values()) * ARC_STEP + 18 if levels else 0 if has_self_loop else -36)
    panels_y = PANELS_Y
    main_y = panels_y + panels_height + arc_band
    left = MARGIN + (ENTRY_W if data.entry_lanes else 0)
    boxes = {s.step: Rect(left + i * COL_W + QUEUE_W, main_y, BOX_W, BOX_H) for i, s in enumerate(columns)}
    for k, lane in enumerate(data.entry_lanes, start=1):
        boxes[lane.step] = Rect(left + QUEUE_W, main_y + k * (BOX_H + LANE_GAP), BOX_W, BOX_H)
    side_y = main_y + (len(data.entry_lanes) + 1) * (BOX_H + LANE_GAP) - LANE_GAP + 40
    redone = {lp.from_step for lp in data.loops if lp.from_step == lp.to_step}
    side_h = SIDE_REWORK_H if any(s.step in redone for s in data.side_steps) else SIDE_H
    for step, place in places.items():
        boxes[step] = Rect(place.x, side_y + place.row * (side_h + SIDE_GAP), SIDE_W, side_h)
    rows = max((p.row + 1 for p in places.values()), default=0)
    # under the last lane, room for its queue's figures, which run below the box (a future
    # state's predicted queue time)
    below_boxes = side_y if data.entry_lanes else side_y - 40
    ladder_y = (side_y + rows * (side_h + SIDE_GAP) if rows else below_boxes) + 26
    return Layout(
        _map_width(data, places),
        panels_y,
        main_y,
        side_y,
        ladder_y,
        ladder_y + 100,
        boxes,
        columns,
        levels,
        data.entry_lanes,
        frozenset(step for step, p in places.items() if p.wrapped),
    )


# ---------------------------------------------------------------- the main row


def _unshown(step: MapStep) -> str:
    """What a box shows for a time it has no figure for: the log does not record it ('not
    observed'), or the box folds rare steps, whose figures are each step's own ('n/a': the
    step_metrics rows of the folded steps have them; no figure of the fold is computed)."""
    return "n/a" if step.folded else "not observed"


def draw_queue(step: MapStep, gap: Rect, arrow_y: float) -> str:
    cx, top = gap.cx, gap.y + 6
    if step.mark in (GONE, REMOVED):
        parts = [
            triangle(cx, top, 16, 30, fill=GONE_FILL, stroke=GONE_STROKE, width=1.5),
            text(cx, top + 64, "\u2014", size=12, anchor="middle", fill=MUTED, key="queue_time"),
        ]
        return group("queue gone", parts, title=f"Queue before {step.step}: no visits in this window")
    parts = [
        triangle(cx, top, 16, 30, fill=QUEUE_FILL, stroke=QUEUE_STROKE, width=1.5),
        text(cx, top + 26, "I", size=13, anchor="middle", weight="bold", fill=QUEUE_STROKE),
    ]
    x, w, y = gap.x + 8, QUEUE_W - 16, top + 50
    rows = [("Waiting", fmt_amount(step.queue_wip_avg), "queue_wip_avg")]
    if step.queue_time_p50_s is None and step.queue_time_mean_s is None:
        parts.append(text(cx, y + 14, "queue time", size=10, anchor="middle", fill=MUTED))
        parts.append(text(cx, y + 27, _unshown(step), size=10, anchor="middle", fill=MUTED, key="queue_time"))
    else:
        rows += [
            ("p50", fmt_duration(step.queue_time_p50_s), "queue_time_p50"),
            ("mean", fmt_duration(step.queue_time_mean_s), "queue_time_mean"),
        ]
        if step.queue_internal_mean_s is not None or step.queue_external_mean_s is not None:
            rows += [
                ("int.", fmt_duration(step.queue_internal_mean_s), "queue_internal_mean"),
                ("ext.", fmt_duration(step.queue_external_mean_s), "queue_external_mean"),
            ]
        if step.queue_time_bh_p50_s is not None:  # a calendar is set: p50 in business hours
            rows.append(("bus.", fmt_duration(step.queue_time_bh_p50_s), "queue_time_bh_p50"))
    for k, (label, value, key) in enumerate(rows):
        parts += data_row(x, w, y + 14 * k, label, value, key, size=10)
    observed = step.queue_time_p50_s is not None or step.queue_time_mean_s is not None
    over = _queue_population(step)
    below = y + 14 * (len(rows) - 1) + (15 if observed else 40)
    if observed and over:
        # one population for p50, mean and its parts (step_metrics.sql), said under them
        parts.append(text(cx, below, "times over all", size=8.5, anchor="middle", fill=MUTED, cls="over"))
        parts.append(text(cx, below + 10, over, size=8.5, anchor="middle", fill=MUTED, key="queue_visits"))
        below += 20
    if step.predicted_queue:  # a future-state map: the predicted mean queue time and its range
        mean, spread = step.predicted_queue
        parts.append(
            text(
                cx,
                below + 4,
                f"\u2192 mean {mean}",
                size=10,
                anchor="middle",
                weight="bold",
                fill=CHANGED_FILL,
                key="predicted_queue",
            )
        )
        parts.append(text(cx, below + 16, spread, size=8.5, anchor="middle", fill=CHANGED_FILL))
    title = (
        f"Queue before {step.step}: {fmt_amount(step.queue_wip_avg)} cases waiting on average; queue time "
        f"p50 {fmt_duration(step.queue_time_p50_s)}, mean {fmt_duration(step.queue_time_mean_s)}"
    )
    if step.queue_internal_mean_s is not None or step.queue_external_mean_s is not None:
        title += (
            f" = internal {fmt_duration(step.queue_internal_mean_s)} + waiting on customer / vendor "
            f"{fmt_duration(step.queue_external_mean_s)}"
        )
    if observed and over:
        title += f"; over all {over} of the step, zero where a visit did not wait"
    if step.queue_time_bh_p50_s is not None:
        title += f"; p50 in business hours (the calendar's) {fmt_duration(step.queue_time_bh_p50_s)}"
    return group("queue", parts, title=title, data={"step": step.step})


def _queue_population(step: MapStep) -> str:
    """'N visits': the visits the queue's figures are over ('' when not known)."""
    if step.queue_visits is None:
        return ""
    return f"{fmt_count(step.queue_visits)} visit{'' if step.queue_visits == 1 else 's'}"


def _team_label(teams: tuple[str, ...]) -> str:
    if not teams:
        return "no team recorded"
    return teams[0] if len(teams) == 1 else f"{teams[0]} +{len(teams) - 1}"


def _gone(step: MapStep, box: Rect, cls: str, size: float) -> str:
    """A step of the other window that has no visit in this one: a grey dashed outline."""
    parts = [rect(box, fill=GONE_FILL, stroke=GONE_STROKE, width=1.5, dash="6 4", radius=3)]
    names = wrap(step.step, int((box.w - 14) / (size * 0.62)), 2)
    for k, name in enumerate(names):
        parts.append(
            text(
                box.cx,
                box.y + 20 + 15 * k,
                name,
                size=size,
                anchor="middle",
                weight="bold",
                fill=MUTED,
                cls="name",
            )
        )
    below = box.y + 20 + 15 * len(names) + 10
    said = "removed" if step.mark == REMOVED else "not in this window"
    parts.append(text(box.cx, below, said, size=11, anchor="middle", fill=MUTED, key="gone"))
    title = f"{step.step}: no visit of it ended in this window (it is in the other window's map)"
    if step.mark == REMOVED:
        title = f"{step.step}: the scenario removes it"
    return group(f"{cls} gone", parts, title=title, data={"step": step.step})


def _mark_tag(step: MapStep, box: Rect) -> str:
    """The tag of a step only one window has: NEW on the after map, GONE AFTER on the before map."""
    label, fill, w = {
        NEW: ("NEW", NEW_FILL, 34),
        CHANGED: ("CHANGED", CHANGED_FILL, 58),
    }.get(step.mark, ("GONE AFTER", REWORK, 70))
    tag = Rect(box.right - w - 4, box.y - 9, w, 16)
    return rect(tag, fill=fill, stroke=fill, radius=8) + text(
        tag.cx, tag.y + 12, label, size=9.5, anchor="middle", weight="bold", fill="#fff", key=step.mark
    )


def draw_process(step: MapStep, box: Rect) -> str:
    if step.mark in (GONE, REMOVED):
        return _gone(step, box, "process", 12)
    head = Rect(box.x, box.y, box.w, HEAD_H)
    parts = [
        rect(box, fill=BOX_FILL, stroke=LINE, width=1.5),
        rect(head, fill=HEAD_FILL, stroke=LINE, width=1.5),
    ]
    names = wrap(step.step, int((BOX_W - 14) / (12 * 0.62)), 2)
    for k, name in enumerate(names):
        y = box.y + (18 if len(names) > 1 else 25) + 15 * k
        parts.append(text(box.cx, y, name, size=12, anchor="middle", weight="bold", cls="name"))
    team = "rare steps folded" if step.folded else _team_label(step.teams)
    parts.append(
        text(
            box.cx,
            box.y + 50,
            fits(team, BOX_W - 12, 11),
            size=11,
            anchor="middle",
            fill=MUTED,
            cls="team",
            italic=True,
        )
    )
    rows = [
        ("Visits", fmt_count(step.map_visits if step.folded else step.visits), "visits"),
        ("People", fmt_count(step.resources), "people"),
    ]
    if step.process_time_p50_s is None and step.process_time_mean_s is None:
        # Spread over two rows: "Process p50  not observed" does not fit a box's width.
        rows += [("Process time", "", ""), ("", _unshown(step), "process_time")]
    else:
        rows += [
            ("Process p50", fmt_duration(step.process_time_p50_s), "process_p50"),
            # with a calendar, the business p50 takes the mean's row (the title keeps the mean)
            ("Process mean", fmt_duration(step.process_time_mean_s), "process_mean")
            if step.process_time_bh_p50_s is None
            else ("Business p50", fmt_duration(step.process_time_bh_p50_s), "process_bh_p50"),
        ]
    rows.append(("First-pass yield", fmt_pct(step.first_pass_yield), "first_pass_yield"))
    for k, (label, value, key) in enumerate(rows):
        parts += data_row(box.x + 8, BOX_W - 16, box.y + HEAD_H + 17 + 16 * k, label, value, key)
    title = (
        f"{step.step}\nteams: {', '.join(step.teams) or 'none recorded'}\n"
        f"visits {fmt_count(step.visits)}, people {fmt_count(step.resources)}, process time p50 "
        f"{fmt_duration(step.process_time_p50_s)}, mean {fmt_duration(step.process_time_mean_s)}, "
        f"first-pass yield {fmt_pct(step.first_pass_yield)}"
    )
    if step.process_time_bh_p50_s is not None:
        title += f", process time p50 in business hours {fmt_duration(step.process_time_bh_p50_s)}"
    if step.folded:
        title = f"{step.step}: the rare steps folded into one box (see [discovery] coverage)"
    if step.mark == CHANGED:
        parts.append(_mark_tag(step, box))
        title += "\nthe scenario changes it"
    elif step.mark in (NEW, LEAVES):
        parts.append(_mark_tag(step, box))
        title += "\nonly in this window: no visit of it ended in the other one"
    return group("process", parts, title=title, data={"step": step.step})


def draw_side(
    step: MapStep,
    box: Rect,
    anchor: Rect | None,
    slot: int,
    share: Branch | None,
    again: ReworkLoop | None,
    *,
    past_lanes: bool = False,
    bus: float | None = None,
) -> str:
    """A side step below its anchor; a loop on itself is a row of its box (no room for an arc).
    `past_lanes`: the anchor heads a column of entry lanes, so the link goes round them, down
    the gap on their right, into the side step's right edge. `bus`: the step's column wraps
    (_side_places), so the link runs along the bus at that height over the side steps, then
    down the gap on the step's left into its left edge, with the share left of it."""
    if step.mark == GONE:
        return _gone(step, box, "side-step", 11)
    parts = [rect(box, fill=SIDE_FILL, stroke=LINE, dash="5 3", radius=3)]
    for k, name in enumerate(wrap(step.step, int((SIDE_W - 12) / (11 * 0.62)), 2)):
        parts.append(
            text(box.cx, box.y + 15 + 13 * k, name, size=11, anchor="middle", weight="bold", cls="name")
        )
    visits = fmt_count(step.map_visits if step.folded else step.visits)
    observed = step.process_time_p50_s is not None
    rows = [
        ("Cases", fmt_pct(step.case_share), "case_share"),
        ("Visits", visits, "visits"),
        (
            "Process p50" if observed else "Process",
            fmt_duration(step.process_time_p50_s) if observed else _unshown(step),
            "process_p50" if observed else "process_time",
        ),
    ]
    for k, (label, value, key) in enumerate(rows):
        parts += data_row(box.x + 8, SIDE_W - 16, box.y + 44 + 13 * k, label, value, key, size=10)
    if again is not None:
        row = [
            text(box.x + 8, box.y + 83, "\u21ba Rework", size=10, fill=REWORK, cls="label"),
            text(
                box.right - 8,
                box.y + 83,
                f"{fmt_pct(again.case_share)} of cases",
                size=10,
                anchor="end",
                fill=REWORK,
                cls="share",
            ),
        ]
        title = (
            f"Rework {again.from_step} again: {fmt_count(again.cases)} completed cases "
            f"({fmt_pct(again.case_share)}), {fmt_count(again.visits)} times"
        )
        parts.append(group("rework", row, title=title, data={"from": again.from_step, "to": again.to_step}))
    if anchor is not None and bus is not None:
        if past_lanes:  # round the lanes first, where the column's link would run unwrapped
            x = anchor.x + SIDE_X + SIDE_W + LANE_ROUND + 3 * min(slot, 3)
            d = f"M{_n(anchor.right - 14)},{_n(anchor.bottom)} V{_n(anchor.bottom + 4)} H{_n(x)} V{_n(bus)}"
        else:
            x = anchor.x + 40 - 10 * min(slot, 3)
            d = f"M{_n(x)},{_n(anchor.bottom)} V{_n(bus)}"
        trunk, mid = box.x - 14, box.y + box.h / 2
        d += f" H{_n(trunk)} V{_n(mid)} H{_n(box.x - 1)}"
        parts.append(f'<path d="{d}" fill="none" stroke="{LINE}" stroke-dasharray="4 3"/>')
        parts.append(arrowhead(box.x, mid, 0.0, size=6))
        if share is not None:
            parts.append(branch_share_text(trunk - 3, mid - 4, share.share, anchor="end"))
    elif anchor is not None and past_lanes:
        x = box.right + LANE_ROUND + 3 * min(slot, 3)  # right of the lanes' exits and links' labels
        mid = box.y + box.h / 2
        parts.append(
            f'<path d="M{_n(anchor.right - 14)},{_n(anchor.bottom)} V{_n(anchor.bottom + 4)} H{_n(x)} '
            f'V{_n(mid)} H{_n(box.right + 1)}" fill="none" stroke="{LINE}" stroke-dasharray="4 3"/>'
        )
        parts.append(arrowhead(box.right, mid, math.pi, size=6))
        if share is not None:
            parts.append(branch_share_text(x + 5, mid - 4, share.share))
    elif anchor is not None:
        x = anchor.x + 40 - 10 * min(slot, 3)
        mid = box.y + box.h / 2
        parts.append(
            f'<path d="M{_n(x)},{_n(anchor.bottom)} V{_n(mid)} H{_n(box.x - 1)}" fill="none" '
            f'stroke="{LINE}" stroke-dasharray="4 3"/>'
        )
        parts.append(arrowhead(box.x, mid, 0.0, size=6))
        if share is not None:
            parts.append(branch_share_text(x + 5, mid - 4, share.share))
    title = (
        f"{step.step} (side step{f' after {step.anchor_step}' if step.anchor_step else ''}): "
        f"{fmt_pct(step.case_share)} of completed cases, {fmt_count(step.visits)} visits, process time p50 "
        f"{fmt_duration(step.process_time_p50_s)}, first-pass yield {fmt_pct(step.first_pass_yield)}"
    )
    if step.mark == CHANGED:
        parts.append(_mark_tag(step, box))
        title += "\nthe scenario changes it"
    elif step.mark in (NEW, LEAVES):
        parts.append(_mark_tag(step, box))
    return group("side-step", parts, title=title, data={"step": step.step})


def draw_flow(lay: Layout, data: MapData, arrow_y: float) -> list[str]:
    """Push arrows between boxes, with the decision and handoff marks on them."""
    if lay.lanes:
        parts = draw_entry(lay, arrow_y)
    else:
        first = lay.gap(0)
        parts = [
            line(first.x, arrow_y, first.right - 8, arrow_y, width=2),
            arrowhead(first.right - 1, arrow_y, 0.0, size=8),
        ]
    handoffs = {(h.from_step, h.to_step): h for h in data.handoffs}
    for i in range(len(lay.columns) - 1):
        src, dst = lay.box(i), lay.box(i + 1)
        parts.append(line(src.right, arrow_y, dst.x - 8, arrow_y, width=2))
        parts.append(arrowhead(dst.x - 1, arrow_y, 0.0, size=8))
        h = handoffs.get((lay.columns[i].step, lay.columns[i + 1].step))
        if h is not None:
            x = dst.x - 16
            mark = [
                f'<circle cx="{_n(x)}" cy="{_n(arrow_y)}" r="7.5" fill="{HANDOFF}"/>',
                text(x, arrow_y + 3.5, "H", size=10, anchor="middle", weight="bold", fill="#fff"),
            ]
            title = (
                f"Handoff: {h.from_team} \u2192 {h.to_team} ({fmt_count(h.count)} handoffs in "
                f"{fmt_count(h.cases)} cases)"
            )
            parts.append(group("handoff", mark, title=title, data={"from": h.from_team, "to": h.to_team}))
    last = lay.box(len(lay.columns) - 1)
    parts.append(line(last.right, arrow_y, last.right + 30, arrow_y, width=2))
    parts.append(arrowhead(last.right + 38, arrow_y, 0.0, size=8))
    parts.append(text(last.right + 44, arrow_y + 4, "Done", size=12, weight="bold"))
    completed = data.summary.completed_cases if data.summary else None
    parts.append(
        text(last.right + 44, arrow_y + 19, f"{fmt_count(completed)} completed", size=10, fill=MUTED)
    )
    end_share = lay.columns[-1].end_share
    y = arrow_y + 33
    if lay.lanes and end_share is not None:  # the other lanes say theirs: this box's own share too
        said = f"{fmt_pct(end_share)} end here"
        parts.append(text(last.right + 44, y, said, size=10, fill=MUTED, key="end_share"))
        y += 14
    closes = data.summary.automatic_close if data.summary else None
    if closes:  # the close comes after "Done": the map ends where the lead time does
        lines = [
            text(last.right + 44, y, "then a close by the system,", size=10, fill=MUTED, italic=True),
            text(last.right + 44, y + 13, "not in the lead time", size=10, fill=MUTED, italic=True),
        ]
        parts.append(group("automatic-close", lines, title=closes))
    return parts


def draw_entry(lay: Layout, arrow_y: float) -> list[str]:
    """The map's one entry split into its lanes: a trunk down the left edge, an arrow into each
    lane's queue, and the share of completed cases starting at each lane on its arrow."""
    fed = [lay.columns[0], *lay.lanes]
    trunk = MARGIN + 8
    lowest = lay.boxes[fed[-1].step].y + (arrow_y - lay.main_y)
    parts = [
        line(MARGIN, arrow_y, trunk, arrow_y, width=2),
        line(trunk, arrow_y - 1, trunk, lowest + 1, width=2),
    ]
    for step in fed:
        queue = lay.queue(lay.boxes[step.step])
        y = queue.y + (arrow_y - lay.main_y)
        parts.append(line(trunk, y, queue.right - 8, y, width=2))
        parts.append(arrowhead(queue.right - 1, y, 0.0, size=8))
        parts.append(
            halo_text(trunk + 5, y - 5, fmt_pct(step.start_share), size=10, fill=DECISION, key="start_share")
        )
    title = "Where completed cases start: " + ", ".join(f"{s.step} {fmt_pct(s.start_share)}" for s in fed)
    return [group("entry", parts, title=title)]


def draw_lane_link(
    step: MapStep, box: Rect, anchor: Rect, first_column: bool, slot: int, share: Branch | None
) -> str:
    """Work reaching an entry lane later, going forward from its anchor: a dashed link into the
    lane's right edge, down the gap right of the first column (or straight down from an anchor
    further right), so the lane reads as both: a start, and a step some cases go on to. Its
    label: the share of completed cases that reach the lane but did not start there (case
    share - start share). Lower lanes take the inner slots (`slot` 0 nearest the boxes), so
    no link runs through a label of another. It comes in below the lane's exit (draw_lane_exit)."""
    y = box.y + 84
    later = None
    if step.case_share is not None and step.start_share is not None:
        later = max(step.case_share - step.start_share, 0.0)
    if first_column:
        x = anchor.right + 18 + 7 * min(slot, 6)
        d = f"M{_n(anchor.right - 6)},{_n(anchor.bottom)} V{_n(anchor.bottom + 8)} H{_n(x)}"
        d += f" V{_n(y)} H{_n(box.right + 1)}"
    else:
        x = anchor.x + 30 - 8 * min(slot, 3)
        d = f"M{_n(x)},{_n(anchor.bottom)} V{_n(y)} H{_n(box.right + 1)}"
    parts = [
        f'<path d="{d}" fill="none" stroke="{LINE}" stroke-dasharray="4 3"/>',
        arrowhead(box.right, y, math.pi, size=6),
    ]
    if later is not None:
        parts.append(
            halo_text(x + 5, y - 4, f"{fmt_pct(later)} later", size=10, fill=LINE, key="later_share")
        )
    if share is not None:
        parts.append(branch_share_text(x + 5, y + 12, share.share))
    title = f"{step.step} is also reached after {step.anchor_step}"
    if later is not None:
        title += (
            f"; {fmt_pct(later)} of completed cases reach it after starting elsewhere "
            f"(visit it {fmt_pct(step.case_share)}, start there {fmt_pct(step.start_share)})"
        )
    if share is not None:
        title += f": {fmt_pct(share.share)} of the work going forward from {step.anchor_step}"
    return group("lane-link", parts, title=title, data={"from": step.anchor_step or "", "to": step.step})


def draw_lane_exit(step: MapStep, box: Rect) -> str:
    """An entry lane's own way out: an arrow to Done with the share of completed cases that end
    at the lane (most incidents that start at a team stay there)."""
    y = box.y + 22
    parts = [
        line(box.right, y, box.right + 44, y, width=2),
        arrowhead(box.right + 50, y, 0.0, size=8),
        text(box.right + 56, y + 4, "Done", size=12, weight="bold"),
        text(
            box.right + 56,
            y + 19,
            f"{fmt_pct(step.end_share)} end here",
            size=10,
            fill=MUTED,
            key="end_share",
        ),
    ]
    title = f"{fmt_pct(step.end_share)} of completed cases end at {step.step}"
    return group("lane-exit", parts, title=title, data={"step": step.step})


def draw_lane_links(lay: Layout, branches: dict[tuple[str, str], Branch]) -> list[str]:
    """The links into the entry lanes reached later from a main-path step (draw_lane_link)."""
    index = {s.step: i for i, s in enumerate(lay.columns)}
    slots: dict[str, int] = {}
    parts = []
    for lane in reversed(lay.lanes):  # the lowest lane's link nearest the boxes
        if lane.anchor_step not in index:
            continue  # reached going forward from no main-path step: only a start
        slot = slots[lane.anchor_step] = slots.get(lane.anchor_step, -1) + 1
        anchor = lay.boxes[lane.anchor_step]
        share = branches.get((lane.anchor_step, lane.step))
        parts.append(
            draw_lane_link(lane, lay.boxes[lane.step], anchor, index[lane.anchor_step] == 0, slot, share)
        )
    return parts


def draw_decisions(lay: Layout, data: MapData, arrow_y: float) -> list[str]:
    """A diamond after each main-path step where work branches, with the share going on."""
    parts = []
    by_step: dict[str, list[Branch]] = {}
    for b in data.branches:
        by_step.setdefault(b.step, []).append(b)
    for i, col in enumerate(lay.columns):
        branches = by_step.get(col.step)
        if not branches:
            continue
        box = lay.box(i)
        x = box.right + 8
        mark = [diamond(x, arrow_y, 6, fill="#fff", stroke=DECISION, width=1.5)]
        onward = next(
            (b for b in branches if i + 1 < len(lay.columns) and b.to_step == lay.columns[i + 1].step), None
        )
        if onward is not None:
            mark.append(branch_share_text(x + 8, arrow_y - 5, onward.share))
        title = f"Decision after {col.step}: " + ", ".join(
            f"{fmt_pct(b.share)} to {b.to_step}" for b in branches
        )
        parts.append(group("decision", mark, title=title, data={"step": col.step}))
    return parts


# ---------------------------------------------------------------- rework loops


def _main_arc(lp: ReworkLoop, src: Rect, dst: Rect, level: int) -> str:
    sx, tx = src.x + 62 + 9 * min(level, 4), dst.x + 50 - 9 * min(level, 4)
    y, top, r = src.y, src.y - ARC_FIRST - ARC_STEP * level, 8.0
    turn = r if tx < sx else -r
    d = (
        f"M{_n(sx)},{_n(y)} V{_n(top + r)} Q{_n(sx)},{_n(top)} {_n(sx - turn)},{_n(top)} "
        f"H{_n(tx + turn)} Q{_n(tx)},{_n(top)} {_n(tx)},{_n(top + r)} V{_n(y - 8)}"
    )
    label = fits(f"rework {fmt_pct(lp.case_share)} of cases", abs(sx - tx) + 40, 10)
    return (
        f'<path d="{d}" fill="none" stroke="{REWORK}" stroke-width="1.5"/>'
        + arrowhead(tx, y - 1, math.pi / 2, fill=REWORK)
        + halo_text((sx + tx) / 2, top - 5, label, size=10, anchor="middle", fill=REWORK, cls="share")
    )


def _self_arc(lp: ReworkLoop, box: Rect, *, label_left: bool = False) -> str:
    """A small loop standing on the box's top edge, clear of the arrow leaving the box."""
    x0, x1, y = box.right - 46, box.right - 12, box.y
    d = f"M{_n(x0)},{_n(y)} C{_n(x0)},{_n(y - 28)} {_n(x1)},{_n(y - 28)} {_n(x1)},{_n(y - 8)}"
    label = f"rework {fmt_pct(lp.case_share)} of cases"
    if label_left:  # an entry lane: the gap on the right carries the links into the lanes
        label_svg = halo_text(x0 - 4, y - 12, label, size=10, anchor="end", fill=REWORK, cls="share")
    else:  # from the loop rightwards, over the gap: clear of the arcs that leave the box's middle
        label_svg = halo_text(x0 + 2, y - 28, label, size=10, fill=REWORK, cls="share")
    return (
        f'<path d="{d}" fill="none" stroke="{REWORK}" stroke-width="1.5"/>'
        + arrowhead(x1, y - 1, math.pi / 2, fill=REWORK)
        + label_svg
    )


def _routed(
    lp: ReworkLoop, src: Rect, dst: Rect, src_side: bool, dst_side: bool, corridor: float, out: float = 20
) -> str:
    """A loop with a side step at an end, drawn with right angles: out of the side box's right
    edge (`out` below its top), along the corridor between the main row and the side steps,
    into the other box."""
    if src_side:
        y = src.y + out
        points = [(src.right, y), (src.right + 10, y), (src.right + 10, corridor)]
        label_at = (src.right + 14, y - 6)
    else:
        x = src.x + src.w * 0.9
        points = [(x, src.bottom), (x, corridor)]
        label_at = (x + 4, corridor - 5)
    if src_side and dst_side and abs(src.right - dst.right) < 1:  # same lane: straight up or down
        y = dst.bottom - 20
        points = points[:2] + [(dst.right + 10, y), (dst.right + 1, y)]
        angle = math.pi
    elif dst_side:
        y = dst.bottom - 20
        points += [(dst.right + 10, corridor), (dst.right + 10, y), (dst.right + 1, y)]
        angle = math.pi
    else:
        x = dst.x + dst.w * 0.8
        points += [(x, corridor), (x, dst.bottom + 1)]
        angle = -math.pi / 2
    d = "M" + " L".join(f"{_n(x)},{_n(y)}" for x, y in points)
    tip = points[-1]
    return (
        f'<path d="{d}" fill="none" stroke="{REWORK}" stroke-width="1.5" stroke-dasharray="6 3"/>'
        + arrowhead(tip[0] - math.cos(angle), tip[1] - math.sin(angle), angle, fill=REWORK)
        + halo_text(*label_at, f"rework {fmt_pct(lp.case_share)}", size=10, fill=REWORK, cls="share")
    )


def draw_rework(lay: Layout, data: MapData) -> list[str]:
    """Loops between main-path boxes and on them; loops on a side step are drawn in its box."""
    parts = []
    main = {s.step for s in lay.columns}
    # boxes reached from their right edge: side steps, and the first column's when it has lanes
    # (from below, a line would cross the lanes stacked there)
    edge = {s for s in lay.boxes if s not in main} | lay.first_column
    on_box = main | {s.step for s in lay.lanes}  # a loop on itself drawn as an arc on the box
    routed = 0
    for lp in data.loops:
        src, dst = lay.boxes.get(lp.from_step), lay.boxes.get(lp.to_step)
        if src is None or dst is None or (lp.from_step == lp.to_step and lp.from_step not in on_box):
            continue  # not drawn here (a loop always joins drawn steps; side steps show their own)
        if lp.from_step == lp.to_step:
            drawing = _self_arc(lp, src, label_left=lp.from_step not in main)
        elif (lp.from_step, lp.to_step) in lay.levels:
            drawing = _main_arc(lp, src, dst, lay.levels[(lp.from_step, lp.to_step)])
        else:
            corridor = lay.side_y - 14 - 6 * routed
            # out of a box of the first column below its exit to Done (draw_lane_exit)
            out = 64 if lp.from_step in lay.first_column else 20
            drawing = _routed(lp, src, dst, lp.from_step in edge, lp.to_step in edge, corridor, out)
            routed += 1
        title = (
            f"Rework {lp.from_step} \u2192 {lp.to_step}: {fmt_count(lp.cases)} completed cases "
            f"({fmt_pct(lp.case_share)}), {fmt_count(lp.visits)} times"
        )
        parts.append(group("rework", [drawing], title=title, data={"from": lp.from_step, "to": lp.to_step}))
    return parts


# ---------------------------------------------------------------- timeline ladder


def _observed(fmt: Callable[[float], str], value: float | None) -> str:
    return "not observed" if value is None else fmt(value)


def _ladder_value(x: float, y: float, seconds: float | None, key: str, step: MapStep) -> str:
    shown = _unshown(step) if seconds is None else fmt_duration(seconds)
    return text(
        x, y, shown, size=10, anchor="middle", cls="value", key=key, fill=MUTED if seconds is None else INK
    )


def draw_ladder(lay: Layout, data: MapData) -> list[str]:
    y_hi, y_lo = lay.ladder_y + 30, lay.ladder_y + 56
    observed = any(s.queue_time_mean_s is not None or s.process_time_mean_s is not None for s in lay.columns)
    caption = (
        "Timeline per visit: mean queue time (up), mean process time (down)"
        if observed
        else "Timeline: queue and process times are not observed in this log (it records only when steps end)"
    )
    parts = [text(MARGIN, lay.ladder_y, caption, size=11, weight="bold")]
    d = f"M{_n(lay.gap(0).x)},{_n(y_hi)}"
    for i, step in enumerate(lay.columns if observed else []):
        gap, box = lay.gap(i), lay.box(i)
        d += f" H{_n(gap.right)} V{_n(y_lo)} H{_n(box.right)}"
        d += "" if i == len(lay.columns) - 1 else f" V{_n(y_hi)}"
        values = [
            _ladder_value(gap.cx, y_hi - 6, step.queue_time_mean_s, "queue_time_mean", step),
            _ladder_value(box.cx, y_lo + 15, step.process_time_mean_s, "process_time_mean", step),
        ]
        if step.mark in (GONE, REMOVED):  # not "not observed": no visit in this window (or removed)
            values = [
                text(gap.cx, y_hi - 6, "\u2014", size=10, anchor="middle", fill=MUTED),
                text(box.cx, y_lo + 15, "\u2014", size=10, anchor="middle", fill=MUTED),
            ]
        parts.append(group("ladder-step", values, data={"step": step.step}))
    if observed:
        parts.insert(1, f'<path d="{d}" fill="none" stroke="{LINE}" stroke-width="1.5"/>')
    s = data.summary
    x = lay.box(len(lay.columns) - 1).right + 24 if observed else MARGIN
    box = Rect(x, y_hi - 16, TOTALS_W, 74)
    rows = [
        ("Lead time p50", fmt_duration(s.lead_time_p50_s), "lead_time_p50"),
        ("Lead time mean", fmt_duration(s.lead_time_mean_s), "lead_time_mean"),
        ("Process time per case", _observed(fmt_duration, s.process_time_mean_s), "process_time_per_case"),
        ("Flow efficiency", _observed(fmt_pct, s.flow_efficiency), "flow_efficiency"),
    ]
    totals = [rect(box, fill="#f1f3f5", stroke=LINE)]
    for k, (label, value, key) in enumerate(rows):
        totals += data_row(box.x + 8, TOTALS_W - 16, box.y + 17 + 16 * k, label, value, key)
    title = "Totals over completed cases: lead time, mean process time per case, flow efficiency"
    parts.append(group("ladder-totals", totals, title=title))
    return [group("ladder", parts)]


# ---------------------------------------------------------------- panels above the map

Panel = tuple[float, float, Callable[[float, float], list[str]]]  # width, height, draw at (x, y)


def _summary_panel(data: MapData) -> Panel:
    s = data.summary
    handoffs = "n/a" if s.handoffs_per_case is None else f"{s.handoffs_per_case:.2f}"
    verdict = "n/a" if s.verdict is None else f"{s.verdict} (ratio {fmt_ratio(s.ratio)})"
    rows = [
        ("Lead time p50", fmt_duration(s.lead_time_p50_s), "lead_time_p50"),
        ("Lead time p85", fmt_duration(s.lead_time_p85_s), "lead_time_p85"),
        ("Throughput", f"{fmt_amount(s.throughput_per_day)} / day", "throughput_per_day"),
        ("Average WIP", f"{fmt_amount(s.wip_avg)} cases", "wip_avg"),
        ("First-pass yield", fmt_pct(s.first_pass_yield), "first_pass_yield"),
        ("Handoffs per case", handoffs, "handoffs_per_case"),
    ]
    if s.littles_law:
        rows.insert(4, ("Little's Law", verdict, "littles_law"))
    if s.predicted:  # a future-state map: the figures the scenario predicts, nothing else
        said = dict(s.predicted)
        rows = [(label, said[key], key) for label, _, key in rows if key in said]
    w, h = (300 if not s.predicted else 420), 30 + 16 * len(rows)

    def draw(x: float, y: float) -> list[str]:
        parts = [
            rect(Rect(x, y, w, h), fill="#f8f9fa", stroke=LINE),
            text(x + 10, y + 18, "Summary", size=12, weight="bold"),
        ]
        for k, (label, value, key) in enumerate(rows):
            parts += data_row(x + 10, w - 20, y + 36 + 16 * k, label, fits(value, w - 130, 11), key)
        return [group("summary", parts, title=f"Little's Law: {s.why}" if s.why else "")]

    return w, h, draw


def _decision_lines(data: MapData, chars: int) -> list[str]:
    by_step: dict[str, list[Branch]] = {}
    for b in data.branches:
        by_step.setdefault(b.step, []).append(b)
    lines = []
    for step, branches in by_step.items():
        entry = f"{step} \u2192 " + ", ".join(f"{b.to_step} {fmt_pct(b.share)}" for b in branches)
        lines += wrap(entry, chars, 3)
    return lines


def _decision_panel(data: MapData, w: float) -> Panel | None:
    if not data.branches:
        return None
    longest = max(len(line) for line in _decision_lines(data, 10_000))
    w = min(w, max(360.0, 24 + longest * 10.5 * CHAR))
    lines = _decision_lines(data, int((w - 20) / (10.5 * CHAR)))
    if len(lines) > 12:
        lines = lines[:11] + [f"\u2026 {len(lines) - 11} more lines: see the decision_points table"]
    h = 30 + 14 * len(lines)

    def draw(x: float, y: float) -> list[str]:
        parts = [
            rect(Rect(x, y, w, h), fill="#ffffff", stroke=LINE),
            text(x + 10, y + 18, "Decision points: where work goes after a step", size=12, weight="bold"),
        ]
        parts += [text(x + 10, y + 35 + 14 * k, ln, size=10.5) for k, ln in enumerate(lines)]
        return [group("decision-points", parts)]

    return w, h, draw


def _legend_panel(data: MapData) -> Panel:
    split = any(
        s.queue_internal_mean_s is not None or s.queue_external_mean_s is not None for s in data.steps
    )
    top = f" (the {len(data.loops)} with most cases)" if len(data.loops) == MAX_REWORK_LOOPS else ""
    entries = [
        (
            "queue",
            "Queue before a step: cases waiting (average); queue time p50 / mean over all the step's "
            "visits (zero where one did not wait)"
            + ("; int. (our own queues) + ext. (waiting on customer / vendor) = mean" if split else ""),
        ),
        (
            "box",
            "Process step: top team, people, visits, process time per visit, first-pass yield "
            "(share of cases that visit it once)",
        ),
        (
            "entry",
            "Entry lanes: where cases start (each >= 5% of completed cases), with the share starting "
            "there and ending there (Done); dashed link: the share reaching it after starting elsewhere",
            bool(data.entry_lanes),
        ),
        ("side", "Side step, off the main path: its share of completed cases", bool(data.side_steps)),
        ("handoff", "Handoff: the top team changes between the steps", bool(data.handoffs)),
        ("decision", "Decision: share of the work leaving the step that goes that way", bool(data.branches)),
        ("rework", f"Rework loop: share of completed cases that go back{top}", bool(data.loops)),
    ]
    w = 340
    chars = int((w - 44) / (10 * CHAR))
    wrapped = [(kind, wrap(label, chars, 4)) for kind, label, *shown in entries if all(shown)]
    h = 30 + sum(13 * len(lines) + 5 for _, lines in wrapped)

    def glyph(kind: str, x: float, y: float) -> str:
        if kind == "queue":
            return triangle(x + 8, y - 10, 7, 12, fill=QUEUE_FILL, stroke=QUEUE_STROKE)
        if kind in ("box", "side"):
            return rect(
                Rect(x, y - 9, 16, 11),
                fill=HEAD_FILL if kind == "box" else SIDE_FILL,
                dash="" if kind == "box" else "3 2",
            )
        if kind == "entry":
            return (
                f'<path d="M{_n(x)},{_n(y - 8)} H{_n(x + 4)} V{_n(y + 2)} M{_n(x + 4)},{_n(y - 8)} '
                f'H{_n(x + 12)} M{_n(x + 4)},{_n(y + 2)} H{_n(x + 12)}" fill="none" stroke="{LINE}" '
                f'stroke-width="1.5"/>'
                + arrowhead(x + 16, y - 8, 0.0, size=5)
                + arrowhead(x + 16, y + 2, 0.0, size=5)
            )
        if kind == "handoff":
            return f'<circle cx="{_n(x + 8)}" cy="{_n(y - 4)}" r="6" fill="{HANDOFF}"/>' + text(
                x + 8, y - 1, "H", size=8, anchor="middle", weight="bold", fill="#fff"
            )
        if kind == "decision":
            return diamond(x + 8, y - 4, 5, fill="#fff", stroke=DECISION, width=1.5)
        return (
            f'<path d="M{_n(x + 14)},{_n(y + 1)} C{_n(x + 14)},{_n(y - 12)} {_n(x + 2)},{_n(y - 12)} '
            f'{_n(x + 2)},{_n(y - 2)}" fill="none" stroke="{REWORK}" stroke-width="1.5"/>'
        )

    def draw(x: float, y: float) -> list[str]:
        parts = [
            rect(Rect(x, y, w, h), fill="#ffffff", stroke="#ced4da"),
            text(x + 10, y + 18, "Legend", size=12, weight="bold"),
        ]
        row = y + 34
        for kind, lines in wrapped:
            parts.append(glyph(kind, x + 10, row))
            parts += [text(x + 34, row + 13 * k, ln, size=10, fill=LINE) for k, ln in enumerate(lines)]
            row += 13 * len(lines) + 5
        return [group("legend", parts)]

    return w, h, draw


def draw_panels(data: MapData, width: float, top: float) -> tuple[list[str], float]:
    """Summary, decision points and legend side by side; the decision points take the width
    left between the other two, or a row of their own when the map is narrow."""
    summary, legend = _summary_panel(data), _legend_panel(data)
    room = width - 2 * MARGIN - summary[0] - legend[0] - 32
    decisions = _decision_panel(data, min(room, 620) if room >= 380 else min(620.0, width - 2 * MARGIN))
    panels = [summary, decisions, legend] if room >= 380 else [summary, legend, decisions]
    parts, x, y, row_h = [], MARGIN, top, 0.0
    for w, h, draw in (p for p in panels if p):
        if x > MARGIN and x + w > width - MARGIN:
            x, y, row_h = MARGIN, y + row_h + 12, 0.0
        parts += draw(x, y)
        x, row_h = x + w + 16, max(row_h, h)
    return parts, y + row_h - top


# ---------------------------------------------------------------- the document


def _document(width: float, height: float, stream: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="vsm-map" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'width="{_n(width)}" height="{_n(height)}" role="img" aria-label="Value stream map: {esc(stream)}" '
        f'font-family="{FONT_STACK}" fill="{INK}">'
        f'<rect x="0" y="0" width="{_n(width)}" height="{_n(height)}" fill="#ffffff"/>'
        + "".join(body)
        + "</svg>\n"
    )


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment


def _plural(n: int, word: str) -> str:
    return f"{fmt_count(n)} {word}{'' if n == 1 else 's'}"


def _title(data: MapData) -> list[str]:
    parts = [text(MARGIN, 28, f"Value stream map: {data.stream}", size=17, weight="bold", cls="title")]
    s = data.summary
    if s is not None:
        as_of = f" \u00b7 as of {_utc(s.as_of):%Y-%m-%d %H:%M} UTC" if s.as_of is not None else ""
        if s.window not in (None, "all"):  # the measurement window the figures are of
            as_of += f" \u00b7 window {s.window}"
        lanes = data.entry_lanes
        starts = f"cases start in {len(lanes) + 1} entry lanes \u00b7 " if lanes else ""
        facts = [
            f"{s.log_shape} log \u00b7 {_plural(s.completed_cases or 0, 'completed case')}, "
            f"{fmt_count(s.open_cases)} open{as_of}",
            f"{starts}main path of {_plural(len(data.main_path), 'step')}, "
            f"{_plural(len(data.side_steps), 'side step')} \u00b7 times are per visit unless stated",
        ]
        parts += [
            text(MARGIN, 47 + 15 * k, f, size=11, fill=MUTED, cls="subtitle") for k, f in enumerate(facts)
        ]
    return parts


def placeholder(data: MapData) -> str:
    if data.summary is None:
        message = f"The flow has not been computed yet (vsm compute {data.stream})."
    else:
        message = "No completed cases yet: the map is drawn from the cases that have finished."
    title = len(f"Value stream map: {data.stream}") * 17 * CHAR
    width = max(640, MARGIN * 2 + max(len(message) * 13 * CHAR, title))
    body = [*_title(data), text(MARGIN, 84, message, size=13, cls="empty")]
    return _document(width, 110, data.stream, body)


def draw_map(data: MapData) -> str:
    if data.summary is None or not data.main_path:
        return placeholder(data)
    places = _side_places(data)
    panels, panels_h = draw_panels(data, _map_width(data, places), PANELS_Y)
    lay = layout(data, panels_h, places)
    arrow_y = lay.main_y + 22
    branches = {(b.step, b.to_step): b for b in data.branches}
    body = [*_title(data), *panels]
    body += draw_lane_links(lay, branches)
    body += draw_rework(lay, data)
    body += draw_flow(lay, data, arrow_y)
    for i, step in enumerate(lay.columns):
        body.append(draw_queue(step, lay.gap(i), arrow_y))
        body.append(draw_process(step, lay.box(i)))
    for lane in lay.lanes:
        box = lay.boxes[lane.step]
        body.append(draw_queue(lane, lay.queue(box), box.y + 22))
        body.append(draw_process(lane, box))
        if lane.end_share is not None:
            body.append(draw_lane_exit(lane, box))
    body += draw_decisions(lay, data, arrow_y)
    slots: dict[str | None, int] = {}
    again = {lp.from_step: lp for lp in data.loops if lp.from_step == lp.to_step}
    for side in data.side_steps:
        anchor = side.anchor_step if side.anchor_step in {s.step for s in lay.columns} else None
        slot = slots[anchor] = slots.get(anchor, -1) + 1
        body.append(
            draw_side(
                side,
                lay.boxes[side.step],
                lay.boxes.get(anchor) if anchor else None,
                slot,
                branches.get((anchor, side.step)),
                again.get(side.step),
                past_lanes=bool(lay.lanes) and anchor == lay.columns[0].step,
                bus=lay.side_y - BUS_DROP if side.step in lay.wrapped else None,
            )
        )
    body += draw_ladder(lay, data)
    return _document(lay.width, lay.height, data.stream, body)
