"""Write receptive fields back into an NWB file, for labs that keep everything in NWB.

:func:`write_rf_nwb` copies the recording's NWB file and adds to its processing module
``ecephys`` (the schema's name for extracellular data, so that nwbinspector has nothing to
say; created when missing) one ``DynamicTable``, ``receptive_fields``, with a row per
unit (row ids = the Units table's ids): the STA, its rank-1 spatial map and temporal filter,
the lags, the spike count, and the fits (polarity, peak latency and, for spatial stimuli, the
ellipse of a 2-D Gaussian fit in µm). The file is written to a temporary file and renamed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import xarray as xr
from hdmf.common import DynamicTable, VectorData
from pynwb import NWBHDF5IO

from retinacodec.atomic import atomic_path

__all__ = ["MODULE", "TABLE", "write_rf_nwb"]

#: The processing module written to (one of nwbinspector's schema module names).
MODULE = "ecephys"
#: The table written.
TABLE = "receptive_fields"

_DESCRIPTIONS = {
    "sta": "spike-triggered average (cell, lag, y, x) in z-scored stimulus units, lags oldest first",
    "lag_s": "time of each lag before the response, s",
    "spatial": "rank-1 spatial map of the STA (unit norm; +1 for a full-field stimulus)",
    "temporal": "rank-1 temporal filter of the STA (unit norm; carries the polarity for a full-field stimulus)",
    "n_spikes": "spikes averaged",
    "polarity": "+1 ON, -1 OFF, 0 none",
    "peak_latency_s": "time before the response of the temporal filter's largest value, s",
    "centre_y_um": "ellipse centre, row axis, um from the top-left pixel's centre",
    "centre_x_um": "ellipse centre, column axis, um from the top-left pixel's centre",
    "width_um": "ellipse width at the fitted contour, um",
    "height_um": "ellipse height at the fitted contour, um",
    "angle": "ellipse angle, radians",
}


def write_rf_nwb(source: str | os.PathLike, out: str | os.PathLike, sta: xr.Dataset, fits: xr.Dataset) -> Path:
    """Copy an NWB file and add its units' STAs and RF fits in a processing module.

    Parameters
    ----------
    source : path-like
        The recording's NWB file.
    out : path-like
        The NWB file to write (may be ``source`` itself, replaced atomically).
    sta : xarray.Dataset
        :func:`retinacodec.rf.sta` output (``sta (cell, lag, y, x)``, ``n_spikes (cell)``).
    fits : xarray.Dataset, dim cell
        :func:`retinacodec.rf.rank1` of the STA merged with
        :func:`retinacodec.rf.polarity_and_latency` (and, for spatial stimuli,
        :func:`retinacodec.rf.fit_ellipse`).

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    ValueError
        If the file already has the table, or its units are not the STA's cells.
    """
    out = Path(out)
    with atomic_path(out) as tmp:
        shutil.copyfile(source, tmp)
        with NWBHDF5IO(str(tmp), "a") as io:
            nwbfile = io.read()
            module = nwbfile.processing.get(MODULE)
            if module is not None and TABLE in module.data_interfaces:
                raise ValueError(f"{source} already has a table {TABLE!r} in processing module {MODULE!r}; write to "
                                 "another file (--nwb-out) or remove it first.")
            ids = np.asarray(nwbfile.units.id[:]) if nwbfile.units is not None else np.array([])
            cells = sta["cell"].values
            if not np.isin(cells, ids).all():
                raise ValueError(f"cells {cells[~np.isin(cells, ids)].tolist()} are not units of {source}; write the "
                                 "receptive fields into the recording they were computed from.")
            if module is None:
                module = nwbfile.create_processing_module(MODULE, "processed extracellular data of the sorted units")
            module.add(_table(sta, fits))
            io.write(nwbfile)
    return out


def _table(sta: xr.Dataset, fits: xr.Dataset) -> DynamicTable:
    """The ``receptive_fields`` table: one row per cell, ids = unit ids."""
    n = sta.sizes["cell"]
    columns = {
        "sta": sta["sta"].transpose("cell", "lag", "y", "x").values,
        "lag_s": np.broadcast_to(sta["lag"].values, (n, sta.sizes["lag"])).copy(),
        "spatial": fits["spatial"].transpose("cell", "y", "x").values,
        "temporal": fits["temporal"].transpose("cell", "lag").values,
        "n_spikes": sta["n_spikes"].values,
        "polarity": fits["polarity"].values.astype(np.int64),
        "peak_latency_s": fits["peak_latency"].values,
    }
    for name in ("centre_y_um", "centre_x_um", "width_um", "height_um", "angle"):
        if name in fits:
            columns[name] = fits[name].values
    data = [VectorData(name=k, description=_DESCRIPTIONS[k], data=np.asarray(v)) for k, v in columns.items()]
    return DynamicTable(name=TABLE, id=[int(c) for c in sta["cell"].values], columns=data,
                        description=f"STA over the {sta.attrs.get('block', 'train')} block "
                                    f"({sta.attrs.get('n_windows', '?')} windows, {sta.attrs.get('history', '?')} "
                                    f"lags at {sta.attrs.get('frame_rate_hz', '?')} Hz), rank-1 parts and fits; "
                                    "rows are Units ids")
