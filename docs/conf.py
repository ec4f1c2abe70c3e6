"""Sphinx configuration of the retinacodec documentation (``make docs``).

The API pages are written here from each public module's ``__all__``, so that every public
function and class has a page and a new one needs no edit of the docs. The tutorials are
copied from ``../tutorials`` and executed by sphinx-gallery: in their quick mode unless
``RETINACODEC_DOCS_FULL=1`` (``make docs-full``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import shutil
import sys
import types
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import retinacodec  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

project = "retinacodec"
author = "The retinacodec developers"
copyright = "2026, the retinacodec developers"  # noqa: A001
release = retinacodec.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_tutorials/*.ipynb", "auto_tutorials/*.py", "tutorial_sources",
                    "sg_execution_times.rst"]
html_theme = "pydata_sphinx_theme"
html_title = f"retinacodec {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path: list[str] = []

nitpicky = True
default_role = "literal"  # `x` in docstrings is code, as in numpydoc's convention for names
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # the numpydoc Parameters sections give the types
autodoc_default_options = {"inherited-members": False}
autodoc_inherit_docstrings = False  # torch's nn.Module.forward docstring is not ours
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()
myst_heading_anchors = 3

# No network at build time, so no intersphinx: names of other packages are shown, not linked.
EXTERNAL = ("numpy", "np", "xarray", "xr", "torch", "matplotlib", "pandas", "scipy", "sklearn", "dask",
            "distributed", "zarr", "pynwb", "hdmf", "h5py", "captum", "tqdm", "seaborn", "pathlib", "os",
            "collections", "typing", "dataclasses", "enum", "argparse", "concurrent", "abc", "skimage",
            "torchvision", "timm")
nitpick_ignore_regex = [(r"py:.*", rf"({'|'.join(EXTERNAL)})\..*"),
                        (r"py:.*", r"(str|int|float|bool|dict|list|tuple|None|callable|object|Path|ndarray)")]

# ---------------------------------------------------------------- tutorials (sphinx-gallery)
FULL = os.environ.get("RETINACODEC_DOCS_FULL") == "1"
if not FULL:
    os.environ["RETINACODEC_QUICK"] = "1"  # each tutorial's quick mode, as CI runs them
SOURCES = HERE / "tutorial_sources"  # a copy: sphinx-gallery runs each script in its folder, which it writes to
shutil.rmtree(SOURCES, ignore_errors=True)
SOURCES.mkdir()
for path in (HERE.parent / "tutorials").glob("*"):  # the tutorials, not their runner (execute.py)
    if path.name[:2].isdigit() and path.suffix == ".py" or path.suffix == ".txt" or path.name.endswith(".rst"):
        shutil.copy2(path, SOURCES / path.name)

sphinx_gallery_conf = {
    "examples_dirs": ["tutorial_sources"],
    "gallery_dirs": ["auto_tutorials"],
    "filename_pattern": r"/\d\d_",  # execute every tutorial
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "show_memory": False,
    "min_reported_time": 0,
    "capture_repr": ("_repr_html_", "__repr__"),
    "reference_url": {},
}

# ---------------------------------------------------------------- API pages from __all__
API_MODULES = {
    "retinacodec.io": "Reading and writing recordings",
    "retinacodec.model": "The CNN retina model: fit, evaluate, load",
    "retinacodec.attribution": "Contributions (CODEC step 1)",
    "retinacodec.codec": "Contribution modes (CODEC step 2)",
    "retinacodec.codec.presets": "CODEC presets",
    "retinacodec.codec.sae": "Sparse autoencoders",
    "retinacodec.codec.analyses": "Analyses of modes",
    "retinacodec.codec.interventions": "Causal interventions",
    "retinacodec.rf": "Receptive fields",
    "retinacodec.figures": "Figures",
    "retinacodec.sim": "The simulated retina",
    "retinacodec.sim.stimuli": "Stimuli",
    "retinacodec.phenomena": "Retinal phenomena",
    "retinacodec.absence": "Encoded absences",
    "retinacodec.classifiers": "Image classifiers",
    "retinacodec.scale": "Beyond one machine: torchrun and Dask",
}


def _public(module: types.ModuleType) -> list[str]:
    """The module's public names that are functions, classes or data (submodules have their own page)."""
    return [n for n in module.__all__ if not isinstance(getattr(module, n), types.ModuleType)]


def _page(name: str, title: str, entries: list[str], links: list[tuple[str, str]], intro: str = "") -> str:
    """An API page: the module's docstring, a summary table of what it documents, links to the rest."""
    heading = f"``{name}``: {title}"
    text = f"{heading}\n{'=' * len(heading)}\n\n.. automodule:: {name}\n   :no-members:\n\n{intro}"
    text += f".. currentmodule:: {name}\n\n"
    if entries:
        body = "\n".join(f"   {e}" for e in entries)
        text += f".. autosummary::\n   :toctree: generated\n   :nosignatures:\n\n{body}\n\n"
    if links:
        text += "Also importable from here, documented with the module they live in:\n\n"
        text += "\n".join(f"* :py:obj:`{name}.{n} <{target}>`" for n, target in links) + "\n"
    return text


