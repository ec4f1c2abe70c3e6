"""Contributions over the frames of a recording, in chunks, optionally streamed to NetCDF.

Each chunk of target frames is attributed with :func:`~retinacodec.attribution.contributions`
and either kept in memory or appended along the unlimited ``frame`` dimension of a NetCDF
file, which is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path

import netCDF4
import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from retinacodec.atomic import atomic_path
from retinacodec.attribution.engine import contributions
from retinacodec.model.bncnn import BNCNN
from retinacodec.model.frames import default_frames
from retinacodec.model.windows import WindowedData
from retinacodec.recording import validate_recording

__all__ = ["contributions_for_recording"]


def _label(ds: xr.Dataset, frames: np.ndarray, time: np.ndarray) -> xr.Dataset:
    """Rename ``sample`` to ``frame`` with the recording's frame indices and times (s)."""
    ds = ds.rename({"sample": "frame"}).assign_coords(frame=frames, time=("frame", time))
    ds["time"].attrs["units"] = "s"
    return ds


def _append(path: Path, ds: xr.Dataset, start: int) -> None:
    """Write ``ds`` into the file's variables at ``frame`` offset ``start``."""
    with netCDF4.Dataset(path, "a") as nc:
        for name, var in ds.variables.items():
            if "frame" not in var.dims:
                continue
            index = tuple(slice(start, start + var.sizes["frame"]) if d == "frame" else slice(None) for d in var.dims)
            nc.variables[name][index] = var.values


def contributions_for_recording(
    model: BNCNN,
    recording: xr.Dataset,
    layers: str | list[str],
    *,
    frames: np.ndarray | None = None,
    chunk_size: int = 256,
    out: str | os.PathLike | None = None,
    progress: bool | None = None,
    **options,
) -> xr.Dataset | Path:
    """Contributions of hidden units for every target frame of a recording.

    Parameters
    ----------
    model : BNCNN
        A fitted model with a ``normalization`` attribute (from ``fit`` or ``load_model``).
    recording : xarray.Dataset
        A Recording with the model's frame size.
    layers : str or list of str
        Layer names, e.g. ``["layer1", "layer2"]``.
    frames : ndarray of int, optional
        Target frames (each with ``history - 1`` earlier frames). Default: the held-out
        frames of :func:`retinacodec.model.frames.choose_frames` (test repeat 0; else the
        unrepeated test block; else the model's held-out validation frames).
    chunk_size : int
        Frames per call of ``contributions`` (memory of one chunk's result: frames × targets
        × units × 4 or 8 bytes).
    out : path-like, optional
        Stream the chunks to this NetCDF file (written atomically) instead of returning them.
    progress : bool, optional
        Show a progress bar; default: only on a terminal.
    **options
        Passed to :func:`~retinacodec.attribution.contributions` (``target``, ``method``,
        ``steps``, ``rule``, ``baseline``, ``reduce``, ``split_sign``, ``max_memory_gb``,
        ``device`` ...). ``target_names`` defaults to the recording's cell ids.

    Returns
    -------
    xarray.Dataset or pathlib.Path
        The Dataset of ``contributions`` with ``sample`` renamed ``frame`` (coordinates: frame
        index and ``time`` in s); or, with ``out``, the path of the written file.
    """
    validate_recording(recording)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1; got {chunk_size}.")
    history = model.config.history
    data = WindowedData(recording, history, model.normalization)
    if frames is None:
        frames = default_frames(recording, history, getattr(model, "metadata", None))
    frames = np.asarray(frames, dtype=np.int64)
    if frames.ndim != 1 or frames.size == 0 or frames.min() < history - 1 or frames.max() >= recording.sizes["frame"]:
        raise ValueError(f"frames must be a non-empty 1-d array of frame indices in [{history - 1}, "
                         f"{recording.sizes['frame'] - 1}] (each needs {history - 1} earlier frames).")
    options.setdefault("target_names", recording["cell"].values)
    time = recording["time"].values
    bar = tqdm(total=frames.size, desc="contributions", unit="frame",
               disable=(not progress) if progress is not None else None)
    parts = []
    with bar, atomic_path(out) if out is not None else nullcontext() as tmp:
        for start in range(0, frames.size, chunk_size):
            chunk = frames[start:start + chunk_size]
            x, _ = data.batch(chunk)
            ds = _label(contributions(model, x, layers, **options), chunk, time[chunk])
            if tmp is None:
                parts.append(ds)
            elif start == 0:
                ds.to_netcdf(tmp, unlimited_dims=["frame"])
            else:
                _append(tmp, ds, start)
            bar.update(chunk.size)
    return Path(out) if out is not None else xr.concat(parts, dim="frame", data_vars="minimal", coords="minimal",
                                                       compat="override", join="override")
