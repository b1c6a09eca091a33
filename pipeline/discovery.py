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
import __future__

import builtins
import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import SimpleNamespace

import polars as pl

from pipeline.quick_imports import collector_paused

STEP_SEPARATOR = " > "  # as in variants.steps
DEFAULT_NOISE_THRESHOLD = 0.2  # pm4py's documented example for IMf; keeps 1-in-5 exceptions out of the model

_preloading: threading.Thread | None = None


def preload() -> None:
    """Start importing pm4py in a background thread, once per process.

    The import costs about half a second of CPU (the parts of pm4py `_pm4py` takes, with
    pandas and networkx), and discovery comes last in a run; started before the load
    (pipeline/streams.py) or when the flow starts (`vsm compute`), it runs while polars and
    DuckDB (which release the GIL) work, so a run does not wait for it. A discovery that
    comes first waits for it to finish (`_await_preload`). Not a daemon: the process waits
    for the import rather than exiting in the middle of one."""
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
        _pm4py()
    except Exception:  # noqa: BLE001 - the real import in discover_model reports it
        pass


@cache
def _pm4py() -> SimpleNamespace:
    """The parts of pm4py that discovery and write_model call, imported without pm4py's
    package `__init__` files.

    `import pm4py` runs pm4py/__init__.py, which imports nearly all of pm4py and with it
    pandas, scipy, matplotlib and networkx: 1.5 s of CPU in every run, three times what the
    modules below and theirs take (0.45 s, most of it pandas and networkx, which they
    import themselves). So pm4py's packages are loaded bare for this import (`_BarePackages`):
    a package's `__init__` runs only when something later asks the package for a name that is
    not one of its submodules (`pm4py.read_xes` in a test), and then runs whole, so pm4py
    used elsewhere in the process behaves as if imported the usual way. The calls are those
    pm4py's own entry points make for a process tree (pm4py.convert_to_bpmn,
    convert_to_petri_net, write_bpmn, write_pnml)."""
    with _BarePackages.installed(), collector_paused():
        from pm4py.algo.discovery.inductive.dtypes import im_ds
        from pm4py.algo.discovery.inductive.variants import im, imf
        from pm4py.objects.bpmn import obj as bpmn_obj
        from pm4py.objects.bpmn.exporter import exporter as bpmn_exporter
        from pm4py.objects.conversion.process_tree.variants import to_bpmn, to_petri_net
        from pm4py.objects.petri_net.exporter import exporter as pnml_exporter
        from pm4py.objects.process_tree import obj as tree_obj
        from pm4py.objects.process_tree.utils import generic as tree_utils
        from pm4py.util import constants
    return SimpleNamespace(
        IMDataStructureUVCL=im_ds.IMDataStructureUVCL,
        IMUVCL=im.IMUVCL,
        IMFUVCL=imf.IMFUVCL,
        BPMN=bpmn_obj.BPMN,
        Operator=tree_obj.Operator,
        ProcessTree=tree_obj.ProcessTree,
        tree_utils=tree_utils,
        to_bpmn=to_bpmn,
        to_petri_net=to_petri_net,
        bpmn_exporter=bpmn_exporter,
        pnml_exporter=pnml_exporter,
        encoding=constants.DEFAULT_ENCODING,
    )


