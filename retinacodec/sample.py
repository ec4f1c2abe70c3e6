"""The shipped sample recording (``retinacodec/data/sample.nwb``), its ground truth and fitted model.

The three files are package data: they are installed with the wheel, so the sample loads the
same way from a source checkout and from ``pip install retinacodec``. ``$RETINACODEC_DATA``
points the functions here at another folder holding files of the same names.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import xarray as xr

if TYPE_CHECKING:
    from retinacodec.model.bncnn import BNCNN

__all__ = ["sample_paths", "load_sample", "load_sample_model", "sample_model_path"]

SAMPLE_NAME = "sample"
PACKAGE_DATA = Path(__file__).resolve().parent / "data"
"""Where the wheel (and a source checkout) keeps the sample files."""


def _data_dir() -> Path:
    """``$RETINACODEC_DATA`` if set, else the package's ``data/`` folder."""
    env = os.environ.get("RETINACODEC_DATA")
    return Path(env) if env else PACKAGE_DATA


def sample_paths() -> tuple[Path, Path]:
    """Paths of the sample NWB file and of its ground-truth NetCDF file.

    Returns
    -------
    nwb : pathlib.Path
        ``sample.nwb``.
    truth : pathlib.Path
        ``sample_truth.nc`` (it may be absent under ``$RETINACODEC_DATA``).

    Raises
    ------
    FileNotFoundError
        If the sample is not there (``$RETINACODEC_DATA`` names a folder without it).

    Examples
    --------
    >>> nwb, truth = rc.sample.sample_paths()
    >>> nwb.name, truth.name
    ('sample.nwb', 'sample_truth.nc')
    """
    d = _data_dir()
    nwb, truth = d / f"{SAMPLE_NAME}.nwb", d / f"{SAMPLE_NAME}_truth.nc"
    if not nwb.exists():
        raise FileNotFoundError(
            f"the sample recording is not at {nwb}; set RETINACODEC_DATA to the folder holding sample.nwb "
            f"(unset, the installed copy in {PACKAGE_DATA} is used), or make it with "
            "`retinacodec simulate sample.nwb --seed 0 --train-seconds 1200`."
        )
    return nwb, truth


def sample_model_path() -> Path:
    """Path of the model fitted to the sample, ``sample_model.pt`` beside ``sample.nwb``.

    Returns
    -------
    pathlib.Path
        The checkpoint (it may be absent under ``$RETINACODEC_DATA``).
    """
    return sample_paths()[0].with_name(f"{SAMPLE_NAME}_model.pt")


def load_sample() -> tuple[xr.Dataset, xr.Dataset | None]:
    """Load the shipped sample recording and its simulator ground truth.

    Returns
    -------
    recording : xarray.Dataset
        The Recording read from ``sample.nwb``.
    truth : xarray.Dataset or None
        Cell types, positions, pathway drives and noise-free rates
        (``sample_truth.nc``), or None if that file is absent.

    Examples
    --------
    >>> rec, truth = rc.load_sample()
    >>> dict(rec.sizes)
    {'frame': 125500, 'y': 20, 'x': 20, 'cell': 9}
    >>> sorted(set(truth["cell_type"].values.tolist()))
    ['OFF', 'ON', 'ON-OFF']
    """
    from retinacodec.io import read_nwb
    from retinacodec.sim.simulate import load_truth

    nwb, truth_path = sample_paths()
    rec = read_nwb(nwb)
    return rec, load_truth(truth_path, rec) if truth_path.exists() else None


def load_sample_model(device: str = "cpu") -> BNCNN:
    """The model fitted to the sample (``sample_model.pt``), ready to use.

    Made by ``retinacodec fit sample.nwb --out sample_model.pt --seed 0 --ema-decay 0.99 --epochs 15``
    (``fit``'s default architecture, a space–time separable layer 1, with the weight average).

    Parameters
    ----------
    device : str
        Where to put the model.

    Returns
    -------
    retinacodec.model.BNCNN
        In eval mode, with its stimulus normalisation and metadata.

    Examples
    --------
    >>> model = rc.load_sample_model()
    >>> model.config.n_cells, model.training
    (9, False)
    """
    from retinacodec.model.checkpoint import load_model

    path = sample_model_path()
    if not path.exists():
        raise FileNotFoundError(
            f"the sample model is not at {path}; make it with "
            "`retinacodec fit sample.nwb --out sample_model.pt --seed 0 --ema-decay 0.99 --epochs 15`."
        )
    return load_model(path, device=device)
