"""Imports in llama_lab/ run one way: down the layers, never in a circle.

Every module under llama_lab/ is read with `ast` (nothing is imported or run), and every import of a llama_lab
module is collected, at module level and inside functions alike: `import llama_lab.x`, `from llama_lab.x import y`,
`from llama_lab import x`, the relative forms (`from . import x`, `from ..x import y`), and module names written as
plain strings in `importlib.import_module("...")`, `runpy.run_module("...")` and `__import__("...")`.

An import names one module: `from llama_lab.world import evaluate` is an edge to llama_lab.world.evaluate (a
submodule), `from llama_lab.world import WhosWho` an edge to llama_lab.world (the package's __init__). The packages
above the named module, which Python runs first, are not counted as edges: otherwise every package's __init__
would stand above everything in it.

LAYERS is the package's architecture, from the bottom: a module may import modules of its own layer or of lower
ones, never of a higher one. A layer is a list of module prefixes: "llama_lab.checkpoint" covers
llama_lab/checkpoint.py and everything in a llama_lab/checkpoint/ package; the longest prefix that covers a module
gives its layer.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import REPO

PACKAGE = "llama_lab"
ROOT = REPO / PACKAGE

LAYERS: list[tuple[str, list[str]]] = [
    ("core: the model, the tokenizer and what turns ids into text", [
        "llama_lab.model", "llama_lab.tokenizer", "llama_lab.files", "llama_lab.seeds", "llama_lab.progress",
        "llama_lab.cli", "llama_lab.tables", "llama_lab.sampling", "llama_lab.chat", "llama_lab.hooks",
        "llama_lab.generate", "llama_lab.replies", "llama_lab.bpe", "llama_lab.modules", "llama_lab.optim"]),
    ("weights: checkpoints, quantization, LoRA adapters, the fast decoder, and the package's front door", [
        "llama_lab.checkpoint", "llama_lab.packing", "llama_lab.nf4", "llama_lab.quantize", "llama_lab.lora",
        "llama_lab.fast", "llama_lab"]),  # llama_lab/__init__.py re-exports load_model and quantize_model
    ("training", ["llama_lab.parallel", "llama_lab.train"]),
    ("the tiny world", ["llama_lab.world"]),
    ("RLHF", ["llama_lab.rlhf"]),
    ("the course: what the notebooks call", ["llama_lab.course"]),
    # the RLHF command runs every stage and then measures each model with the course's safety table
    ("entry points: grading, benchmarks and the commands that wire the layers together", [
        "llama_lab.grading", "llama_lab.bench", "llama_lab.evaluate", "llama_lab.grade", "llama_lab.assignments",
        "llama_lab.commands", "llama_lab.rlhf.pipeline", "llama_lab.finetune"]),
]

DYNAMIC_IMPORTS = {"import_module", "run_module", "__import__"}  # calls whose first argument names a module


@dataclass(frozen=True)
class Edge:
    """`importer` imports `imported`, at `where` ("llama_lab/world/build.py:31")."""

    importer: str
    imported: str
    where: str

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported}  ({self.where})"


def module_names(root: Path) -> dict[str, Path]:
    """{dotted module name: file} for every .py file under the package folder `root`; a package's __init__.py is
    named for its package ("llama_lab/world/__init__.py" -> "llama_lab.world")."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _named_module(name: str, modules: dict[str, Path]) -> str | None:
    """The package's module that an import of `name` runs last: `name` itself when it is a module, else the longest
    module above it (`llama_lab.world.evaluate.replies` -> llama_lab.world.evaluate); None outside the package."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(module: str, modules: dict[str, Path], root: Path) -> list[Edge]:
    """Every import of one of `modules` that `module`'s source (in the package folder `root`) makes, anywhere in
    the file."""
    path = modules[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if _is_package(module, modules) else module.rpartition(".")[0]
    where = path.relative_to(root.parent).as_posix()
    edges = []

    def add(name: str, node: ast.AST) -> None:
        target = _named_module(name, modules)
        edge = Edge(module, target, f"{where}:{node.lineno}")
        if target is not None and target != module and edge not in edges:  # `from x import a, b` is one edge
            edges.append(edge)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[:len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module
            for alias in node.names:  # `from x import y`: y is a submodule, or a name defined in x
                submodule = f"{base}.{alias.name}"
                add(submodule if submodule in modules else base, node)
        elif isinstance(node, ast.Call):
            function = node.func
            called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
            if called in DYNAMIC_IMPORTS and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                add(node.args[0].value, node)
    return edges


def import_graph(root: Path = ROOT) -> tuple[dict[str, Path], list[Edge]]:
    modules = module_names(root)
    edges = [edge for module in modules for edge in imports_of(module, modules, root)]
    return modules, edges


def cycles(modules, edges: list[Edge]) -> list[list[Edge]]:
    """One cycle through each strongly connected group of modules (Tarjan), as the edges that close it."""
    graph: dict[str, dict[str, Edge]] = {m: {} for m in modules}
    for edge in edges:
        graph[edge.importer].setdefault(edge.imported, edge)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # recursion depth is bounded by the number of modules (about a hundred)
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)

    found = []
    for group in groups:
        if len(group) < 2:
            continue
        members, start = set(group), min(group)
        # breadth-first from `start` inside the group, back to `start`: the shortest circle through it
        came_from: dict[str, Edge] = {}
        frontier = [start]
        while frontier and start not in came_from:
            following = []
            for node in frontier:
                for successor, edge in sorted(graph[node].items()):
                    if successor in members and successor not in came_from:
                        came_from[successor] = edge
                        following.append(successor)
            frontier = following
        circle, node = [], start
        while True:
            edge = came_from[node]
            circle.append(edge)
            node = edge.importer
            if node == start:
                break
        found.append(circle[::-1])
    return found


def placed_by(module: str, layers=LAYERS) -> tuple[int, str]:
    """(index in `layers`, prefix): the layer whose prefix covers `module` most closely, and that prefix."""
    matches = [(len(prefix), number, prefix) for number, (_, prefixes) in enumerate(layers) for prefix in prefixes
               if module == prefix or module.startswith(prefix + ".")]
    if not matches:
        raise ValueError(f"{module} is in no layer of LAYERS: add its prefix to the layer it belongs to")
    _, number, prefix = max(matches)
    return number, prefix


def layer_of(module: str, layers=LAYERS) -> int:
    """The index in `layers` of the layer whose longest prefix covers `module`."""
    return placed_by(module, layers)[0]


def upward_edges(edges: list[Edge], layers=LAYERS) -> list[str]:
    """The imports of a higher layer, each as one line that names both layers."""
    lines = []
    for edge in edges:
        low, high = layer_of(edge.importer, layers), layer_of(edge.imported, layers)
        if high > low:
            lines.append(f"{edge}: layer {low} ({layers[low][0]}) imports layer {high} ({layers[high][0]})")
    return lines


def _report(title: str, lines: list[str]) -> str:
    return f"{title} ({len(lines)}):\n  " + "\n  ".join(lines)


# ------------------------------------------------------------------------------------------------ the package

def test_the_package_imports_nothing_in_a_circle():
    modules, edges = import_graph()
    found = cycles(modules, edges)
    lines = [" -> ".join([circle[0].importer] + [e.imported for e in circle]) + "\n      "
             + "\n      ".join(str(e) for e in circle) for circle in found]
    assert not found, _report("circular imports in llama_lab/ (each circle, then the lines that make it)", lines)


def test_every_module_imports_only_its_own_layer_or_lower_ones():
    _, edges = import_graph()
    lines = upward_edges(edges)
    assert not lines, _report("imports of a higher layer (move what both need below both)", lines)


def test_every_module_is_placed_in_a_layer_by_its_own_prefix():
    """Only llama_lab/__init__.py itself is placed by the bare prefix "llama_lab"; a new module it alone covers
    would land in the front door's layer unnoticed."""
    modules = module_names(ROOT)
    assert len(modules) > 50  # the whole package was read
    strays = [m for m in modules if m != PACKAGE and placed_by(m)[1] == PACKAGE]
    assert not strays, f"modules that only the prefix {PACKAGE!r} covers; give each its layer in LAYERS: {strays}"


