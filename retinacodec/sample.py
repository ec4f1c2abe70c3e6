"""The shipped sample recording (``data/sample.nwb``) and its ground truth."""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr

__all__ = ["sample_paths", "load_sample", "load_sample_model"]

SAMPLE_NAME = "sample"


def _data_dir() -> Path:
    """``$RETINACODEC_DATA`` if set, else the ``data/`` folder of the source checkout."""
    env = os.environ.get("RETINACODEC_DATA")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data"


def sample_paths() -> tuple[Path, Path]:
    """Paths of the sample NWB file and of its ground-truth NetCDF file.

    Raises
    ------
    FileNotFoundError
        If the sample is not there (e.g. a wheel install without the data folder).
    """
    d = _data_dir()
    nwb, truth = d / f"{SAMPLE_NAME}.nwb", d / f"{SAMPLE_NAME}_truth.nc"
    if not nwb.exists():
        raise FileNotFoundError(
            f"the sample recording is not at {nwb}; set RETINACODEC_DATA to the folder holding "
            "sample.nwb, or make it with `retinacodec simulate data/sample.nwb --seed 0`."
        )
    return nwb, truth


def load_sample() -> tuple[xr.Dataset, xr.Dataset | None]:
    """Load the shipped sample recording and its simulator ground truth.

    Returns
    -------
    recording : xarray.Dataset
        The Recording read from ``data/sample.nwb``.
    truth : xarray.Dataset or None
        Cell types, positions, pathway drives and noise-free rates
        (``data/sample_truth.nc``), or None if that file is absent.
    """
    from retinacodec.io import read_nwb
    from retinacodec.sim.simulate import load_truth

    nwb, truth_path = sample_paths()
    rec = read_nwb(nwb)
    return rec, load_truth(truth_path, rec) if truth_path.exists() else None


def load_sample_model(device: str = "cpu"):  # noqa: ANN201 (a BNCNN; imported lazily)
    """The model fitted to the sample (``data/sample_model.pt``), ready to use.

    Made by ``retinacodec fit data/sample.nwb --out data/sample_model.pt --seed 0``.

    Parameters
    ----------
    device : str
        Where to put the model.

    Returns
    -------
    retinacodec.model.bncnn.BNCNN
        In eval mode, with its stimulus normalisation and metadata.
    """
    from retinacodec.model.checkpoint import load_model

    path = sample_paths()[0].with_name(f"{SAMPLE_NAME}_model.pt")
    if not path.exists():
        raise FileNotFoundError(
            f"the sample model is not at {path}; make it with "
            "`retinacodec fit data/sample.nwb --out data/sample_model.pt --seed 0`."
        )
    return load_model(path, device=device)
