"""Execute the tutorials to Jupyter notebooks with their outputs: ``make tutorials``.

Each ``tutorials/NN_*.py`` (a jupytext notebook) runs top to bottom in a fresh Python kernel
and is written, with its printed output, tables and figures, to ``tutorials/_build/NN_*.ipynb``
(git-ignored; open it in Jupyter). By default the full versions run; ``--quick`` (or
``RETINACODEC_QUICK=1`` in the environment) runs the short ones the documentation build runs.

Usage::

    python tutorials/execute.py            # all six, full versions
    python tutorials/execute.py 03 05      # tutorials 3 and 5
    python tutorials/execute.py --quick    # all six, quick versions

A tutorial that fails stops the run with exit status 1, after writing its notebook up to the
failing cell (to ``NN_*.failed.ipynb``), so the error can be read in context.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TUTORIALS = sorted(HERE.glob("[0-9][0-9]_*.py"))


def execute(path: Path, out_dir: Path, quick: bool, timeout_s: int = 3600) -> float:
    """Run one tutorial in a fresh kernel and write it with its outputs to ``out_dir``; returns seconds taken.

    Parameters
    ----------
    path : Path
        A ``tutorials/NN_*.py`` jupytext notebook.
    out_dir : Path
        Folder for ``NN_*.ipynb`` (written atomically: a temporary file, then a rename).
    quick : bool
        Run the quick version (``RETINACODEC_QUICK=1``).
    timeout_s : int
        Longest a single cell may run.

    Raises
    ------
    RuntimeError
        When a cell fails; the partial notebook is written to ``NN_*.failed.ipynb``.
    """
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = jupytext.read(path)
    env = {"RETINACODEC_QUICK": "1"} if quick else {}
    client = NotebookClient(notebook, timeout=timeout_s, kernel_name="python3",
                            resources={"metadata": {"path": str(out_dir)}})
    saved = {k: os.environ.get(k) for k in ("RETINACODEC_QUICK", "MPLBACKEND")}
    os.environ.pop("RETINACODEC_QUICK", None)
    os.environ.update(env)
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as exc:
        failed = out_dir / f"{path.stem}.failed.ipynb"
        nbformat.write(notebook, failed)
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise RuntimeError(f"{path.name} failed ({first}); the notebook up to the error: {failed}") from None
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    seconds = time.perf_counter() - start
    target = out_dir / f"{path.stem}.ipynb"
    tmp = target.with_suffix(".ipynb.tmp")
    nbformat.write(notebook, tmp)
    tmp.replace(target)
    (out_dir / f"{path.stem}.failed.ipynb").unlink(missing_ok=True)
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Execute the chosen tutorials (default all), printing each notebook written and its time."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("numbers", nargs="*", metavar="NN", help="tutorial numbers, e.g. 03 05 (default: all)")
    parser.add_argument("--quick", action="store_true", default=os.environ.get("RETINACODEC_QUICK") == "1",
                        help="the quick versions (as the documentation build runs them)")
    parser.add_argument("--out", default=str(HERE / "_build"), help="folder for the executed notebooks")
    args = parser.parse_args(argv)
    chosen = [p for p in TUTORIALS if not args.numbers or p.stem[:2] in {n.zfill(2) for n in args.numbers}]
    if not chosen:
        print(f"execute.py: error: no tutorial numbered {' '.join(args.numbers)}; choose from "
              f"{' '.join(p.stem[:2] for p in TUTORIALS)}", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    total = 0.0
    for path in chosen:
        print(f"{path.name} ({'quick' if args.quick else 'full'}) ...", flush=True)
        try:
            seconds = execute(path, out_dir, args.quick)
        except RuntimeError as exc:
            print(f"execute.py: error: {exc}", file=sys.stderr)
            return 1
        total += seconds
        print(f"  wrote {out_dir / (path.stem + '.ipynb')} in {seconds / 60:.1f} min", flush=True)
    print(f"{len(chosen)} tutorial(s) in {total / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
