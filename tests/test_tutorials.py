"""Each tutorial is a valid jupytext notebook and a valid sphinx-gallery example.

The tutorials are *executed* by the documentation build (``make docs``, run by ``.ci/run``
after ``make test``): sphinx-gallery runs all six in their quick mode (``RETINACODEC_QUICK=1``)
and the build fails on an error in any of them (``abort_on_example_error``) or on a warning
in their text. Running them a second time here would only double CI's time; this file checks
what the docs build does not: that each stays a notebook a reader can open.
"""

import ast
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))


def test_six_tutorials() -> None:
    assert [p.stem[:2] for p in TUTORIALS] == ["01", "02", "03", "04", "05", "06"]
    assert (ROOT / "tutorials" / "GALLERY_HEADER.rst").exists()


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_is_a_notebook_with_a_title(path: Path) -> None:
    notebook = jupytext.read(path)
    assert notebook.metadata["jupytext"]["formats"] == "py:percent"
    first = notebook.cells[0]
    assert first.cell_type == "markdown"  # the module docstring is the notebook's first markdown cell
    title, underline = first.source.splitlines()[:2]
    assert title.startswith(f"{int(path.stem[:2])}. ") and set(underline) == {"="} and len(underline) == len(title)
    assert sum(c.cell_type == "code" for c in notebook.cells) >= 5
    # sphinx-gallery's rst header is the same text
    assert ast.get_docstring(ast.parse(path.read_text()), clean=False).strip() == first.source.strip()


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_text_uses_the_markdown_and_rst_common_subset(path: Path) -> None:
    """Headings underlined (setext) and code in double backticks read the same in Jupyter and in the docs."""
    notebook = jupytext.read(path)
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            assert not line.startswith("#"), f"an ATX heading, which rst does not read: {line!r}"
            stripped = line.replace("``", "")
            assert "`" not in stripped, f"single backticks render as code in Jupyter only: {line!r}"
