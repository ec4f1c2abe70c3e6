"""Instantaneous receptive fields: the gradient of each cell's rate with respect to its stimulus window.

The IRF of cell k at frame t is ∂r_k(t)/∂x_t, x_t the normalised 40-frame window
(METHODS.md §4; the official ``3_save_irfs.py`` takes one backward pass per frame per cell).
Here one pass serves many frames and all cells (:class:`~retinacodec.rf.gradients.InputGradients`);
chunks of frames are sized to a memory budget, reduced on the fly (a crop around each cell's
peak, or rank-1 components only) and optionally appended to a NetCDF file.
"""

from __future__ import annotations

import math
import os
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from retinacodec.atomic import atomic_path
from retinacodec.attribution.engine import CPU_PASS_BYTES, _probe
from retinacodec.attribution.hooks import model_device, prepared
from retinacodec.attribution.recording import _append
from retinacodec.device import resolve_device
from retinacodec.model.frames import default_frames
from retinacodec.recording import validate_recording
from retinacodec.rf.coords import with_um_coords, with_units
from retinacodec.rf.gradients import METHODS, InputGradients
from retinacodec.rf.lowrank import rank1_arrays
from retinacodec.rf.stimulus import lag_coordinate, window_batch

__all__ = ["METHODS", "instantaneous_rf"]


def _cell_indices(recording: xr.Dataset, cells: object) -> list[int]:
    """Positions of the requested cell ids in the recording (all cells for None)."""
    ids = list(recording["cell"].values)
    if cells is None:
        return list(range(len(ids)))
    wanted = np.atleast_1d(np.asarray(cells)).tolist()
    missing = [c for c in wanted if c not in ids]
    if missing or not wanted:
        raise ValueError(f"cells {missing or wanted} are not cell ids of the recording; choose from {ids}.")
    return [ids.index(c) for c in wanted]