def write_api_pages() -> dict[int, str]:
    """Write ``api/<module>.rst`` for each public module; return id(object) -> its documented name.

    An object exported by several modules is documented once, in the deepest of them (where
    it lives: ``retinacodec.codec.presets.CodecConfig``, not ``retinacodec.codec.CodecConfig``);
    the other pages link to it. The top level documents only what no listed module exports.
    """
    out = HERE / "api"
    out.mkdir(exist_ok=True)
    documented: dict[int, str] = {}
    for name in sorted(API_MODULES, key=lambda m: -m.count(".")):
        module = importlib.import_module(name)
        for n in _public(module):
            documented.setdefault(id(getattr(module, n)), f"{name}.{n}")
    for name in [*API_MODULES, "retinacodec"]:
        module = importlib.import_module(name)
        entries, links = [], []
        for n in _public(module):
            home = documented.setdefault(id(getattr(module, n)), f"{name}.{n}")
            entries.append(n) if home == f"{name}.{n}" else links.append((n, home))
        title = API_MODULES.get(name, "the top level")
        intro = ("The functions most scripts need are importable from the top level "
                 "(``import retinacodec as rc``); those that live in a submodule are listed at the end "
                 "of this page with links.\n\n") if name == "retinacodec" else ""
        (out / f"{name}.rst").write_text(_page(name, title, entries, links, intro))
    return documented


def write_internals_page() -> None:
    """``api/internals.rst``: every module of the package, with its docstring, so that ``:mod:`` links resolve."""
    listed = {*API_MODULES, "retinacodec"}
    names = sorted(m.name for m in pkgutil.walk_packages(retinacodec.__path__, "retinacodec.")
                   if m.name not in listed and not m.name.endswith("__main__"))
    text = ("Modules\n=======\n\nEvery module of the package and what it holds. The public functions and "
            "classes are documented on the pages of :doc:`index`; these entries say where the code lives.\n\n")
    for name in names:  # a module named as a function it exports (rf.sta) is not a link target
        clash = ":no-index:" if name in DOCUMENTED.values() else ""
        text += f"``{name}``\n{'-' * (len(name) + 4)}\n\n.. automodule:: {name}\n   :no-members:\n   {clash}\n\n"
    (HERE / "api" / "internals.rst").write_text(text)


def skip_member(app, what, name, obj, skip, options):  # noqa: ANN001, ANN201
    """Leave out scikit-learn's generated ``set_*_request`` methods of the SAE estimators."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


DOCUMENTED = write_api_pages()
write_internals_page()
OBJECTS_BY_NAME: dict[str, str] = {}


def _is_module(dotted: str) -> bool:
    """Whether ``dotted`` names a module of the package (a function's path is not one)."""
    try:
        return importlib.util.find_spec(dotted) is not None
    except (ImportError, AttributeError, ValueError):  # a parent that is a module, not a package
        return False


def _resolve(target: str, module: str | None, cls: str | None = None) -> str | None:
    """The documented name of the object ``target`` names (a private path or a short name), if any.

    A module resolves to itself: every module of the package has an entry (:doc:`api/internals`).
    """
    candidates = [target.lstrip(".~")]
    if module:
        parts = module.split(".")
        if cls:
            candidates.append(f"{module}.{cls}.{candidates[0]}")
        candidates += [".".join(parts[:i] + [candidates[0]]) for i in range(len(parts), 0, -1)]
    for dotted in candidates:
        if dotted.startswith("retinacodec") and _is_module(dotted):
            return dotted
    for dotted in candidates:
        head, _, attr = dotted.rpartition(".")
        rest: list[str] = []
        while head:
            try:
                obj = importlib.import_module(head)
                break
            except ImportError:
                head, _, last = head.rpartition(".")
                rest.insert(0, last)
        else:
            continue
        try:
            for part in [*rest, attr]:
                obj = getattr(obj, part)
        except AttributeError:
            continue
        if isinstance(obj, types.ModuleType):
            return obj.__name__
        if id(obj) in DOCUMENTED:
            return DOCUMENTED[id(obj)]
        UNDOCUMENTED.add(target)
        owner = getattr(obj, "__qualname__", "").rsplit(".", 1)
        if len(owner) == 2:  # a method or attribute: its class's documented name + the member
            cls = importlib.import_module(obj.__module__)
            for part in owner[0].split("."):
                cls = getattr(cls, part, None)
            if id(cls) in DOCUMENTED:
                return f"{DOCUMENTED[id(cls)]}.{owner[1]}"
    return None


UNDOCUMENTED: set[str] = set()
"""References to objects that exist in the package but have no page (private helpers): shown as code."""


def missing_reference(app, env, node, contnode):  # noqa: ANN001, ANN201
    """Link a reference to a private path or a short name to the page of the public object it names."""
    if node.get("refdomain") != "py":
        return None
    documented = _resolve(node["reftarget"], node.get("py:module"), node.get("py:class"))
    if documented is None:  # an existing private helper is shown as code; a name that exists nowhere fails
        return contnode if node["reftarget"] in UNDOCUMENTED else None
    domain = env.get_domain("py")
    for role in ("obj", "func", "class", "data", "meth", "attr", "mod"):
        ref = domain.resolve_xref(env, node["refdoc"], app.builder, role, documented, node, contnode)
        if ref is not None:
            return ref
    return None


def setup(app):  # noqa: ANN001, ANN201
    app.connect("missing-reference", missing_reference)
    app.connect("autodoc-skip-member", skip_member)
