"""The notebooks in `notebooks/` run top to bottom, with small budgets, and are stored without outputs.

Each notebook has one cell tagged `parameters` (papermill's convention). The test inserts a cell
after it that overrides those names with the budgets below (and points MODELS_DIR at a temporary
folder; the data sets they use ship with the package), executes the notebook in a fresh Python
kernel with nbclient and fails on the first cell that raises. The notebooks check their own results with `assert`
(served predictions equal in-process ones, identical weights across strategies, ...).
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

# Small budgets: enough to exercise every cell, not to reach the accuracies the full runs print.
BUDGETS = {
    "01_images.ipynb": {"PRETRAIN_EPOCHS": 1, "HEAD_EPOCHS": 1, "FINETUNE_EPOCHS": 1},
    "02_sequences.ipynb": {"EPOCHS": 2},
    "03_graphs.ipynb": {"NODE_EPOCHS": 10, "GRAPH_EPOCHS": 2},
    "04_distributed.ipynb": {"EPOCHS": 1},
    "05_custom_layers.ipynb": {"EPOCHS": 1},
}


def test_every_notebook_has_a_budget():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(BUDGETS)


def _parameters_cell(notebook) -> int:
    tagged = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "a notebook needs exactly one cell tagged 'parameters'"
    return tagged[0]


@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_stored_without_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    dirty = [i for i, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, (f"{name}: cells {dirty} keep outputs; strip them with "
                       f"`jupyter nbconvert --clear-output --inplace notebooks/{name}`")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_runs_top_to_bottom(name, tmp_path):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    at = _parameters_cell(notebook)
    parameters = notebook.cells[at].source
    overrides = {"MODELS_DIR": str(tmp_path / "models"), **BUDGETS[name]}
    overrides = {key: value for key, value in overrides.items() if f"{key} =" in parameters}
    missing = set(BUDGETS[name]) - set(overrides)
    assert not missing, f"{name}: the parameters cell does not define {sorted(missing)}"
    injected = nbformat.v4.new_code_cell("\n".join(f"{key} = {value!r}" for key, value in overrides.items()))
    injected.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(at + 1, injected)

    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the cell and the traceback

    figures = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs
               if "image/png" in o.get("data", {})]
    if "plt." in "".join(cell.source for cell in notebook.cells):
        assert figures, f"{name} draws with matplotlib but produced no figure"
