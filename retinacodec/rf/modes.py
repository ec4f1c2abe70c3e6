"""Receptive fields per contribution mode (METHODS.md §4, the official ``6_irf_mode_combinations.py``).

* :func:`active_combinations`: the exact sets of modes active at each frame (loading above a
  threshold) and how often each set occurs.
* :func:`mode_combination_irfs`: for the most frequent sets (single modes and combinations of
  up to 4), each cell's IRFs at frames where exactly that set is active and the cell's model
  rate is above 1 Hz — up to N frames per cell picked by total loading with greedy max–min
  temporal spacing (the individual rank-1 IRFs, as the official figure) — and the rank-1
  IRF of their average over all such frames (our addition).
* :func:`mode_map`: bscope's ``generate_mode_map``: each hidden unit's contribution times its
  direction-normalised input gradient, weighted by the mode's atom and summed over units.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch
import xarray as xr
from torch import nn

from retinacodec.attribution import contributions
from retinacodec.attribution.hooks import model_device, prepared, resolve_layers
from retinacodec.device import resolve_device
from retinacodec.rf.coords import with_um_coords, with_units
from retinacodec.rf.gradients import InputGradients
from retinacodec.rf.lowrank import rank1_arrays
from retinacodec.rf.stimulus import lag_coordinate, window_batch

__all__ = ["active_combinations", "mode_combination_irfs", "mode_map", "select_spaced"]


def _loadings_per_cell(loadings: xr.DataArray, cells: np.ndarray) -> xr.DataArray:
    """Loadings as (frame, cell, mode): population loadings are shared by every cell."""
    if "frame" not in loadings.dims or "mode" not in loadings.dims:
        raise ValueError(f"loadings need dims (frame, mode) or (frame, cell, mode); got {loadings.dims}.")
    if "cell" in loadings.dims:
        missing = np.setdiff1d(cells, loadings["cell"].values)
        if missing.size:
            raise ValueError(f"the loadings have no cells {missing.tolist()}; decompose with these cells.")
        return loadings.sel(cell=cells).transpose("frame", "cell", "mode")
    return loadings.expand_dims(cell=cells).transpose("frame", "cell", "mode")


def active_combinations(loadings: np.ndarray, threshold: float = 0.01, min_modes: int = 1,
                        max_modes: int = 4) -> tuple[np.ndarray, Counter]:
    """The exact set of active modes of each sample, and how often each set occurs.

    Parameters
    ----------
    loadings : ndarray, shape (n_samples, n_modes)
    threshold : float
        A mode is active where its loading exceeds this.
    min_modes, max_modes : int
        Only sets of this many active modes are counted.

    Returns
    -------
    sets : ndarray of object, shape (n_samples,)
        Each sample's active modes as a sorted tuple of mode positions.
    counts : collections.Counter
        Occurrences of each counted set.
    """
    active = loadings > threshold
    sets = np.empty(active.shape[0], dtype=object)
    sets[:] = [tuple(np.flatnonzero(row).tolist()) for row in active]
    counts = Counter(s for s in sets if min_modes <= len(s) <= max_modes)
    return sets, counts


def select_spaced(times: np.ndarray, strength: np.ndarray, n: int) -> np.ndarray:
    """Up to ``n`` samples: the strongest first, then each one farthest from those chosen.

    As the official ``select_timepoints``: candidates are ordered by decreasing strength;
    the next pick maximises its smallest time distance to the picks so far (ties go to the
    stronger candidate).

    Parameters
    ----------
    times, strength : ndarray, shape (n_candidates,)

    Returns
    -------
    ndarray of int
        Positions into the candidates, in the order picked.
    """
    order = np.argsort(-strength, kind="stable")
    if order.size <= n:
        return order
    t = np.asarray(times, dtype=np.float64)[order]
    picked = [0]
    distance = np.abs(t - t[0])
    distance[0] = -1
    while len(picked) < n:
        best = int(np.argmax(distance))  # the first maximum: the strongest of equally distant candidates
        picked.append(best)
        distance = np.minimum(distance, np.abs(t - t[best]))
        distance[picked] = -1
    return order[picked]


def _rank1_filters(rf: xr.Dataset, frames: np.ndarray, cell: object) -> np.ndarray:
    """The (rank-1 reconstructed, if only components were kept) filters of one cell at some frames.

    Returns
    -------
    ndarray, shape (n, lag, y, x)
    """
    sub = rf.sel(frame=frames, cell=cell)
    if "irf" in sub:
        return sub["irf"].transpose("frame", "lag", "y", "x").values
    s = sub["singular_value"].values
    return np.einsum("f,fl,fyx->flyx", s, sub["temporal"].transpose("frame", "lag").values,
                     sub["spatial"].transpose("frame", "y", "x").values)


def mode_combination_irfs(
    loadings: xr.DataArray,
    rf: xr.Dataset,
    *,
    threshold: float = 0.01,
    min_modes: int = 1,
    max_modes: int = 4,
    top: int = 20,
    min_rate_hz: float = 1.0,
    frames_per_cell: int = 6,
) -> xr.Dataset:
    """IRFs of each cell at the frames where exactly one frequent set of modes is active.

    Parameters
    ----------
    loadings : xarray.DataArray, dims (frame, mode) or (frame, cell, mode)
        Mode loadings (population modes, or per-cell loadings); ``frame`` holds recording
        frame indices.
    rf : xarray.Dataset
        From :func:`retinacodec.rf.instantaneous_rf`: ``irf``, or ``spatial``/``temporal``/
        ``singular_value`` (``rank1=True``), and ``rate (frame, cell)`` in spikes/frame;
        attribute ``frame_rate_hz``.
    threshold : float
        A mode is active where its loading exceeds this (official 0.01).
    min_modes, max_modes : int
        Sizes of the sets considered (official: single modes, and 1-4).
    top : int
        Keep the ``top`` most frequent sets (official 20), counted over the frames the
        loadings and the IRFs share (and over cells, for per-cell loadings).
    min_rate_hz : float
        Only frames where the cell's model rate exceeds this, in Hz (spikes/frame ×
        ``frame_rate_hz``; official 1).
    frames_per_cell : int
        Examples per cell and set (official 6).

    Returns
    -------
    xarray.Dataset
        Dims ``combination`` (sets, most frequent first), ``cell``, ``example``; variables
        ``members (combination, mode)`` (bool), ``n_modes`` and ``count (combination)``;
        ``example_frame (combination, cell, example)`` (−1 where fewer examples exist),
        ``example_loading`` (total loading of the set's modes) and ``example_rate_hz``;
        ``spatial (combination, cell, example, y, x)`` and ``temporal (..., lag)``, the
        rank-1 IRF of each example (NaN where none); ``n_frames (combination, cell)``, the
        frames that qualify, and ``mean_spatial``/``mean_temporal`` ``(combination, cell, ...)``:
        the rank-1 components of the IRF averaged over all of them. Coordinate ``label
        (combination)``, e.g. ``"3+7"`` (mode coordinate values).

    Examples
    --------
    IRFs grouped by the set of modes active at each frame (here made-up loadings of three modes;
    :func:`retinacodec.decompose` gives real ones):

    >>> rec, truth = rc.load_sample()
    >>> model = rc.load_sample_model()
    >>> frames = np.flatnonzero(rec["block"].values == "test")[:30]
    >>> irf = rc.rf.instantaneous_rf(model, rec, frames, rank1=True)
    >>> rng = np.random.default_rng(0)
    >>> loadings = xr.DataArray(rng.random((30, 3)) * (rng.random((30, 3)) < 0.4), dims=("frame", "mode"),
    ...                         coords={"frame": frames, "mode": [0, 1, 2]})
    >>> combos = rc.rf.mode_combination_irfs(loadings, irf)
    >>> combos["label"].values.tolist()[:3]
    ['2', '0', '1+2']
    >>> combos["spatial"].dims
    ('combination', 'cell', 'example', 'y', 'x')
    """
    if "rate" not in rf or "frame_rate_hz" not in rf.attrs:
        raise ValueError("rf must be a result of instantaneous_rf (with 'rate' and the 'frame_rate_hz' attribute).")
    if not 1 <= min_modes <= max_modes or top < 1 or frames_per_cell < 1:
        raise ValueError("need 1 <= min_modes <= max_modes, top >= 1 and frames_per_cell >= 1.")
    frames = np.intersect1d(loadings["frame"].values, rf["frame"].values)
    if frames.size == 0:
        raise ValueError("the loadings and the IRFs share no frame; compute IRFs at the frames that were decomposed.")
    cells = rf["cell"].values
    load = _loadings_per_cell(loadings.sel(frame=frames), cells).values  # (frame, cell, mode)
    n_f, n_c, n_m = load.shape
    sets, counts = active_combinations(load.reshape(-1, n_m), threshold, min_modes, max_modes)
    sets = sets.reshape(n_f, n_c)
    chosen = [s for s, _ in counts.most_common(top)]
    rate_hz = rf["rate"].sel(frame=frames, cell=cells).values * float(rf.attrs["frame_rate_hz"])
    lag_n = rf.sizes["lag"]
    ny, nx = rf.sizes["y"], rf.sizes["x"]
    shape = (len(chosen), n_c)
    ex_frame = np.full((*shape, frames_per_cell), -1, dtype=np.int64)
    ex_load = np.full((*shape, frames_per_cell), np.nan)
    ex_rate = np.full((*shape, frames_per_cell), np.nan)
    spatial = np.full((*shape, frames_per_cell, ny, nx), np.nan, dtype=np.float32)
    temporal = np.full((*shape, frames_per_cell, lag_n), np.nan, dtype=np.float32)
    mean_spatial = np.full((*shape, ny, nx), np.nan, dtype=np.float32)
    mean_temporal = np.full((*shape, lag_n), np.nan, dtype=np.float32)
    n_frames = np.zeros(shape, dtype=np.int64)
    for i, combo in enumerate(chosen):
        for c, cell in enumerate(cells):
            ok = np.flatnonzero(np.array([s == combo for s in sets[:, c]]) & (rate_hz[:, c] > min_rate_hz))
            n_frames[i, c] = ok.size
            if ok.size == 0:
                continue
            strength = load[ok, c][:, list(combo)].sum(axis=1)
            pick = ok[select_spaced(frames[ok], strength, frames_per_cell)]
            k = pick.size
            ex_frame[i, c, :k] = frames[pick]
            ex_load[i, c, :k] = load[pick, c][:, list(combo)].sum(axis=1)
            ex_rate[i, c, :k] = rate_hz[pick, c]
            sp, tp, _, _ = rank1_arrays(_rank1_filters(rf, frames[pick], cell))
            spatial[i, c, :k], temporal[i, c, :k] = sp, tp
            sp, tp, _, _ = rank1_arrays(_rank1_filters(rf, frames[ok], cell).mean(axis=0))
            mean_spatial[i, c], mean_temporal[i, c] = sp, tp
    mode_ids = loadings["mode"].values
    members = np.zeros((len(chosen), n_m), dtype=bool)
    for i, combo in enumerate(chosen):
        members[i, list(combo)] = True
    labels = ["+".join(str(mode_ids[m]) for m in combo) for combo in chosen]
    dims3 = ("combination", "cell", "example")
    ds = xr.Dataset(
        {
            "members": (("combination", "mode"), members),
            "n_modes": ("combination", members.sum(axis=1)),
            "count": ("combination", np.array([counts[s] for s in chosen], dtype=np.int64)),
            "example_frame": (dims3, ex_frame),
            "example_loading": (dims3, ex_load),
            "example_rate_hz": (dims3, ex_rate),
            "spatial": ((*dims3, "y", "x"), spatial),
            "temporal": ((*dims3, "lag"), temporal),
            "n_frames": (("combination", "cell"), n_frames),
            "mean_spatial": (("combination", "cell", "y", "x"), mean_spatial),
            "mean_temporal": (("combination", "cell", "lag"), mean_temporal),
        },
        coords={"combination": np.arange(len(chosen)), "label": ("combination", labels), "cell": cells,
                "mode": mode_ids, "lag": rf["lag"].values,
                **{k: rf[k] for k in ("y_origin", "x_origin") if k in rf.coords}},
        attrs={**rf.attrs, "threshold": float(threshold), "min_modes": int(min_modes), "max_modes": int(max_modes),
               "top": int(top), "min_rate_hz": float(min_rate_hz), "frames_per_cell": int(frames_per_cell),
               "loadings": "per cell" if "cell" in loadings.dims else "population"},
    )
    ds["example_rate_hz"].attrs["units"] = "Hz"
    if "pixel_size_um" in rf.attrs:
        ds = with_um_coords(ds, float(rf.attrs["pixel_size_um"]))
    unit = str(rf.attrs.get("units", ""))
    return with_units(ds, {"members": "1", "n_modes": "modes", "count": "frames", "example_frame": "frame index",
                           "example_loading": "1", "spatial": unit, "temporal": unit, "n_frames": "frames",
                           "mean_spatial": unit, "mean_temporal": unit})


def _unit_weights(atom: xr.DataArray, layer: str, contrib: np.ndarray) -> np.ndarray:
    """The atom's weight on each unit of a layer, by the unit's channel and the sign of its contribution.

    Parameters
    ----------
    atom : xarray.DataArray, dim feature with coords layer, channel and optionally sign
    contrib : ndarray, shape (channels, ...)

    Returns
    -------
    ndarray, same shape as ``contrib``
    """
    mine = atom.where(atom["layer"] == layer, drop=True)
    channels = mine["channel"].values.astype(int)
    w = np.zeros(contrib.shape, dtype=np.float64)
    expand = (slice(None),) + (None,) * (contrib.ndim - 1)
    if "sign" in mine.coords:
        for sign, mask in (("pos", contrib > 0), ("neg", contrib < 0)):
            per_channel = np.zeros(contrib.shape[0])
            sel = mine["sign"].values == sign
            np.add.at(per_channel, channels[sel], mine.values[sel])
            w += np.where(mask, per_channel[expand], 0.0)
    else:
        per_channel = np.zeros(contrib.shape[0])
        np.add.at(per_channel, channels, mine.values)
        w += per_channel[expand] * np.ones_like(contrib)
    return w


def mode_map(
    model: nn.Module,
    recording: xr.Dataset,
    frames: np.ndarray,
    atom: xr.DataArray,
    cell: object,
    *,
    method: str = "integrated_gradients",
    steps: int = 20,
    units_per_pass: int = 64,
    device: str | torch.device | None = None,
) -> xr.DataArray:
    """The mode-restricted receptive field of one cell: bscope's ``generate_mode_map``.

    For each frame and each hidden unit u of the layers the atom covers: its contribution
    c_u to the cell's rate (normalised by the largest ``|c|`` of the frame), times the atom's
    weight on u (by u's channel and, for sign-split atoms, the sign of c_u), times u's input
    gradient divided by its norm; summed over units. Only units with a non-zero product are
    differentiated.

    Parameters
    ----------
    model : BNCNN
        With ``normalization``.
    recording : xarray.Dataset
    frames : ndarray of int, shape (n,)
        Response frames.
    atom : xarray.DataArray, dim ``feature``
        One mode's dictionary atom (``decompose(...)["modes"].sel(mode=m)``), with coords
        ``layer``, ``channel`` and optionally ``sign`` (``"pos"``/``"neg"``) on ``feature``.
    cell : cell id
        The cell whose rate the contributions explain.
    method : {"integrated_gradients", "activation_x_gradient"}
        How the contributions are computed (:func:`retinacodec.attribution.contributions`).
    steps : int
        Integration steps.
    units_per_pass : int
        Units differentiated together (memory: units × input size × 4 bytes, plus FFT work).
    device : str or torch.device, optional

    Returns
    -------
    xarray.DataArray, dims (frame, lag, y, x)
        The map in normalised units (contribution fraction × unit direction), ``lag`` in s.
    """
    for coord in ("layer", "channel"):
        if coord not in atom.coords or "feature" not in atom.dims:
            raise ValueError("atom must be one mode's atom with dim 'feature' and coords 'layer', 'channel' "
                             "(decompose(...)['modes'].sel(mode=m)).")
    ids = list(recording["cell"].values)
    if cell not in ids:
        raise ValueError(f"cell {cell!r} is not a cell id of the recording; choose from {ids}.")
    layers = [str(v) for v in np.unique(atom["layer"].values[np.abs(atom.values) > 0])]
    if not layers:
        raise ValueError("the atom is all zero: no unit to map.")
    modules = resolve_layers(model, layers)
    history = int(model.config.history)
    x = torch.from_numpy(window_batch(recording["stimulus"], np.asarray(frames), history, model.normalization))
    contrib = contributions(model, x, layers, target=[ids.index(cell)], method=method, steps=steps, device=device)
    dev = resolve_device(device) if device is not None else model_device(model)
    values = {name: contrib[name].isel(target=0).values for name in layers}  # (frame, channel, ...)
    scale = np.max([np.abs(v).reshape(v.shape[0], -1).max(axis=1) for v in values.values()], axis=0) + 1e-10
    out = np.zeros(x.shape, dtype=np.float64)
    with prepared(model, dev):
        x = x.to(dev)
        for layer, module in modules.items():
            grads = InputGradients(model, x[:1], "gradient", 1, layer=module)
            for f in range(x.shape[0]):
                c = values[layer][f] / scale[f]
                v = (c * _unit_weights(atom, layer, c)).ravel()
                units = np.flatnonzero(v)
                for s in range(0, units.size, units_per_pass):
                    part = units[s:s + units_per_pass].tolist()
                    g = grads(x[f:f + 1], part)[0][0].double()  # (units, history, ny, nx)
                    coef = torch.as_tensor(v[part], dtype=g.dtype, device=g.device) / (g.flatten(1).norm(dim=1) + 1e-10)
                    out[f] += torch.einsum("u,u...->...", coef, g).cpu().numpy()
    da = xr.DataArray(out.astype(np.float32), dims=("frame", "lag", "y", "x"),
                      coords={"frame": np.asarray(frames),
                              "lag": lag_coordinate(history, float(recording.attrs["frame_rate_hz"]))},
                      name="mode_map")
    da["lag"].attrs["units"] = "s"
    da.attrs.update(method=method, steps=int(steps), cell=str(cell), layers=", ".join(layers),
                    frame_rate_hz=float(recording.attrs["frame_rate_hz"]),
                    pixel_size_um=float(recording.attrs["pixel_size_um"]),
                    definition="sum over units of atom weight x normalised contribution x input gradient / its norm")
    return da