class _BarePackages(importlib.abc.MetaPathFinder):
    """While installed: a pm4py package that is not imported yet is made without running its
    `__init__`; its modules import as usual. The package runs its `__init__` on the first
    look-up of a name it does not hold that is not a submodule (`_complete_on_demand`)."""

    _lock = threading.Lock()

    def find_spec(self, name, path, target=None):
        if name != "pm4py" and not name.startswith("pm4py."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        if spec.submodule_search_locations is None:  # a module, not a package
            if name in _PANDAS_IN_ANNOTATIONS_ONLY and isinstance(
                spec.loader, importlib.machinery.SourceFileLoader
            ):
                spec.loader = _PandasOnUseLoader(spec.loader)
            return spec  # else as usual
        spec.loader = _BareLoader(spec.loader)
        return spec

    @classmethod
    @contextmanager
    def installed(cls):
        finder = cls()
        with cls._lock:
            sys.meta_path.insert(0, finder)
            try:
                yield
            finally:
                sys.meta_path.remove(finder)


class _BareLoader(importlib.abc.Loader):
    def __init__(self, loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        return None  # the default module

    def exec_module(self, module) -> None:
        module.__getattr__ = _complete_on_demand(module, self.loader)


# The pm4py modules discovery loads that import pandas only to name pandas.DataFrame in their
# functions' annotations (pm4py/util/compression/util.py: `log: Union[EventLog, pd.DataFrame]`).
# pandas is 0.28 of the 0.43 CPU-seconds the import of pm4py's parts takes, and nothing
# discovery calls uses it.
_PANDAS_IN_ANNOTATIONS_ONLY = frozenset({"pm4py.util.compression.util"})


class _PandasOnUseLoader(importlib.abc.Loader):
    """Runs a module of _PANDAS_IN_ANNOTATIONS_ONLY with its annotations left unevaluated
    (as `from __future__ import annotations` would) and its `import pandas` bound to a stand-in
    that imports pandas on the first look-up of a name in it: pandas loads when a function of
    the module really uses it (a pandas frame passed in: `pd.DataFrame` looked up), never for
    the import alone. Where pandas is imported already, the module gets pandas itself."""

    def __init__(self, loader: importlib.machinery.SourceFileLoader) -> None:
        self.loader = loader

    def create_module(self, spec):
        return None  # the default module

    def exec_module(self, module) -> None:
        name = module.__name__
        code = compile(
            self.loader.get_source(name),
            self.loader.get_filename(name),
            "exec",
            flags=__future__.annotations.compiler_flag,
            dont_inherit=True,
        )
        module.__builtins__ = {**builtins.__dict__, "__import__": _import_pandas_on_use}
        exec(code, module.__dict__)


def _import_pandas_on_use(name, globals=None, locals=None, fromlist=(), level=0):
    if name == "pandas" and not fromlist and not level and "pandas" not in sys.modules:
        return _ImportedOnUse("pandas")
    return builtins.__import__(name, globals, locals, fromlist, level)


class _ImportedOnUse(types.ModuleType):
    """A module's stand-in: the first name looked up in it imports the module itself."""

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self.__name__), attr)


def _complete_on_demand(package, loader):
    """The bare package's module `__getattr__` (PEP 562): a submodule is imported alone (as
    `from package import submodule` does); any other name runs the package's `__init__`
    (once, in the package's own namespace, where its submodules already are) and is read
    from it."""
    lock = threading.Lock()

    def __getattr__(attr: str):
        full = f"{package.__name__}.{attr}"
        if attr.startswith("__") and attr != "__all__":
            raise AttributeError(f"module {package.__name__!r} has no attribute {attr!r}")
        if importlib.machinery.PathFinder.find_spec(full, package.__path__) is not None:
            return importlib.import_module(full)
        with lock:
            if package.__dict__.get("__getattr__") is __getattr__:
                del package.__getattr__
                loader.exec_module(package)
        try:
            return package.__dict__[attr]
        except KeyError:
            raise AttributeError(f"module {package.__name__!r} has no attribute {attr!r}") from None

    return __getattr__


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
    pm4py = _pm4py()
    parameters = {"noise_threshold": noise_threshold}
    miner = pm4py.IMFUVCL(parameters) if noise_threshold > 0 else pm4py.IMUVCL(parameters)
    tree = miner.apply(pm4py.IMDataStructureUVCL(log), parameters)
    tree = pm4py.tree_utils.fold(tree)
    pm4py.tree_utils.tree_sort(tree)
    return tree


def _from_pm4py(node) -> TreeNode:
    if node.operator is None:
        return TreeNode(label=node.label)
    return TreeNode(_FROM_PM4PY[node.operator.value], None, tuple(_from_pm4py(c) for c in node.children))


def _to_pm4py(node: TreeNode, parent=None):  # from write_model, which awaits the import
    Operator, ProcessTree = _pm4py().Operator, _pm4py().ProcessTree
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
    pm4py = _pm4py()
    folder.mkdir(parents=True, exist_ok=True)
    tree = _to_pm4py(model.tree)
    bpmn_path, pnml_path = folder / f"{stream}.bpmn", folder / f"{stream}.pnml"
    bpmn = pm4py.to_bpmn.apply(tree)
    _layout_bpmn(bpmn)
    pm4py.bpmn_exporter.apply(bpmn, str(bpmn_path), parameters={"encoding": pm4py.encoding})
    net, initial, final = pm4py.to_petri_net.apply(tree)
    pm4py.pnml_exporter.apply(
        net, initial, str(pnml_path), final_marking=final, parameters={"encoding": pm4py.encoding}
    )
    return [bpmn_path, pnml_path]


_COLUMN_WIDTH, _ROW_HEIGHT = 160, 120


def _layout_bpmn(bpmn) -> None:
    """Columns by longest distance from the start (back arcs ignored), rows in order of arrival."""
    BPMN = _pm4py().BPMN
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
