"""One version: pyproject.toml's, as installed; ``--version``, CITATION.cff and the changelog agree with it."""

import re
import subprocess
import sys
from pathlib import Path

import retinacodec
from retinacodec.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_version_comes_from_pyproject() -> None:
    project = (ROOT / "pyproject.toml").read_text().split("[project]")[1].split("\n[")[0]
    assert re.findall(r'^version = "(.+)"$', project, flags=re.MULTILINE) == [retinacodec.__version__]
    # nowhere else by hand: the package reads its installed metadata
    assert not re.search(r"__version__\s*=\s*[\"']\d+\.\d+", (ROOT / "retinacodec" / "__init__.py").read_text())


def test_citation_cff_version_equals_the_package_version() -> None:
    cff = (ROOT / "CITATION.cff").read_text()
    versions = re.findall(r"^version:\s*\"?([^\"\s]+)\"?\s*$", cff, flags=re.MULTILINE)
    assert versions == [retinacodec.__version__]


def test_changelog_has_the_version_and_an_unreleased_section() -> None:
    headings = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(), flags=re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert any(h.split()[0] == retinacodec.__version__ for h in headings[1:])


def test_cli_version(capsys) -> None:  # noqa: ANN001
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert capsys.readouterr().out.strip() == f"retinacodec {retinacodec.__version__}"
    out = subprocess.run([sys.executable, "-m", "retinacodec", "--version"], capture_output=True, text=True)
    assert out.stdout.strip() == f"retinacodec {retinacodec.__version__}"
