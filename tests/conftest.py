"""Shared fixtures: NWB files of each stimulus layout, built with pynwb directly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from nwb_layouts import Truth, build, new_nwbfile, write
from pynwb import NWBFile


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread per xdist worker: two workers × two threads oversubscribe two cores."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests first (a stable sort), so that under pytest-xdist both workers start on the long
    ones and the quick ones fill in at the end, rather than one worker finishing a tutorial alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def nwb_factory(tmp_path: Path):
    """Build NWB test files: ``nwb_factory(layout, name=..., **options) -> Truth`` (see :func:`build`)."""

    def make(layout: str = "optical", name: str = "rec.nwb", **options) -> Truth:
        return build(tmp_path / name, layout, **options)

    return make


@pytest.fixture
def write_nwbfile(tmp_path: Path):
    """Write an in-memory NWBFile: ``write_nwbfile(nwbfile, name="x.nwb") -> Path``."""

    def _write(nwbfile: NWBFile, name: str = "custom.nwb") -> Path:
        return write(nwbfile, tmp_path / name)

    return _write


@pytest.fixture
def empty_nwbfile():
    """A factory of empty NWBFiles: ``empty_nwbfile() -> NWBFile``."""
    return new_nwbfile
