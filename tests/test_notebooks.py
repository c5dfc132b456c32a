"""The notebooks run top to bottom in a fresh kernel at a small scale, so they never rot.

Each notebook takes its scale from one cell tagged ``parameters``; as papermill does, the test
adds a cell after it that sets the small scale below, then runs every cell in a working directory
of its own (notebooks write under ``results/`` relative to where they run).
"""

from __future__ import annotations

import ast
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

from tests.conftest import ROOT

NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = ["01_quickstart.ipynb", "02_policy_experiments.ipynb", "03_sweeps_and_scale.ipynb"]
# One job at a time: the two notebooks run at once on the suite's two workers, so a process pool
# in each would only add its workers' start-up (about 5 s of CPU a sweep) and share the same cores.
SMALL = {"SHOPPERS": 2000, "MSMES": 500, "SEEDS": 2, "N_JOBS": 1}
SCALE_NAMES = {"SHOPPERS", "MSMES"}
CELL_TIMEOUT = 600  # seconds a cell may run, and wait for its outputs after its reply
ABSOLUTE_PATH = re.compile(r"^(/[\w.~-]|~/|[A-Za-z]:\\)")


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK_DIR / name, as_version=4)


def _code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _parameters_index(notebook: nbformat.NotebookNode) -> int:
    tagged = [
        i for i, cell in enumerate(notebook.cells) if "parameters" in cell.get("metadata", {}).get("tags", [])
    ]
    assert len(tagged) == 1, f"want exactly one cell tagged 'parameters', found {len(tagged)}"
    return tagged[0]


def _assigned_names(source: str) -> set[str]:
    tree = ast.parse(source)
    return {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def test_the_notebooks_are_the_three_documented_ones():
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == NOTEBOOKS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_holds_no_outputs(name: str):
    for cell in _code_cells(_read(name)):
        assert cell.outputs == [] and cell.execution_count is None, (
            f"{name} holds outputs; strip them before committing: "
            "jupyter nbconvert --clear-output --inplace notebooks/*.ipynb"
        )


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_imports_only_the_public_api_and_no_absolute_path(name: str):
    for cell in _code_cells(_read(name)):
        tree = ast.parse(cell.source)
        # Inside an f-string only the leading text can start a path: f"{OUT}/x" is relative.
        inner = {
            id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values[1:]
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sim"):
                assert node.module == "sim.api", f"{name} imports {node.module}"
            if isinstance(node, ast.Import):
                assert not [a.name for a in node.names if a.name.startswith("sim")], name
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inner:
                assert not ABSOLUTE_PATH.match(node.value), f"{name}: absolute path {node.value!r}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_scale_comes_from_one_parameters_cell(name: str):
    notebook = _read(name)
    index = _parameters_index(notebook)
    names = _assigned_names(notebook.cells[index].source)
    assert names >= SCALE_NAMES
    for i, cell in enumerate(_code_cells(notebook)):
        if cell is not notebook.cells[index]:
            assert not (_assigned_names(cell.source) & names), f"{name}: cell {i} resets a parameter"


def _run(name: str, workdir: Path) -> tuple[nbformat.NotebookNode, float]:
    """Execute the notebook at the small scale; then run its first compose/sweep cell again."""
    notebook = _read(name)
    index = _parameters_index(notebook)
    names = _assigned_names(notebook.cells[index].source)
    small = "\n".join(f"{k} = {v!r}" for k, v in SMALL.items() if k in names)
    notebook.cells.insert(index + 1, new_code_cell(small))
    # A cell's outputs travel on IOPub, apart from its execute_reply; nbclient by default waits only
    # 4 s after the reply for them (iopub_timeout) and then moves on without them, silently. On a
    # loaded machine a figure can take longer than that, and the notebook "showed 1 figures".
    # Wait for every output until the kernel reports the cell idle, as long as a cell may run, and
    # fail loudly instead of dropping outputs if even that runs out.
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        iopub_timeout=CELL_TIMEOUT,
        raise_on_iopub_timeout=True,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    started = time.perf_counter()
    with client.setup_kernel():
        for i, cell in enumerate(notebook.cells):
            client.execute_cell(cell, i)
        again = next(
            i
            for i, cell in enumerate(notebook.cells)
            if cell.cell_type == "code" and ("compose_config(" in cell.source or "run_sweep(" in cell.source)
        )
        client.execute_cell(notebook.cells[again], again)
    return notebook, time.perf_counter() - started


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom_at_small_scale(name: str, tmp_path: Path):
    before = sorted(NOTEBOOK_DIR.rglob("*"))
    notebook, seconds = _run(name, tmp_path)
    print(f"{name}: {seconds:.1f} s")
    assert sorted(NOTEBOOK_DIR.rglob("*")) == before, "the notebook wrote beside itself, not in its cwd"
    outputs = [o for cell in _code_cells(notebook) for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2, f"{name} showed {len(images)} figures"