def _crop_origins(grad: np.ndarray, crop: int, shape: tuple[int, int]) -> np.ndarray:
    """Top-left pixel of each cell's ``crop × crop`` window, centred on its peak ``|IRF|``, inside the frame.

    Parameters
    ----------
    grad : ndarray, shape (B, cells, history, ny, nx)

    Returns
    -------
    ndarray of int, shape (cells, 2)
    """
    energy = np.abs(grad).sum(axis=(0, 2))  # (cells, ny, nx)
    peak = np.array(np.unravel_index(energy.reshape(energy.shape[0], -1).argmax(axis=1), shape)).T
    return np.clip(peak - crop // 2, 0, np.array(shape) - crop)


def _plan(model: nn.Module, x1: torch.Tensor, n_cells: int, points: int, max_memory_gb: float,
          device: torch.device) -> tuple[int, int]:
    """Frames per pass and cells per pass that keep the estimated peak memory under the budget."""
    _, sizes = _probe(model, {}, x1)
    act = sizes["upstream"] + sizes["downstream"] + sizes["hooked"]
    in_bytes = x1[0].numel() * x1.element_size()
    budget = max_memory_gb * 2**30
    if device.type == "cpu":
        budget = min(budget, CPU_PASS_BYTES)

    def per_frame(t: int) -> float:  # activations and their gradients per point and cell; gradient and FFT per cell
        return points * (act + 2 * t * act) + 5 * t * in_bytes

    t = n_cells
    while t > 1 and per_frame(t) > budget:
        t = math.ceil(t / 2)
    return max(1, int(budget // per_frame(t))), t


def _chunk_dataset(grad: np.ndarray, rate: np.ndarray, start: np.ndarray, frames: np.ndarray, time: np.ndarray,
                   cells: np.ndarray, lag: xr.DataArray, origins: np.ndarray | None, crop: int | None,
                   rank1: bool, x: np.ndarray | None) -> xr.Dataset:
    """One chunk's result as a labelled Dataset (see :func:`instantaneous_rf`)."""
    if origins is not None:
        iy = origins[:, 0, None] + np.arange(crop)  # (cells, crop)
        ix = origins[:, 1, None] + np.arange(crop)
        cidx = np.arange(len(cells))[:, None, None]
        grad = np.moveaxis(grad, 2, -1)[:, cidx, iy[:, :, None], ix[:, None, :]]  # (B, cells, cy, cx, lag)
        grad = np.moveaxis(grad, -1, 2)
    coords = {"frame": frames, "time": ("frame", time), "cell": cells, "lag": lag}
    if origins is not None:
        coords.update(y_origin=("cell", origins[:, 0]), x_origin=("cell", origins[:, 1]))
    data = {"rate": (("frame", "cell"), rate)}
    if x is not None:
        data["completeness_error"] = (("frame", "cell"), grad.sum(axis=(2, 3, 4), dtype=np.float64) - (rate - start))
    if rank1:
        spatial, temporal, sv, explained = rank1_arrays(grad)
        data.update(spatial=(("frame", "cell", "y", "x"), spatial), temporal=(("frame", "cell", "lag"), temporal),
                    singular_value=(("frame", "cell"), sv), explained=(("frame", "cell"), explained))
    else:
        data["irf"] = (("frame", "cell", "lag", "y", "x"), grad)
    return xr.Dataset(data, coords=coords)


def instantaneous_rf(
    model: nn.Module,
    recording: xr.Dataset,
    frames: np.ndarray | None = None,
    cells: object = None,
    *,
    method: str = "gradient",
    steps: int = 20,
    crop: int | None = None,
    rank1: bool = False,
    max_memory_gb: float = 1.0,
    out: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> xr.Dataset | Path:
    """Instantaneous receptive fields of many cells at many frames.

    Parameters
    ----------
    model : BNCNN
        A fitted model with a ``normalization`` attribute (from ``fit`` or ``load_model``).
    recording : xarray.Dataset
        A Recording with the model's frame size.
    frames : ndarray of int, optional
        Response frames (each with ``history - 1`` earlier frames). Default: the held-out
        frames of :func:`retinacodec.model.frames.choose_frames` (test repeat 0; else the
        unrepeated test block; else the model's held-out validation frames).
    cells : cell id or sequence of cell ids, optional
        Which cells (ids of the recording's ``cell`` coordinate); default all.
    method : {"gradient", "integrated_gradients"}
        ``"gradient"``: ∂r_k/∂x at the window x (spikes/frame per z-scored stimulus unit).
        ``"integrated_gradients"``: x ⊙ (trapezoid mean of ∂r_k/∂x along the straight path
        from the zero window, mean luminance, to x), which sums to r_k(x) − r_k(0) (the
        ``completeness_error`` says how closely).
    steps : int
        Path steps for integrated gradients.
    crop : int, optional
        Keep only a ``crop × crop`` window per cell (the official display uses 20), placed
        once per cell around the peak of its ``|IRF|`` summed over the first chunk's frames and
        lags, and kept inside the frame.
    rank1 : bool
        Keep only the rank-1 components of each IRF (:func:`retinacodec.rf.rank1`).
    max_memory_gb : float
        Budget of one pass (estimated; on the CPU passes are kept smaller, which runs faster).
    out : path-like, optional
        Append each chunk to this NetCDF file (written atomically) instead of returning the result.
    device : str or torch.device, optional
        Where to compute; default the model's device.
    progress : bool, optional
        Progress bar; default only on a terminal.

    Returns
    -------
    xarray.Dataset or pathlib.Path
        Coordinates ``frame`` (recording frame index), ``time (frame)`` (s), ``cell`` (ids),
        ``lag`` (s before the response frame, oldest first); with ``crop`` also
        ``y_origin (cell)``, ``x_origin (cell)``, the crop's top-left pixel. Variables:
        ``irf (frame, cell, lag, y, x)``, or with ``rank1`` ``spatial (frame, cell, y, x)``,
        ``temporal (frame, cell, lag)``, ``singular_value`` and ``explained (frame, cell)``;
        ``rate (frame, cell)``, the model's rate (spikes/frame); for integrated gradients
        ``completeness_error (frame, cell)``. Attributes record the parameters,
        ``frame_rate_hz`` and ``pixel_size_um``. With ``out``, the path of the written file.

    Examples
    --------
    The model's local linear filter of every cell at 10 test frames, and its rank-1 parts:

    >>> rec, truth = rc.load_sample()
    >>> model = rc.load_sample_model()
    >>> frames = np.flatnonzero(rec["block"].values == "test")[:10]
    >>> irf = rc.rf.instantaneous_rf(model, rec, frames)
    >>> irf["irf"].dims, irf["irf"].shape
    (('frame', 'cell', 'lag', 'y', 'x'), (10, 9, 40, 20, 20))
    >>> small = rc.rf.instantaneous_rf(model, rec, frames, rank1=True)
    >>> sorted(small.data_vars)
    ['explained', 'rate', 'singular_value', 'spatial', 'temporal']
    """
    validate_recording(recording)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    if int(steps) < 1 or max_memory_gb <= 0:
        raise ValueError(f"steps must be >= 1 and max_memory_gb > 0; got {steps}, {max_memory_gb}.")
    if getattr(model, "normalization", None) is None:
        raise ValueError("the model has no stimulus normalization; use a model from retinacodec.fit or load_model.")
    history = int(model.config.history)
    shape = (recording.sizes["y"], recording.sizes["x"])
    if tuple(model.config.input_size) != shape:
        raise ValueError(f"the model expects {model.config.input_size} pixels but the recording has {shape}.")
    if crop is not None and not 1 <= int(crop) <= min(shape):
        raise ValueError(f"crop must be between 1 and the frame's smaller side {min(shape)}; got {crop}.")
    if frames is None:
        frames = default_frames(recording, history, getattr(model, "metadata", None))
    frames = np.asarray(frames, dtype=np.int64)
    n_frames = recording.sizes["frame"]
    if frames.ndim != 1 or frames.size == 0 or frames.min() < history - 1 or frames.max() >= n_frames:
        raise ValueError(f"frames must be a non-empty 1-d array of frame indices in [{history - 1}, {n_frames - 1}] "
                         f"(each needs {history - 1} earlier frames).")
    idx = _cell_indices(recording, cells)
    cell_ids = recording["cell"].values[idx]
    lag = lag_coordinate(history, float(recording.attrs["frame_rate_hz"]))
    stim, time, norm = recording["stimulus"], recording["time"].values, model.normalization
    dev = resolve_device(device) if device is not None else model_device(model)
    attrs = {
        "method": method, "steps": int(steps) if method == "integrated_gradients" else 0,
        "baseline": "zeros (mean luminance)" if method == "integrated_gradients" else "none",
        "crop": int(crop) if crop is not None else 0, "rank1": int(bool(rank1)), "history": history,
        "frame_rate_hz": float(recording.attrs["frame_rate_hz"]),
        "pixel_size_um": float(recording.attrs["pixel_size_um"]),
        "units": "spikes/frame per z-scored stimulus unit" if method == "gradient" else "spikes/frame",
        "target": "model rate after the output nonlinearity",
    }
    bar = tqdm(total=frames.size, desc="irf", unit="frame", disable=(not progress) if progress is not None else None)
    parts, origins = [], None
    with prepared(model, dev), bar, atomic_path(out) if out is not None else nullcontext() as tmp:
        x1 = torch.from_numpy(window_batch(stim, frames[:1], history, norm)).to(dev)
        grads = InputGradients(model, x1, method, int(steps))
        attrs["stem"] = "fourier transpose of the first convolution" if grads.transpose is not None else "autograd"
        b, t = _plan(model, x1, len(idx), grads.alphas.numel(), max_memory_gb, dev)
        for s in range(0, frames.size, b):
            chunk = frames[s:s + b]
            x = torch.from_numpy(window_batch(stim, chunk, history, norm)).to(dev)
            g, rate, start = [], None, None
            for k in range(0, len(idx), t):
                gk, rate, start = grads(x, idx[k:k + t])
                g.append(gk)
            g = torch.cat(g, dim=1) if len(g) > 1 else g[0]
            if method == "integrated_gradients":
                g = g * x.unsqueeze(1)
            g = g.cpu().numpy()
            if crop is not None and origins is None:
                origins = _crop_origins(g, int(crop), shape)
            ds = _chunk_dataset(g, rate[:, idx].cpu().numpy(), start[:, idx].cpu().numpy(), chunk, time[chunk],
                                cell_ids, lag, origins, crop, rank1,
                                x if method == "integrated_gradients" else None)
            ds = with_um_coords(ds, attrs["pixel_size_um"])
            ds.attrs.update(attrs)
            for name in ("irf", "spatial", "temporal"):
                if name in ds:
                    ds[name].attrs.update(units=attrs["units"], pixel_size_um=attrs["pixel_size_um"],
                                          frame_rate_hz=attrs["frame_rate_hz"])
            with_units(ds, {"rate": "spikes/frame", "singular_value": attrs["units"], "explained": "1",
                            "completeness_error": "spikes/frame", "time": "s", "y_origin": "pixel",
                            "x_origin": "pixel"})
            if tmp is None:
                parts.append(ds)
            elif s == 0:
                ds.to_netcdf(tmp, unlimited_dims=["frame"])
            else:
                _append(tmp, ds, s)
            bar.update(chunk.size)
    if out is not None:
        return Path(out)
    result = xr.concat(parts, dim="frame", data_vars="minimal", coords="minimal", compat="override", join="override")
    result["rate"].attrs["units"] = "spikes/frame"
    return result
