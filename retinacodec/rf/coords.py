"""Coordinates and units that let receptive-field results travel: µm positions and a unit on every variable.

A saved STA, IRF or RF-per-mode result is read without retinacodec (``xr.open_dataset``; the
STA of ``retinacodec rf --out`` is its group ``"sta"``: ``xr.open_dataset(path, group="sta")``
or ``xr.open_datatree(path)["sta"]``); its maps carry ``y_um``/``x_um`` beside the pixel
indices and every variable a ``units`` attribute.
"""

from __future__ import annotations

import xarray as xr

__all__ = ["with_um_coords", "with_units"]


def with_um_coords(ds: xr.Dataset, pixel_size_um: float) -> xr.Dataset:
    """``ds`` with coordinates ``y_um`` and ``x_um``: each pixel's centre in µm from the frame's top-left pixel.

    Parameters
    ----------
    ds : xarray.Dataset
        A result with ``y`` and ``x`` dims (pixel indices); crops with ``y_origin``/``x_origin``
        ``(cell)`` coordinates get ``y_um (cell, y)`` and ``x_um (cell, x)``.
    pixel_size_um : float
        Edge of one stimulus pixel on the retina, µm.

    Returns
    -------
    xarray.Dataset
        Unchanged when ``ds`` has no ``y``/``x`` dims.
    """
    out = ds
    for axis in ("y", "x"):
        if axis not in ds.dims:
            continue
        index = xr.DataArray(range(ds.sizes[axis]), dims=axis)
        origin = ds[f"{axis}_origin"] if f"{axis}_origin" in ds.coords else 0
        um = ((index + origin) * float(pixel_size_um)).astype(float)
        out = out.assign_coords({f"{axis}_um": um.assign_attrs(units="µm", long_name=f"pixel centre along {axis}")})
    return out


def with_units(ds: xr.Dataset, units: dict[str, str]) -> xr.Dataset:
    """Set the ``units`` attribute of the variables of ``ds`` named in ``units`` that have none (in place).

    Returns
    -------
    xarray.Dataset
        ``ds``.
    """
    for name, unit in units.items():
        if name in ds.variables and "units" not in ds[name].attrs:
            ds[name].attrs["units"] = unit
    return ds
