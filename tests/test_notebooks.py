"""Execute the notebooks in notebooks/ (on the mini city, so they stay fast)."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests import helpers

NOTEBOOKS = sorted((helpers.REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, monkeypatch, data_dir):
    monkeypatch.setenv("GRIDMAP_DATA_DIR", str(data_dir))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, os.linesep.join(e.get("evalue", "") for e in errors)
