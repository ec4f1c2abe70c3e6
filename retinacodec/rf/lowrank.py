"""Rank-1 (space × time) decomposition of spatiotemporal receptive fields (METHODS.md §4).

As bscope's ``lowranksta``: subtract the filter's mean, take the SVD of the ``(lag, pixel)``
matrix, keep the first temporal and spatial components, and fix their joint sign so that the
spatial component correlates positively with the filter's peak frame (the lag of largest
absolute value). With that convention the temporal filter is positive at the peak lag and the
spatial map's centre carries the receptive field's polarity.

A map of one pixel (full-field stimuli) has no spatial structure to correlate, so there the
sign is fixed the other way: the spatial component is +1 and the **temporal filter carries
the polarity** (an ON cell's filter peaks positive, an OFF cell's negative). The same rule
breaks ties for any map whose correlation with the peak frame is exactly zero (the spatial
component then sums to a positive number).
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

__all__ = ["mean_irf", "rank1", "rank1_arrays"]

RF_DIMS = ("lag", "y", "x")


def rank1_arrays(f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rank-1 components of a stack of filters (numpy core of :func:`rank1`).

    Parameters
    ----------
    f : ndarray, shape (..., n_lag, ny, nx)
        Filters, any leading dims.

    Returns
    -------
    spatial : ndarray, shape (..., ny, nx)
        Unit-norm spatial component, sign-fixed.
    temporal : ndarray, shape (..., n_lag)
        Unit-norm temporal component, sign-fixed: positive at the peak lag, except for a map of
        one pixel, where the spatial component is +1 and the temporal filter keeps the polarity.
    singular_value : ndarray, shape (...)
        First singular value (the filter's units).
    explained : ndarray, shape (...)
        Fraction of the mean-subtracted filter's variance (sum of squares) in the rank-1 part,
        ``s₀² / Σ sᵢ²``; NaN for a constant filter.
    """
    f = np.asarray(f)
    dtype = np.result_type(f.dtype, np.float32)
    lead, (n_lag, ny, nx) = f.shape[:-3], f.shape[-3:]
    m = torch.as_tensor(f.reshape(-1, n_lag, ny * nx), dtype=torch.float32 if dtype == np.float32 else torch.float64)
    m = m - m.mean(dim=(1, 2), keepdim=True)
    # the first singular pair from the (lag × lag) Gram matrix: much cheaper than an SVD of (lag × pixel)
    eig, vec = torch.linalg.eigh(m @ m.transpose(1, 2))
    eig = eig.clamp(min=0)
    temporal = vec[:, :, -1]
    s0 = eig[:, -1].sqrt()
    spatial = torch.bmm(temporal.unsqueeze(1), m).squeeze(1) / torch.where(s0 > 0, s0, 1.0)[:, None]
    peak_lag = torch.maximum(m.amax(dim=2), -m.amin(dim=2)).argmax(dim=1)
    peak = m[torch.arange(m.shape[0]), peak_lag]  # (n, pixels)
    pc = peak - peak.mean(dim=1, keepdim=True)
    sc = spatial - spatial.mean(dim=1, keepdim=True)
    sign = torch.sign((pc * sc).sum(dim=1))  # sign of the Pearson correlation
    # one pixel (or a zero correlation): no spatial structure to go by, so the spatial part is
    # made positive and the temporal filter carries the polarity
    sign = torch.where(sign == 0, torch.sign(spatial.sum(dim=1)), sign)
    sign[sign == 0] = 1
    total = eig.sum(dim=1)
    explained = torch.where(total > 0, eig[:, -1] / torch.where(total > 0, total, 1.0), torch.nan)
    spatial, temporal, s0, explained = (v.numpy() for v in (spatial * sign[:, None], temporal * sign[:, None], s0,
                                                              explained))
    return (spatial.astype(dtype).reshape(*lead, ny, nx), temporal.astype(dtype).reshape(*lead, n_lag),
            s0.astype(dtype).reshape(lead), explained.astype(dtype).reshape(lead))


