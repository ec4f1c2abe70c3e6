"""Which layout a recording file is in, and reading any of them into a Recording.

========================  =====================================================  ==============================
format                    recognised by                                          reader
========================  =====================================================  ==============================
``"nwb"``                 an HDF5 file with an ``nwb_version`` attribute         :func:`~retinacodec.io.read_nwb`
``"tdr"``                 an HDF5 file with ``train/stimulus``                   :func:`~retinacodec.io.read_tdr`
``"openretina"``          a folder of session files, or an HDF5 file with        :func:`~retinacodec.io.read_openretina`
                          ``responses_<stimulus>`` datasets
========================  =====================================================  ==============================
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import xarray as xr

from retinacodec.io.errors import RecordingError, RecordingFileNotFoundError
from retinacodec.io.nwb_read import read_nwb
from retinacodec.io.openretina import read_openretina
from retinacodec.io.tdr import read_tdr

__all__ = ["FORMATS", "recording_format", "read_recording"]

FORMATS = ("nwb", "tdr", "openretina")


def recording_format(path: str | os.PathLike) -> str:
    """The layout of a recording file or folder: one of :data:`~retinacodec.io.formats.FORMATS`.

    Raises
    ------
    RecordingFileNotFoundError
        ``path`` does not exist.
    RecordingError
        ``path`` is in none of the known layouts.
    """
    path = Path(path)
    if not path.exists():
        raise RecordingFileNotFoundError(f"no file or folder at {path}.")
    if path.is_dir():
        return "openretina"
    if not h5py.is_hdf5(path):
        raise RecordingError(f"{path} is not an HDF5 file; recordings are read from NWB or lab HDF5 layouts.")
    with h5py.File(path, "r") as f:
        if "nwb_version" in f.attrs:
            return "nwb"
        if isinstance(f.get("train"), h5py.Group) and "stimulus" in f["train"]:
            return "tdr"
        if any(k.startswith("responses_") for k in f.keys()):
            return "openretina"
        keys = sorted(f.keys())
    raise RecordingError(
        f"{path} is an HDF5 file in no known layout (top level: {keys[:8]}); expected NWB, torch-deep-retina "
        "(train/stimulus, train/response/binned) or openretina (responses_<stimulus>)."
    )


def read_recording(path: str | os.PathLike, format: str = "auto", **options: Any) -> xr.Dataset:
    """Read a recording in any known layout.

    Parameters
    ----------
    path : path-like
        File (or openretina data folder).
    format : {"auto", "nwb", "tdr", "openretina"}
        The layout; ``"auto"`` recognises it (:func:`recording_format`).
    **options
        Keyword arguments of the layout's reader.

    Returns
    -------
    xarray.Dataset
        A valid Recording.
    """
    if format == "auto":
        format = recording_format(path)
    readers = {"nwb": read_nwb, "tdr": read_tdr, "openretina": read_openretina}
    if format not in readers:
        raise RecordingError(f"unknown recording format {format!r}; choose one of {('auto', *FORMATS)}.")
    return readers[format](path, **options)
