"""Ellipses of receptive fields (2-D Gaussian fits), polarity and peak latency (METHODS.md §4).

The ellipse is pyret's ``get_ellipse``: a 2-D Gaussian fitted to the spatial map, its centre,
its axes and their angle, and the contour at ``sigma`` standard deviations (2 by default).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.optimize import least_squares

__all__ = ["fit_ellipse", "polarity_and_latency"]

PARAMS = ("amplitude", "centre_y", "centre_x", "sigma_major", "sigma_minor", "angle", "offset")


def _gaussian(p: np.ndarray, gy: np.ndarray, gx: np.ndarray) -> np.ndarray:
    """Rotated 2-D Gaussian plus offset at pixel coordinates ``gy, gx`` (parameters as :data:`PARAMS`)."""
    a, y0, x0, s1, s2, theta, b = p
    dx, dy = gx - x0, gy - y0
    u = dx * np.cos(theta) + dy * np.sin(theta)
    v = -dx * np.sin(theta) + dy * np.cos(theta)
    return a * np.exp(-0.5 * (u**2 / s1**2 + v**2 / s2**2)) + b


def _fit_one(img: np.ndarray, gy: np.ndarray, gx: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares Gaussian fit of one map; returns the parameters and the fit's R²."""
    ny, nx = img.shape
    if not np.isfinite(img).all() or np.ptp(img) == 0:
        return np.full(len(PARAMS), np.nan), np.nan
    iy, ix = np.unravel_index(np.abs(img - np.median(img)).argmax(), img.shape)
    b0 = float(np.median(img))
    p0 = np.array([img[iy, ix] - b0, iy, ix, 1.5, 1.5, 0.0, b0])
    span = float(max(ny, nx))
    lower = [-np.inf, -0.5, -0.5, 0.3, 0.3, -np.pi, -np.inf]
    upper = [np.inf, ny - 0.5, nx - 0.5, span, span, np.pi, np.inf]
    res = least_squares(lambda p: (_gaussian(p, gy, gx) - img).ravel(), p0, bounds=(lower, upper), x_scale="jac")
    p = res.x.copy()
    if p[4] > p[3]:  # the major axis first
        p[3], p[4], p[5] = p[4], p[3], p[5] + np.pi / 2
    p[5] = (p[5] + np.pi / 2) % np.pi - np.pi / 2  # angle in [-π/2, π/2)
    ss_tot = float(((img - img.mean()) ** 2).sum())
    return p, 1.0 - float((res.fun**2).sum()) / ss_tot