def test_the_collected_imports_include_the_relative_and_function_level_forms():
    """Imports the package is known to make, in each of the forms the graph must see (the string form is checked
    on a made-up package below)."""
    _, edges = import_graph()
    pairs = {(e.importer, e.imported) for e in edges}
    assert ("llama_lab.world.build", "llama_lab.train") in pairs  # from .. import train
    assert ("llama_lab.world.evaluate", "llama_lab.world.corpus_settings") in pairs  # from . import corpus_settings
    assert ("llama_lab.course.widgets.sampling_playground", "llama_lab.sampling") in pairs  # from ... import sampling
    assert ("llama_lab.chat", "llama_lab.generate") in pairs  # inside chat(): from .generate import generate_tokens


# ------------------------------------------------------------------------------------------------ the checker itself

def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / PACKAGE
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root


def test_a_circle_hidden_inside_a_function_is_found_and_named(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "world/__init__.py": "",
        "world/build.py": "from . import evaluate\n",
        "world/evaluate.py": "def card():\n    from .build import CORPUS\n    return CORPUS\n",
        "model.py": "import torch\n",
    })
    modules, edges = import_graph(root)
    found = cycles(modules, edges)
    assert len(found) == 1
    circle = found[0]
    assert [(e.importer, e.imported) for e in circle] == [
        ("llama_lab.world.build", "llama_lab.world.evaluate"), ("llama_lab.world.evaluate", "llama_lab.world.build")]
    assert circle[1].where.endswith("llama_lab/world/evaluate.py:2")