def rank1(rf: xr.DataArray) -> xr.Dataset:
    """Spatial map, temporal filter and explained variance of the rank-1 part of each filter.

    Parameters
    ----------
    rf : xarray.DataArray, dims (..., lag, y, x)
        Receptive fields (an STA, IRFs of many frames and cells, a mean IRF ...); any
        leading dims (``cell``, ``frame`` ...) are kept.

    Returns
    -------
    xarray.Dataset
        ``spatial (..., y, x)`` and ``temporal (..., lag)``, each of unit norm, sign-fixed as
        bscope's ``lowranksta`` (positive correlation of the spatial map with the peak frame;
        for a 1×1 map the spatial part is +1 and ``temporal`` carries the polarity);
        ``singular_value (...)`` so that ``singular_value · temporal ⊗ spatial`` approximates
        the mean-subtracted filter; ``explained (...)``, the fraction of its variance that
        the rank-1 part explains. Coordinates and attributes of ``rf`` are kept.

    Raises
    ------
    ValueError
        If ``rf`` lacks a ``lag``, ``y`` or ``x`` dim.

    Examples
    --------
    >>> rec, truth = rc.load_sample()
    >>> model = rc.load_sample_model()
    >>> frames = np.flatnonzero(rec["block"].values == "test")[:10]
    >>> irf = rc.rf.instantaneous_rf(model, rec, frames)["irf"]
    >>> parts = rc.rf.rank1(irf.mean("frame"))
    >>> parts["spatial"].dims, parts["temporal"].dims
    (('cell', 'y', 'x'), ('cell', 'lag'))
    """
    if not isinstance(rf, xr.DataArray):
        raise ValueError(f"rank1 takes an xarray.DataArray with dims (..., lag, y, x); got {type(rf).__name__}.")
    missing = [d for d in RF_DIMS if d not in rf.dims]
    if missing:
        raise ValueError(f"rank1 needs dims {RF_DIMS}; {rf.name or 'the array'} has {rf.dims}, missing {missing}.")
    lead = [d for d in rf.dims if d not in RF_DIMS]
    rf = rf.transpose(*lead, *RF_DIMS)
    spatial, temporal, sv, explained = rank1_arrays(rf.values)
    ds = xr.Dataset(
        {
            "spatial": ([*lead, "y", "x"], spatial),
            "temporal": ([*lead, "lag"], temporal),
            "singular_value": (lead, sv),
            "explained": (lead, explained),
        },
        coords=rf.coords,
        attrs=dict(rf.attrs),
    )
    for name in ("spatial", "temporal"):
        ds[name].attrs.update(rf.attrs)  # units, pixel size, frame rate travel with each map
    ds["explained"].attrs.update(long_name="fraction of variance in the rank-1 part", units="1")
    if "units" in rf.attrs:
        ds["singular_value"].attrs["units"] = rf.attrs["units"]
    ds.attrs["decomposition"] = "rank-1 SVD of the mean-subtracted filter, sign as bscope lowranksta"
    return ds


def mean_irf(irf: xr.Dataset) -> xr.DataArray:
    """The instantaneous receptive field averaged over frames, from full IRFs or their rank-1 parts.

    The average of the gradients, not of the unit-norm rank-1 parts: averaging ``temporal``
    over frames weighs a frame where the cell is nearly silent (a tiny gradient) as much as a
    frame where it fires, and no longer estimates the STA. The frame-averaged gradient does:
    for Gaussian white noise it is the STA up to a scale (Stein's lemma), and for binary
    flicker nearly so (a simulated full-field run/freeze recording, 8 cells: r 0.95–0.99 with
    the STA per cell, against 0.86–0.98 for the mean of the unit-norm ``temporal`` parts).

    Parameters
    ----------
    irf : xarray.Dataset
        From :func:`retinacodec.rf.instantaneous_rf`: ``irf (frame, cell, lag, y, x)``, or with
        ``rank1=True`` ``spatial (frame, cell, y, x)``, ``temporal (frame, cell, lag)`` and
        ``singular_value (frame, cell)``.

    Returns
    -------
    xarray.DataArray, dims (cell, lag, y, x)
        The mean IRF, in the IRF's units (spikes/frame per z-scored stimulus unit). Rebuilt
        from rank-1 parts it is the mean of ``singular_value · temporal ⊗ spatial``, which
        approximates each mean-subtracted IRF (exactly for a 1×1 stimulus, up to that mean).

    Raises
    ------
    ValueError
        If ``irf`` has neither ``irf`` nor the three rank-1 variables.

    Examples
    --------
    >>> rec, truth = rc.load_sample()
    >>> model = rc.load_sample_model()
    >>> frames = np.flatnonzero(rec["block"].values == "test")[:10]
    >>> parts = rc.rf.instantaneous_rf(model, rec, frames, rank1=True)
    >>> rc.rf.rank1(rc.rf.mean_irf(parts))["temporal"].dims
    ('cell', 'lag')
    """
    if "irf" in irf:
        return irf["irf"].mean("frame").assign_attrs(irf.attrs)
    missing = [v for v in ("spatial", "temporal", "singular_value") if v not in irf]
    if missing:
        raise ValueError(f"mean_irf needs 'irf' or the rank-1 parts of instantaneous_rf(..., rank1=True); "
                         f"{missing} missing from {sorted(irf.data_vars)}.")
    weighted = (irf["temporal"] * irf["singular_value"]).transpose("frame", "cell", "lag").values
    spatial = irf["spatial"].transpose("frame", "cell", "y", "x").values
    mean = np.einsum("fcl,fcyx->clyx", weighted, spatial) / irf.sizes["frame"]
    coords = {k: irf[k] for k in ("cell", "lag", "y", "x") if k in irf.coords}
    return xr.DataArray(mean.astype(spatial.dtype), dims=("cell", "lag", "y", "x"), coords=coords,
                        name="mean_irf", attrs=dict(irf.attrs))