def fit_ellipse(spatial: xr.DataArray, pixel_size_um: float | None = None, sigma: float = 2.0) -> xr.Dataset:
    """Fit a 2-D Gaussian to each spatial map and describe its ellipse.

    Parameters
    ----------
    spatial : xarray.DataArray, dims (..., y, x)
        Spatial maps (e.g. ``rank1(rf)["spatial"]``), any leading dims (``cell``, ``frame``).
        Pixel coordinates are array indices (row ``y``, column ``x``), as in the stimulus;
        crops (coords ``y_origin``, ``x_origin``, as ``instantaneous_rf(crop=...)`` gives)
        are placed back in the frame.
    pixel_size_um : float, optional
        Edge of one pixel on the retina, µm. Default: ``spatial.attrs["pixel_size_um"]``.
    sigma : float
        The ellipse contour is drawn at this many standard deviations (pyret's default 2).

    Returns
    -------
    xarray.Dataset, each variable with the leading dims of ``spatial``
        ``centre_y``, ``centre_x`` (px) and ``centre_y_um``, ``centre_x_um`` (µm from the
        frame's top-left pixel centre); ``sigma_major``, ``sigma_minor`` (px) and their ``_um``
        versions; ``angle`` (rad, of the major axis, counter-clockwise from the +x axis in
        (x, y) pixel coordinates, in [-π/2, π/2)); ``width_um`` and ``height_um``, the full
        lengths of the major and minor axes of the ``sigma``-σ contour (``2·sigma·σ``);
        ``amplitude`` and ``offset`` of the Gaussian (the map's units); ``fit_r2``, the
        share of the map's variance the fit explains. NaN where a map is constant or not finite.

    Examples
    --------
    >>> rec, truth = rc.load_sample()
    >>> model = rc.load_sample_model()
    >>> frames = np.flatnonzero(rec["block"].values == "test")[:10]
    >>> irf = rc.rf.instantaneous_rf(model, rec, frames, rank1=True)
    >>> ellipses = rc.rf.fit_ellipse(irf["spatial"].mean("frame"), pixel_size_um=50)
    >>> sorted(ellipses.data_vars)
    ['amplitude', 'angle', 'centre_x', 'centre_x_um', 'centre_y', 'centre_y_um', 'fit_r2', 'height_um',
     'offset', 'sigma_major', 'sigma_major_um', 'sigma_minor', 'sigma_minor_um', 'width_um']
    """
    if not isinstance(spatial, xr.DataArray) or "y" not in spatial.dims or "x" not in spatial.dims:
        raise ValueError("fit_ellipse takes an xarray.DataArray with dims (..., y, x), e.g. rank1(rf)['spatial'].")
    if pixel_size_um is None:
        if "pixel_size_um" not in spatial.attrs:
            raise ValueError("give pixel_size_um= (the maps carry no 'pixel_size_um' attribute).")
        pixel_size_um = float(spatial.attrs["pixel_size_um"])
    if not pixel_size_um > 0 or not sigma > 0:
        raise ValueError(f"pixel_size_um and sigma must be > 0; got {pixel_size_um}, {sigma}.")
    lead = [d for d in spatial.dims if d not in ("y", "x")]
    spatial = spatial.transpose(*lead, "y", "x")
    maps = spatial.values.reshape(-1, spatial.sizes["y"], spatial.sizes["x"]).astype(np.float64)
    gy, gx = np.mgrid[0 : maps.shape[1], 0 : maps.shape[2]].astype(np.float64)
    fits = [_fit_one(m, gy, gx) for m in maps]
    params = np.array([p for p, _ in fits]).reshape(*spatial.shape[:-2], len(PARAMS))
    r2 = np.array([r for _, r in fits]).reshape(spatial.shape[:-2])
    for i, origin in ((1, "y_origin"), (2, "x_origin")):  # crops: centres in frame pixels
        if origin in spatial.coords:
            params[..., i] += np.broadcast_to(spatial[origin].broadcast_like(spatial.isel(y=0, x=0)).values,
                                              params.shape[:-1])
    out = {name: (lead, params[..., i]) for i, name in enumerate(PARAMS)}
    out["fit_r2"] = (lead, r2)
    for name in ("centre_y", "centre_x", "sigma_major", "sigma_minor"):
        out[f"{name}_um"] = (lead, params[..., PARAMS.index(name)] * pixel_size_um)
    out["width_um"] = (lead, 2 * sigma * out["sigma_major_um"][1])
    out["height_um"] = (lead, 2 * sigma * out["sigma_minor_um"][1])
    coords = {k: v for k, v in spatial.coords.items() if set(v.dims) <= set(lead)}
    ds = xr.Dataset(out, coords=coords, attrs={"pixel_size_um": pixel_size_um, "contour_sigma": float(sigma),
                                               "model": "rotated 2-D Gaussian plus offset, least squares"})
    for name in ("centre_y", "centre_x", "sigma_major", "sigma_minor"):
        ds[name].attrs["units"] = "px"
        ds[f"{name}_um"].attrs["units"] = "um"
    ds["angle"].attrs["units"] = "rad"
    return ds


