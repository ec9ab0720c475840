"""Every notebook in ``notebooks/`` runs top to bottom (small sizes) in a fresh kernel.

The kernel is the ``python3`` kernel spec, whose ``python`` jupyter_client replaces by this
interpreter (``sys.executable``), so it sees the jaxpop under test; an appended cell checks that.
Each notebook's first code cell, tagged ``parameters``, reads ``JAXPOP_NOTEBOOK_SMALL=1`` and
shrinks its networks, times and grids.
"""

import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_stored_without_outputs_and_with_a_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and "parameters" in code[0].metadata.get("tags", []), "first code cell must be tagged 'parameters'"
    assert "JAXPOP_NOTEBOOK_SMALL" in code[0].source
    assert all(not c.outputs and c.execution_count is None for c in code), "store notebooks without outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    # last cell reports the kernel's interpreter, to check that it is the one under test
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    monkeypatch.setenv("JAXPOP_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=dict(os.environ))
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert nb.cells[-1].outputs[0]["text"].strip() == sys.executable
