"""The package's layers, read from the import graph: dependencies one way, no circles.

From the ground up: ``schema`` (the config schema, the packaged configs, the tidy table), ``core``
(population, market, policies, agents, the model and its recorder), ``views`` (figures drawn from
tidy tables), ``experiments`` (one run, sweeps, aggregation, the Hydra glue), ``studies``
(moments, estimation, calibration, forecast, sensitivity, validation), and the faces on top (the
CLI, ``sim.api``, the dashboard). A module may import its own layer and the layers below it.
Imports under ``if TYPE_CHECKING:`` are annotations only and are not edges.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sim"
LAYERS = ("schema", "core", "views", "experiments", "studies", "faces")
FACES = {"sim.api", "sim.app", "sim.__main__"}
# What each layer may not import, lazily or not: the core runs from a plain script, a notebook or
# a Solara page without Hydra, and the figures read tables without orchestration libraries.
FORBIDDEN = {
    "schema": {"hydra", "matplotlib", "optuna", "SALib", "joblib"},
    "core": {"hydra", "omegaconf", "matplotlib", "optuna", "SALib", "joblib"},
    "views": {"hydra", "omegaconf", "optuna", "SALib", "joblib"},
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    """The layer's rank (0 is the ground); the package's own ``__init__`` sits at the ground."""
    if module in FACES:
        return LAYERS.index("faces")
    if module == "sim":
        return 0
    name = module.split(".")[1]
    if name not in LAYERS:
        raise AssertionError(f"{module} is in no layer: put it in one of {', '.join(LAYERS)}")
    return LAYERS.index(name)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(source: str) -> list[str]:
    """Every module the source imports, at the top or inside a function, except under
    ``if TYPE_CHECKING:``; ``from a import b`` gives ``a.b`` too (b may be a module)."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module to the package's modules it imports (third-party names kept as their top name)."""
    paths = [p for p in root.rglob("*.py") if "conf" not in p.relative_to(root).parts]
    modules = {module_name(p, root): p for p in paths}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for target in imports_of(path.read_text()):
            top = target.split(".")[0]
            if top != root.name:
                edges.add(top)
            elif target in modules and target != name:
                edges.add(target)
        graph[name] = edges
    return graph


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{a} -> {b}"
        for a, targets in sorted(graph.items())
        for b in sorted(targets)
        if b in graph and layer_of(b) > layer_of(a)
    ]


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def forbidden_imports(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for module, targets in sorted(graph.items()):
        layer = LAYERS[layer_of(module)]
        out += [f"{module} imports {t}" for t in sorted(targets & FORBIDDEN.get(layer, set()))]
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(PACKAGE)


def test_every_module_is_in_a_layer(graph: dict[str, set[str]]) -> None:
    for module in graph:
        layer_of(module)  # raises for a module outside the layers
    assert {m.split(".")[1] for m in graph if m.count(".") >= 1 and m not in FACES} == set(LAYERS)


def test_dependencies_run_one_way(graph: dict[str, set[str]]) -> None:
    assert upward_imports(graph) == []


def test_the_package_has_no_import_circle(graph: dict[str, set[str]]) -> None:
    assert circles(graph) == []


def test_lower_layers_import_no_orchestration_library(graph: dict[str, set[str]]) -> None:
    assert forbidden_imports(graph) == []


def test_the_checks_find_a_circle_an_upward_import_and_a_forbidden_library(tmp_path: Path) -> None:
    """The checks above on a small package with one fault of each kind, so they cannot pass by
    reading nothing."""
    root = tmp_path / "sim"
    for folder in LAYERS:
        (root / folder).mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "schema" / "config.py").write_text("from sim.schema.tables import metric_frame\n")
    (root / "schema" / "tables.py").write_text("def f():\n    from sim.schema import config\n")
    (root / "core" / "model.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sim.studies.fit import x\n"
        "import numpy\n"
    )
    (root / "core" / "market.py").write_text("def draw():\n    import matplotlib.pyplot\n")
    (root / "views" / "figures.py").write_text("from sim.experiments import run\n")
    (root / "experiments" / "run.py").write_text("from sim.core.model import EcommerceModel\n")
    fake = import_graph(root)
    assert circles(fake) == [["sim.schema.config", "sim.schema.tables"]]
    assert upward_imports(fake) == ["sim.views.figures -> sim.experiments.run"]  # not the TYPE_CHECKING one
    assert forbidden_imports(fake) == ["sim.core.market imports matplotlib"]


def test_the_figures_and_the_model_load_no_hydra() -> None:
    code = (
        "import sys\n"
        "import sim.views.figures, sim.core.model, sim.schema.tables\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'hydra', 'omegaconf', 'optuna', 'SALib',"
        " 'joblib'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
