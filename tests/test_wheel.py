"""A lab installs retinacodec from a wheel: the sample and the quick demo work outside the source tree.

The sdist is built first and the wheel from it (``python -m build``, without build isolation so
that nothing is downloaded), then the wheel is installed without its dependencies into a fresh
virtual environment in a temporary folder. The dependencies come from this environment's
site-packages through a ``.pth`` path line (``pip check`` confirms the wheel's requirements are
met there); a path line does not run this environment's editable-install hooks, so the only
retinacodec the fresh environment can import is the wheel's (checked).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

import retinacodec

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_FILES = ("sample.nwb", "sample_truth.nc", "sample_model.pt")


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command; fail the test with its output when it fails."""
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and the wheel built from it."""
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)], cwd=out)
    return {"sdist": next(out.glob("*.tar.gz")), "wheel": next(out.glob("*.whl"))}


@pytest.mark.slow
def test_sdist_and_wheel_carry_the_sample(dists: dict[str, Path]) -> None:
    version = retinacodec.__version__
    assert dists["wheel"].name.startswith(f"retinacodec-{version}-")
    assert dists["sdist"].name == f"retinacodec-{version}.tar.gz"
    wheel = set(zipfile.ZipFile(dists["wheel"]).namelist())
    with tarfile.open(dists["sdist"]) as tar:
        sdist = set(tar.getnames())
    for name in SAMPLE_FILES:
        assert f"retinacodec/data/{name}" in wheel
        assert f"retinacodec-{version}/retinacodec/data/{name}" in sdist
    assert f"retinacodec-{version}/CHANGELOG.md" in sdist


@pytest.mark.slow
def test_wheel_installed_outside_the_checkout_runs_the_quick_demo(dists: dict[str, Path], tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    purelib = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                       cwd=tmp_path).strip())
    (purelib / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index",
         str(dists["wheel"])], cwd=tmp_path)
    run([sys.executable, "-m", "pip", "--python", str(python), "check"], cwd=tmp_path)

    env = {k: v for k, v in os.environ.items() if k not in ("RETINACODEC_DATA", "PYTHONPATH")}
    env.update(OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    check = ("import retinacodec as rc; rec, truth = rc.load_sample(); model = rc.load_sample_model(); "
             "print(rc.__file__); print(rc.__version__); print(dict(rec.sizes)); print(truth is not None); "
             "print(model.config.n_cells)")
    lines = run([str(python), "-c", check], cwd=tmp_path, env=env).splitlines()
    assert Path(lines[0]).is_relative_to(venv), f"imported {lines[0]}, not the wheel's copy"
    assert lines[1:] == [retinacodec.__version__, "{'frame': 125500, 'y': 20, 'x': 20, 'cell': 9}", "True", "9"]

    assert run([str(venv / "bin" / "retinacodec"), "--version"], cwd=tmp_path, env=env).strip() == \
        f"retinacodec {retinacodec.__version__}"
    out = tmp_path / "demo"
    printed = run([str(venv / "bin" / "retinacodec"), "demo", "--quick", "--out", str(out)], cwd=tmp_path, env=env)
    assert str(venv) in printed  # the sample it summarised is the installed one
    for name in ("sample_summary.png", "prediction.png", "model.pt"):
        assert (out / name).stat().st_size > 10_000, name
