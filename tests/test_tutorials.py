"""Every tutorial runs top to bottom as a notebook, in its quick mode (RETINACODEC_QUICK=1).

The quick mode uses fewer frames and epochs where a tutorial says so; ``make demo`` and the
benchmarks run the full versions. Each kernel gets one thread: pytest runs two at once.
"""

from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

TUTORIALS = sorted((Path(__file__).resolve().parent.parent / "tutorials").glob("[0-9][0-9]_*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("RETINACODEC_QUICK", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = jupytext.read(path)
    NotebookClient(notebook, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
                   ).execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
