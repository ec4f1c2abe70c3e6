"""The NWB ``Units`` table: spike times, observation intervals and per-cell columns."""

from __future__ import annotations

from typing import Any

import numpy as np
from pynwb import NWBFile
from pynwb.misc import Units

from retinacodec.io.errors import RecordingError

__all__ = ["load_units", "cell_coords", "describe_unit_columns"]

_NOT_CELL_COLUMNS = {
    "spike_times", "obs_intervals", "electrodes", "electrode_group",
    "waveform_mean", "waveform_sd", "waveforms",
}


def _ragged(data: Any, index: Any) -> list[np.ndarray]:
    """Split a flat ragged column by its index (end offsets)."""
    flat = np.asarray(data[:])
    ends = np.asarray(index[:], dtype=np.int64)
    return np.split(flat, ends[:-1]) if ends.size else []


def load_units(
    nwbfile: NWBFile,
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray] | None, dict[str, np.ndarray]]:
    """Unit ids, spike times per unit, observation intervals per unit and cell coordinates.

    Returns
    -------
    ids : ndarray of int, shape (n_cells,)
    spike_times : list of ndarray
        Spike times in seconds, one array per unit.
    obs_intervals : list of ndarray (n_intervals, 2) or None
        Observation intervals in seconds per unit, when the table has them.
    coords : dict of str to ndarray, shape (n_cells,)
        Per-unit columns to keep as ``cell`` coordinates.

    Raises
    ------
    RecordingError
        If there is no Units table with spike times, or it holds no spikes.
    """
    units: Units | None = nwbfile.units
    if units is None or len(units) == 0 or "spike_times" not in units.colnames:
        raise RecordingError("the file has no Units table with spike_times; add the sorted units to the file.")
    ids = np.asarray(units.id[:], dtype=np.int64)
    spikes = _ragged(units.spike_times.data, units.spike_times_index.data)
    if sum(s.size for s in spikes) == 0:
        raise RecordingError("the Units table has no spikes; check that spike sorting results were written.")
    obs = None
    if "obs_intervals" in units.colnames:
        obs = [o.reshape(-1, 2) for o in _ragged(units.obs_intervals.data, units.obs_intervals_index.data)]
    return ids, spikes, obs, cell_coords(nwbfile, units)


def coord_name(column: str) -> str:
    """The Recording's ``cell`` coordinate of a Units column: ``cell_<column>`` unless it starts with ``cell``."""
    return column if column.startswith("cell") else f"cell_{column}"


def _counts(values: np.ndarray) -> str:
    """``a: 3, b: 5`` for up to 12 distinct values, else how many there are."""
    values = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values])
    names, counts = np.unique(values, return_counts=True)
    if names.size > 12:
        return f"{names.size} distinct values"
    return ", ".join(f"{n}: {c}" for n, c in zip(names, counts, strict=True))


def describe_unit_columns(nwbfile: NWBFile) -> dict[str, str]:
    """What each per-unit column of the Units table holds, under its name in the file.

    Parameters
    ----------
    nwbfile : pynwb.NWBFile

    Returns
    -------
    dict of str to str
        Column name → one line: the values of a scalar column (and the Recording coordinate it
        becomes), the dtype and per-unit shape of an array column (e.g. a stored STA), or the
        size of a ragged column. Spike times, observation intervals, electrodes and waveforms
        are left out.
    """
    units: Units | None = nwbfile.units
    if units is None:
        return {}
    out = {}
    for col in units.colnames:
        if col in _NOT_CELL_COLUMNS:
            continue
        if f"{col}_index" in units:
            n = len(units[col].target.data) if hasattr(units[col], "target") else 0
            out[col] = f"ragged: {n} values over {len(units)} units (not read)"
            continue
        values = np.asarray(units[col].data[:])
        if values.ndim == 1 and values.dtype.kind in "biufSUO":
            out[col] = f"{_counts(values)} (coordinate {coord_name(col)})"
        else:
            shape = "x".join(str(n) for n in values.shape[1:]) or "1"
            out[col] = f"{values.dtype} array of {shape} per unit (not read into the Recording)"
    return out


def cell_coords(nwbfile: NWBFile, units: Units) -> dict[str, np.ndarray]:
    """Per-unit scalar columns (and single-electrode positions), shape (n_cells,) each."""
    coords = {}
    for col in units.colnames:
        if col in _NOT_CELL_COLUMNS or f"{col}_index" in units:
            continue
        values = np.asarray(units[col].data[:])
        if values.ndim != 1 or values.dtype.kind not in "biufSUO":
            continue
        if values.dtype.kind in "SO":
            values = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values])
        coords[coord_name(col)] = values
    if "electrodes" in units.colnames and nwbfile.electrodes is not None:
        ends = np.asarray(units.electrodes_index.data[:], dtype=np.int64)
        if np.all(np.diff(np.concatenate([[0], ends])) == 1):
            rows = np.asarray(units.electrodes.data[:], dtype=np.int64)
            table = nwbfile.electrodes
            coords["cell_electrode"] = np.asarray(table.id[:], dtype=np.int64)[rows]
            for axis in ("x", "y"):
                col = next((c for c in (f"rel_{axis}", axis) if c in table.colnames), None)
                if col is not None:
                    coords[f"cell_electrode_{axis}"] = np.asarray(table[col].data[:], dtype=float)[rows]
    return coords
