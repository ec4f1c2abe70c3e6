"""Comparing receptive-field maps: correlation with optional smoothing, and the STA's own reliability.

An STA estimated from a finite number of spikes is the true filter plus noise that is white
over pixels. Its correlation with any noise-free map (a model's mean IRF, the true receptive
field) is therefore bounded by the STA's reliability, which :func:`sta_reliability` estimates
from two halves of the recording (Spearman–Brown corrected to the whole block; the square root
of the split-half reliability bounds the correlation of the full STA with a noise-free map).
:func:`map_correlation` compares maps over the whole frame, optionally after the same Gaussian
smoothing of both (a σ below the size of the smallest receptive-field structure removes
pixel noise and little else), so a comparison can be read against that ceiling.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.ndimage import gaussian_filter

from retinacodec.rf.lowrank import rank1
from retinacodec.rf.sta import sta

__all__ = ["map_correlation", "sta_reliability"]


def _smooth(maps: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian-smooth the last two axes of ``maps`` (..., y, x) with σ ``sigma_px`` pixels (edges reflected)."""
    if sigma_px <= 0:
        return maps
    return gaussian_filter(maps, sigma=(0,) * (maps.ndim - 2) + (sigma_px, sigma_px), mode="reflect")


def map_correlation(a: xr.DataArray, b: xr.DataArray, *, smooth_px: float = 0.0) -> xr.DataArray:
    """Pearson correlation of two stacks of spatial maps over all their pixels.

    Parameters
    ----------
    a, b : xarray.DataArray, dims (..., y, x)
        Maps with the same ``y``, ``x`` sizes and the same leading dims (e.g. ``cell``), such as
        the rank-1 ``spatial`` maps of an STA and of a mean IRF.
    smooth_px : float
        σ of a Gaussian applied to both maps first, in pixels; 0 (default) compares them raw.

    Returns
    -------
    xarray.DataArray, dims (...)
        Pearson r per leading index; NaN where a map is constant. Attribute ``smooth_px``.

    Raises
    ------
    ValueError
        If the maps lack ``y``/``x`` dims, differ in shape, or ``smooth_px`` is negative.
    """
    for name, m in (("a", a), ("b", b)):
        if not isinstance(m, xr.DataArray) or "y" not in m.dims or "x" not in m.dims:
            raise ValueError(f"map_correlation takes xarray.DataArrays with dims (..., y, x); {name} is not one.")
    if smooth_px < 0:
        raise ValueError(f"smooth_px must be >= 0 pixels; got {smooth_px}.")
    lead = [d for d in a.dims if d not in ("y", "x")]
    a = a.transpose(*lead, "y", "x")
    b = b.transpose(*lead, "y", "x")
    if a.shape != b.shape:
        raise ValueError(f"the maps differ in shape: {dict(a.sizes)} vs {dict(b.sizes)}; crop or select them alike.")
    fa = _smooth(a.values.astype(np.float64), smooth_px).reshape(*a.shape[:-2], -1)
    fb = _smooth(b.values.astype(np.float64), smooth_px).reshape(*b.shape[:-2], -1)
    fa = fa - fa.mean(axis=-1, keepdims=True)
    fb = fb - fb.mean(axis=-1, keepdims=True)
    denom = np.sqrt((fa**2).sum(-1) * (fb**2).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(denom > 0, (fa * fb).sum(-1) / np.where(denom > 0, denom, 1.0), np.nan)
    coords = {k: v for k, v in a.coords.items() if set(v.dims) <= set(lead)}
    return xr.DataArray(r, dims=lead, coords=coords, name="r",
                        attrs={"long_name": "correlation of spatial maps", "smooth_px": float(smooth_px)})


def sta_reliability(
    recording: xr.Dataset, history: int = 40, *, block: str = "train", smooth_px: float = 0.0,
) -> xr.DataArray:
    """How well each cell's rank-1 spatial STA can correlate with a noise-free map.

    The ``block`` frames are split into two contiguous halves; the rank-1 spatial maps of the
    two half-STAs correlate with r₁₂ (after the same smoothing as :func:`map_correlation`); the
    Spearman–Brown reliability of the whole block is ``2 r₁₂ / (1 + r₁₂)``, and its square root
    is the expected correlation of the full STA with the noise-free filter.

    Parameters
    ----------
    recording : xarray.Dataset
        A Recording.
    history : int
        Frames per window, as for :func:`retinacodec.rf.sta`.
    block : str
        The block whose frames are split.
    smooth_px : float
        σ of the Gaussian applied to the half maps before correlating them, in pixels.

    Returns
    -------
    xarray.DataArray, dims (cell,)
        ``sqrt(2 r₁₂ / (1 + r₁₂))``, clipped to [0, 1]; attributes ``split_half_r`` (per cell)
        and the parameters.
    """
    frames = np.flatnonzero(recording["block"].values == block)
    if frames.size < 4 * int(history):
        raise ValueError(f"the {block!r} block has {frames.size} frames, too few to split into two halves of at "
                         f"least {2 * int(history)} frames; use a longer recording or another block=.")
    halves = []
    for part in np.array_split(frames, 2):
        labels = np.full(recording.sizes["frame"], "other", dtype=object)
        labels[part] = block
        repeat = np.where(labels == "test", recording["repeat"].values, -1)
        half = recording.assign(block=("frame", labels.astype(str)), repeat=("frame", repeat))
        halves.append(rank1(sta(half, history, block=block, nonlinearity=False, progress=False)["sta"])["spatial"])
    r12 = map_correlation(*halves, smooth_px=smooth_px).values
    ceiling = np.sqrt(np.clip(2 * r12 / (1 + r12), 0.0, 1.0))
    return xr.DataArray(ceiling, dims="cell", coords={"cell": recording["cell"].values}, name="sta_reliability",
                        attrs={"long_name": "expected r of the STA's rank-1 map with a noise-free map",
                               "split_half_r": r12, "history": int(history), "block": block,
                               "smooth_px": float(smooth_px)})
