"""Process discovery: the one door to pm4py.

pm4py is AGPL-3.0. This is the only module that imports it, always inside a function, so
that importing `pipeline` never loads it and its exposure stays in one visible place. What
goes in and out are our own types: a polars frame of variants in, a `Model` (a small tree of
frozen dataclasses) out; BPMN and PNML files are written from that `Model`.

Discovery runs on the variants, never on events: pm4py's inductive miner works on a
"variant-compressed log" (each distinct step sequence once, with its count), which we build
straight from the `variants` table, so it costs the same for 10 thousand or 10 million
events with the same variants.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

STEP_SEPARATOR = " > "  # as in variants.steps
DEFAULT_NOISE_THRESHOLD = 0.2  # pm4py's documented example for IMf; keeps 1-in-5 exceptions out of the model

_preloading: threading.Thread | None = None


def preload() -> None:
    """Start importing pm4py in a background thread, once per process.

    The import costs about a second (pm4py loads pandas and much else), and discovery comes
    last in a run; started before the load (pipeline/streams.py) or when the flow starts
    (`vsm compute`), it runs while polars and DuckDB (which release the GIL) work, so a run
    does not wait for it. A discovery that comes first waits for it to finish
    (`_await_preload`). Not a daemon: the process waits for the import rather than exiting
    in the middle of one."""
    global _preloading
    if _preloading is None:
        _preloading = threading.Thread(target=_import_pm4py, name="pm4py-preload")
        _preloading.start()


def _await_preload() -> None:
    """Wait for the background import, if one runs, before importing from pm4py here. Two
    threads importing pm4py's interlinked packages at once can each hold a module the other
    needs: Python then raises _DeadlockError in one of them (seen on a small log, whose
    flow reaches discovery within the second the import takes)."""
    if _preloading is not None:
        _preloading.join()


def _import_pm4py() -> None:
    try:
        import pm4py  # noqa: F401
        import pm4py.algo.discovery.inductive.variants.imf  # noqa: F401
    except Exception:  # noqa: BLE001 - the real import in discover_model reports it
        pass


SEQUENCE, XOR, PARALLEL, LOOP, OR, INTERLEAVING = "sequence", "xor", "parallel", "loop", "or", "interleaving"
_FROM_PM4PY = {"->": SEQUENCE, "X": XOR, "+": PARALLEL, "*": LOOP, "O": OR, "<>": INTERLEAVING}
_TEXT = {SEQUENCE: "->", XOR: "X", PARALLEL: "+", LOOP: "*", OR: "O", INTERLEAVING: "<>"}


@dataclass(frozen=True)
class TreeNode:
    """A process tree node: an operator over children, or a leaf (a step; `label` None = silent step).

    A `loop` node's first child is the body, the others are the redo parts (the work that sends
    the case back to the body).
    """

    operator: str | None = None
    label: str | None = None
    children: tuple[TreeNode, ...] = ()

    def steps(self) -> list[str]:
        """The step labels under this node, left to right."""
        if self.operator is None:
            return [] if self.label is None else [self.label]
        return [s for child in self.children for s in child.steps()]

    def __str__(self) -> str:
        if self.operator is None:
            return "tau" if self.label is None else repr(self.label)
        return f"{_TEXT[self.operator]}( {', '.join(str(c) for c in self.children)} )"


@dataclass(frozen=True)
class Model:
    """A discovered process model of one stream (inductive miner, infrequent variant)."""

    tree: TreeNode
    noise_threshold: float
    cases: int  # completed cases the model was discovered from
    variants: int
    steps: tuple[str, ...] = field(default=())

    def parallel_pairs(self) -> set[frozenset[str]]:
        """Pairs of steps whose closest common operator is parallel: the model lets them run in any order."""
        pairs: set[frozenset[str]] = set()
        _collect_parallel(self.tree, pairs)
        return pairs


def _collect_parallel(node: TreeNode, pairs: set[frozenset[str]]) -> None:
    if node.operator == PARALLEL:
        below = [child.steps() for child in node.children]
        for i, left in enumerate(below):
            for right in below[i + 1 :]:
                pairs.update(frozenset((a, b)) for a in left for b in right if a != b)
    for child in node.children:
        _collect_parallel(child, pairs)


def split_steps(steps: str) -> tuple[str, ...]:
    """A `variants.steps` text as a tuple of steps ('' is a case with no step)."""
    return tuple(steps.split(STEP_SEPARATOR)) if steps else ()


def discover_model(variants: pl.DataFrame, noise_threshold: float = DEFAULT_NOISE_THRESHOLD) -> Model:
    """Discover a process tree from variants with pm4py's inductive miner.

    `variants` needs `steps` (String: step names joined by ' > ', as in the `variants` table)
    and `cases` (integer count). With `noise_threshold` > 0 the infrequent variant (IMf) runs:
    directly-follows edges carrying less than that share of their source's most frequent
    edge are ignored, so rare behaviour does not turn the model into a flower. 0 runs the
    plain inductive miner, which fits every variant.
    """
    log = Counter()
    for steps, cases in variants.select("steps", "cases").iter_rows():
        if cases:
            log[split_steps(steps)] += int(cases)
    cases = sum(log.values())
    if not log:
        return Model(TreeNode(), noise_threshold, 0, 0)
    tree = _from_pm4py(_inductive_miner(log, noise_threshold))
    return Model(tree, noise_threshold, cases, len(log), tuple(sorted(set(tree.steps()))))


def _inductive_miner(log: Counter, noise_threshold: float):
    # pm4py's own entry points accept a Counter of traces only through a type check that a plain
    # Counter fails (it then treats it as a DataFrame), so the miner classes are called directly:
    # the same steps as pm4py.algo.discovery.inductive.algorithm.apply for a variant log.
    _await_preload()
    from pm4py.algo.discovery.inductive.dtypes.im_ds import IMDataStructureUVCL
    from pm4py.algo.discovery.inductive.variants.im import IMUVCL
    from pm4py.algo.discovery.inductive.variants.imf import IMFUVCL
    from pm4py.objects.process_tree.utils import generic as pt_util

    parameters = {"noise_threshold": noise_threshold}
    miner = IMFUVCL(parameters) if noise_threshold > 0 else IMUVCL(parameters)
    tree = miner.apply(IMDataStructureUVCL(log), parameters)
    tree = pt_util.fold(tree)
    pt_util.tree_sort(tree)
    return tree


def _from_pm4py(node) -> TreeNode:
    if node.operator is None:
        return TreeNode(label=node.label)
    return TreeNode(_FROM_PM4PY[node.operator.value], None, tuple(_from_pm4py(c) for c in node.children))


def _to_pm4py(node: TreeNode, parent=None):  # from write_model, which awaits the import
    from pm4py.objects.process_tree.obj import Operator, ProcessTree

    if node.operator is None:
        return ProcessTree(parent=parent, label=node.label)
    tree = ProcessTree(operator=Operator(_TEXT[node.operator]), parent=parent)
    tree.children.extend(_to_pm4py(child, tree) for child in node.children)
    return tree


def write_model(model: Model, folder: Path, stream: str) -> list[Path]:
    """Write the model as `<folder>/<stream>.bpmn` and `<stream>.pnml`; return the paths.

    The BPMN gets a simple left-to-right layered layout of our own, because pm4py's layout
    needs the graphviz binaries, which a server may not have.
    """
    _await_preload()
    import pm4py

    folder.mkdir(parents=True, exist_ok=True)
    tree = _to_pm4py(model.tree)
    bpmn_path, pnml_path = folder / f"{stream}.bpmn", folder / f"{stream}.pnml"
    bpmn = pm4py.convert_to_bpmn(tree)
    _layout_bpmn(bpmn)
    pm4py.write_bpmn(bpmn, str(bpmn_path), auto_layout=False)
    net, initial, final = pm4py.convert_to_petri_net(tree)
    pm4py.write_pnml(net, initial, final, str(pnml_path))
    return [bpmn_path, pnml_path]


_COLUMN_WIDTH, _ROW_HEIGHT = 160, 120


def _layout_bpmn(bpmn) -> None:
    """Columns by longest distance from the start (back arcs ignored), rows in order of arrival."""
    from pm4py.objects.bpmn.obj import BPMN

    nodes = sorted(bpmn.get_nodes(), key=lambda n: (n.get_name() or "", n.get_id()))
    outgoing: dict = {n: [] for n in nodes}
    incoming: dict = {n: 0 for n in nodes}
    for flow in bpmn.get_flows():
        outgoing[flow.get_source()].append(flow.get_target())
    forward = _forward_arcs(nodes, outgoing, [n for n in nodes if isinstance(n, BPMN.StartEvent)])
    for _, target in forward:
        incoming[target] += 1
    column = {n: 0 for n in nodes}
    ready = [n for n in nodes if incoming[n] == 0]
    while ready:  # Kahn's order over the forward arcs: a node's column is after all its predecessors
        node = ready.pop(0)
        for source, target in forward:
            if source is node:
                column[target] = max(column[target], column[node] + 1)
                incoming[target] -= 1
                if incoming[target] == 0:
                    ready.append(target)
    rows: Counter = Counter()
    layout = bpmn.get_layout()
    for node in nodes:
        size = 100 if isinstance(node, BPMN.Task) else 40
        box = layout.get(node)
        box.set_width(size)
        box.set_height(size * 0.6 if size == 100 else size)
        box.set_x(column[node] * _COLUMN_WIDTH + (100 - size) / 2)
        box.set_y(rows[column[node]] * _ROW_HEIGHT + (60 - box.get_height()) / 2)
        rows[column[node]] += 1
    for flow in bpmn.get_flows():
        source, target = layout.get(flow.get_source()), layout.get(flow.get_target())
        edge = layout.get(flow)
        edge.del_waypoints()
        edge.add_waypoint((source.get_x() + source.get_width(), source.get_y() + source.get_height() / 2))
        edge.add_waypoint((target.get_x(), target.get_y() + target.get_height() / 2))


def _forward_arcs(nodes, outgoing, starts) -> list:
    """Arcs of a depth-first walk from the start events that do not close a cycle."""
    state: dict = {}
    forward = []
    for root in starts + nodes:
        if root in state:
            continue
        stack = [(root, iter(outgoing[root]))]
        state[root] = "open"
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = "done"
                stack.pop()
            elif state.get(child) != "open":
                forward.append((node, child))
                if child not in state:
                    state[child] = "open"
                    stack.append((child, iter(outgoing[child])))
    return forward