def polarity_and_latency(spatial: xr.DataArray, temporal: xr.DataArray) -> xr.Dataset:
    """ON/OFF polarity and peak latency of rank-1 receptive fields.

    The polarity is the sign of (spatial map at its largest absolute value) × (temporal filter
    at its largest absolute value): +1 (ON) when light at the centre, at the filter's peak
    lag, raises the response; −1 (OFF) when it lowers it. It does not depend on how the
    joint sign of the two components was fixed.

    Parameters
    ----------
    spatial : xarray.DataArray, dims (..., y, x)
    temporal : xarray.DataArray, dims (..., lag)
        With a ``lag`` coordinate in seconds before the response (as :func:`rank1` returns).

    Returns
    -------
    xarray.Dataset, variables with the leading dims
        ``polarity`` (+1 ON, −1 OFF, 0 for an all-zero filter), ``polarity_label``
        (``"ON"``/``"OFF"``/``""``) and ``peak_latency`` (s, the lag of the temporal
        filter's largest absolute value).
    """
    if "lag" not in temporal.dims or "lag" not in temporal.coords:
        raise ValueError("temporal must have a 'lag' dim with a coordinate in seconds (as rank1 returns).")
    lead = [d for d in spatial.dims if d not in ("y", "x")]
    sp = np.nan_to_num(spatial.transpose(*lead, "y", "x").values).reshape(*spatial.shape[:-2], -1)
    tp = np.nan_to_num(temporal.transpose(*lead, "lag").values)
    centre = np.take_along_axis(sp, np.abs(sp).argmax(axis=-1)[..., None], axis=-1)[..., 0]
    peak_idx = np.abs(tp).argmax(axis=-1)
    peak = np.take_along_axis(tp, peak_idx[..., None], axis=-1)[..., 0]
    polarity = np.sign(centre * peak).astype(np.int8)
    latency = np.where(polarity != 0, temporal["lag"].values[peak_idx], np.nan)
    coords = {k: v for k, v in spatial.coords.items() if set(v.dims) <= set(lead)}
    ds = xr.Dataset({"polarity": (lead, polarity),
                     "polarity_label": (lead, np.array(["OFF", "", "ON"])[polarity + 1]),
                     "peak_latency": (lead, latency)}, coords=coords)
    ds["peak_latency"].attrs["units"] = "s"
    return ds


def centre_polarity(rf: xr.DataArray, ellipse: xr.Dataset) -> xr.DataArray:
    """Polarity of each receptive field at its cell's centre, weighted by the cell's fitted Gaussian.

    The centre trace ``c(lag) = Σ_pixels w · rf(lag)``, ``w`` the cell's Gaussian (1σ axes and
    angle of ``ellipse``, unit peak), and the polarity is the sign of ``c`` at its largest
    absolute value: +1 (ON) when light at the centre raises the response, −1 (OFF). Unlike
    :func:`polarity_and_latency` it needs no rank-1 step, and it reads the filter where the cell's
    centre is rather than at its strongest pixel.

    Parameters
    ----------
    rf : xarray.DataArray, dims (..., cell, lag, y, x)
        Full receptive fields (e.g. ``instantaneous_rf(...)["irf"]``), uncropped.
    ellipse : xarray.Dataset, dim cell
        :func:`fit_ellipse` of each cell's reference map (e.g. its mean IRF).

    Returns
    -------
    xarray.DataArray of int8, dims of ``rf`` without lag, y, x
    """
    for d in ("cell", "lag", "y", "x"):
        if d not in rf.dims:
            raise ValueError(f"rf needs dims (..., cell, lag, y, x); got {rf.dims}.")
    e = ellipse.sel(cell=rf["cell"].values)
    gy = xr.DataArray(np.arange(rf.sizes["y"], dtype=float), dims="y")
    gx = xr.DataArray(np.arange(rf.sizes["x"], dtype=float), dims="x")
    dx, dy = gx - e["centre_x"], gy - e["centre_y"]
    u = dx * np.cos(e["angle"]) + dy * np.sin(e["angle"])
    v = -dx * np.sin(e["angle"]) + dy * np.cos(e["angle"])
    weight = np.exp(-0.5 * (u**2 / e["sigma_major"] ** 2 + v**2 / e["sigma_minor"] ** 2)).drop_vars(
        [k for k in e.coords if k != "cell"])
    trace = xr.dot(rf, weight, dim=["y", "x"])
    peak = trace.isel(lag=abs(trace).fillna(0).argmax("lag"))
    return np.sign(peak).fillna(0).astype(np.int8).drop_vars("lag", errors="ignore").rename("centre_polarity")
