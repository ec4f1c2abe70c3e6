"""The docstring Examples run: those of every function the README's "What is in it" table names, and any other.

Each example assumes ``import retinacodec as rc`` and ``import numpy as np`` (the API reference
says so) and runs in a temporary folder; each takes seconds on the shipped sample.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import types

import matplotlib
import numpy as np
import pytest
import xarray as xr

import retinacodec as rc

matplotlib.use("Agg")

# the README table's functions, by the name the table gives them
README_TABLE = [
    "retinacodec.read_nwb", "retinacodec.simulate_retina", "retinacodec.load_sample", "retinacodec.fit",
    "retinacodec.evaluate", "retinacodec.load_model", "retinacodec.io.read_tdr", "retinacodec.io.read_openretina",
    "retinacodec.model.load_tdr_model", "retinacodec.decompose", "retinacodec.contributions", "retinacodec.rf.sta",
    "retinacodec.rf.instantaneous_rf", "retinacodec.rf.rank1", "retinacodec.rf.mean_irf",
    "retinacodec.rf.fit_ellipse",
    "retinacodec.rf.mode_combination_irfs", "retinacodec.figures.plot_retina_figure",
    "retinacodec.figures.plot_rf_mosaic", "retinacodec.figures.plot_rf_pairs", "retinacodec.figures.plot_mode_irf_grid",
    "retinacodec.phenomena.run_all", "retinacodec.absence.absence_attribution", "retinacodec.absence.absence_test",
    "retinacodec.absence.extreme_windows", "retinacodec.classifiers.image_contributions",
    "retinacodec.classifiers.image_modes", "retinacodec.codec.seed_sweep", "retinacodec.codec.mode_stability",
    "retinacodec.fit_ln",
]
PUBLIC_MODULES = ["retinacodec", "retinacodec.io", "retinacodec.model", "retinacodec.attribution", "retinacodec.codec",
                  "retinacodec.rf", "retinacodec.figures", "retinacodec.sim", "retinacodec.phenomena",
                  "retinacodec.absence", "retinacodec.classifiers", "retinacodec.scale", "retinacodec.sample"]


def _resolve(dotted: str) -> object:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _with_examples() -> list[str]:
    """Every public function or class of the public modules whose docstring has an example, once each."""
    seen, names = set(), []
    for dotted in README_TABLE + [f"{m}.{n}" for m in PUBLIC_MODULES for n in importlib.import_module(m).__all__]:
        obj = _resolve(dotted)
        if isinstance(obj, types.ModuleType) or id(obj) in seen or ">>>" not in (inspect.getdoc(obj) or ""):
            continue
        seen.add(id(obj))
        names.append(dotted)
    return names


@pytest.mark.parametrize("dotted", README_TABLE)
def test_readme_functions_have_an_examples_section(dotted: str) -> None:
    doc = inspect.getdoc(_resolve(dotted)) or ""
    assert "\nExamples\n--------\n" in doc and ">>>" in doc.split("\nExamples\n--------\n")[1], dotted


@pytest.mark.slow  # seconds each; make test runs them, make test-fast does not
@pytest.mark.parametrize("dotted", _with_examples())
def test_docstring_example_runs(dotted: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    obj = _resolve(dotted)
    tests = doctest.DocTestFinder(recurse=False).find(obj, dotted, globs={"rc": rc, "np": np, "xr": xr})
    assert tests and tests[0].examples
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test, out=lambda text: pytest.fail(text, pytrace=False))
    assert runner.summarize(verbose=False).failed == 0