def test_a_three_module_circle_is_reported_once(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "import llama_lab.b\n",
        "b.py": "from llama_lab import c\n",
        "c.py": "from .a import thing\n",
        "d.py": "from . import a\n",  # imports into the circle, not part of it
    })
    modules, edges = import_graph(root)
    found = cycles(modules, edges)
    assert [[e.importer for e in circle] for circle in found] == [["llama_lab.a", "llama_lab.b", "llama_lab.c"]]


def test_an_upward_import_names_both_modules_layers_and_the_line(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "hooks.py": "import os\nfrom .course.safety import attention_to_system\n",
        "course/__init__.py": "",
        "course/safety.py": "from ..hooks import attention_patterns\n",
        "rlhf/__init__.py": "",
        "rlhf/gatt.py": "import importlib\nimportlib.import_module('llama_lab.course.safety')\n",
        "checkpoint/__init__.py": "from .formats import load\n",
        "checkpoint/formats.py": "from ..model import Llama\n",
        "model.py": "",
    })
    _, edges = import_graph(root)
    lines = upward_edges(edges)
    assert lines == [
        "llama_lab.hooks -> llama_lab.course.safety  (llama_lab/hooks.py:2): layer 0 (core: the model, the tokenizer "
        "and what turns ids into text) imports layer 5 (the course: what the notebooks call)",
        "llama_lab.rlhf.gatt -> llama_lab.course.safety  (llama_lab/rlhf/gatt.py:2): layer 4 (RLHF) imports layer 5 "
        "(the course: what the notebooks call)",
    ]
    assert layer_of("llama_lab.checkpoint.formats") == layer_of("llama_lab.checkpoint") == 1


def test_a_module_outside_every_layer_is_an_error():
    with pytest.raises(ValueError, match="llama_lab_extra.x is in no layer"):
        layer_of("llama_lab_extra.x")
