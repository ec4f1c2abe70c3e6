"""Causal tests of modes: ablate or preserve a mode's top channels (or units) and watch a cell.

Two granularities:

- ``"channel"`` (default, the official method: bscope ``Disruptor`` with the channels of
  ``bic.top_n(atom, n)`` in CODEC's ``perform_layerwise_ablations.py``): the channels of the
  mode's layer are ranked by the atom's **signed** weight — for sign-split features the
  channel's net weight ``atom[pos, c] + atom[neg, c]``, its net contribution when the mode is
  active — and the top ``p`` % are zeroed over the whole map (at least one channel: the
  official ``int(C · p / 100)`` rounds 10 % of an 8-channel layer down to no channel).
- ``"unit"``: units ``(channel, y, x)`` are ranked for mode m and cell k by how much of the
  mode they carry on the target frames — the unit's sign-split value (its contribution to
  cell k, or its pre-nonlinearity activation for activation modes) projected on the atom,
  ``Σ_s atom[m, layer, s, channel] · v_s``, averaged over those frames — so the top ``p`` %
  are spatially specific.

Masks act where the modes were measured: at the layer's output for contribution modes, at
its pre-nonlinearity activation (before the ReLU) for activation modes. **Ablate** zeroes the
top ``p`` %; **preserve** zeroes every other channel / unit of those layers. The effect on
cell k is the share of its response removed, ``mean(r − r_int) / mean(r)`` over a set of
frames, for target frames (where the mode is active) and off-target frames;
:func:`intervention_curves` reports it over ``p`` ∈ {1, 2, 5, 10, 18, 25, 50, 80, 99} %, its
area under the curve (trapezoid over p as a fraction, divided by the p range), and the
selectivity :func:`selectivity` of the removed share (ablate) or the kept share
``1 − removed`` (preserve).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import xarray as xr
from torch import nn

from retinacodec.attribution import contributions
from retinacodec.attribution.hooks import prepared, resolve_layers
from retinacodec.codec.features import SIGNS, attribution_model, pre_nonlinearity
from retinacodec.model.bncnn import BNCNN
from retinacodec.model.windows import WindowedData

__all__ = ["GRANULARITIES", "PERCENTS", "ablate_each_mode", "channel_scores", "default_frame_sets",
           "intervention_curves", "masked", "selectivity", "unit_scores"]

#: Shares of a mode's channels or units (in %) ablated or preserved (METHODS.md §3).
PERCENTS = (1, 2, 5, 10, 18, 25, 50, 80, 99)
GRANULARITIES = ("channel", "unit")


@contextmanager
def masked(model: nn.Module, masks: dict[str, torch.Tensor]) -> Iterator[nn.Module]:
    """Multiply named layers' outputs by masks during the block (forward hooks).

    Parameters
    ----------
    model : torch.nn.Module
    masks : dict
        Layer name → mask broadcastable to the layer's output of one sample, e.g.
        ``(channel, y, x)`` of 0 and 1.
    """
    modules = resolve_layers(model, list(masks))
    handles = [modules[name].register_forward_hook(lambda m, i, out, mask=mask: out * mask.to(out))
               for name, mask in masks.items()]
    try:
        yield model
    finally:
        for h in handles:
            h.remove()


def _unit_values(model: BNCNN, modes: xr.Dataset, x: torch.Tensor, layers: list[str], cell_index: int) -> dict:
    """Per layer: sign-split unit values (frames, 2, channel, y, x) on inputs ``x``."""
    if modes.attrs["source"] == "contributions":
        ds = contributions(attribution_model(model, modes.attrs["output"]), x, layers, target=[cell_index],
                           method=modes.attrs["method"], steps=max(int(modes.attrs["steps"]), 1),
                           rule=modes.attrs["rule"] if modes.attrs["rule"] != "none" else "trapezoid",
                           split_sign=True)
        return {name: ds[name].values[:, 0] for name in layers}
    names = {name: pre_nonlinearity(model, name) for name in layers}
    captured: dict[str, torch.Tensor] = {}
    modules = resolve_layers(model, list(names.values()))
    handles = [modules[n].register_forward_hook(lambda m, i, out, n=n: captured.__setitem__(n, out.detach()))
               for n in names.values()]
    try:
        with prepared(model, next(model.parameters()).device), torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return {name: torch.stack([captured[n].clamp(min=0), captured[n].clamp(max=0)], 1).cpu().numpy()
            for name, n in names.items()}


def _atom_weights(modes: xr.Dataset, mode: int, layer: str) -> np.ndarray:
    """The atom of ``mode`` on ``layer``'s features, shape (2, channel): rows pos, neg."""
    atom = modes["modes"].sel(mode=mode)
    a = atom.where(atom["layer"] == layer, drop=True)
    return np.stack([a.where(a["sign"] == s, drop=True).values for s in SIGNS])


def _layers(modes: xr.Dataset, mode: int) -> list[str]:
    return str(modes["mode_layer"].sel(mode=mode).values).split("+")


def unit_scores(model: BNCNN, modes: xr.Dataset, mode: int, x: torch.Tensor, cell_index: int,
                values: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """How much of ``mode`` each unit carries for one cell, averaged over inputs ``x``.

    Parameters
    ----------
    values : dict, optional
        The sign-split unit values of the mode's layers on ``x`` (frames, 2, channel, y, x),
        when already computed (they do not depend on the mode).

    Returns
    -------
    dict
        Layer name → scores of shape (channel, y, x) (module docstring).
    """
    layers = _layers(modes, mode)
    if values is None:
        values = _unit_values(model, modes, x, layers, cell_index)
    return {name: np.einsum("sc,nscyx->cyx", _atom_weights(modes, mode, name), values[name]) / values[name].shape[0]
            for name in layers}


def channel_scores(modes: xr.Dataset, mode: int) -> dict[str, np.ndarray]:
    """The atom's signed net weight of each channel, ``atom[pos, c] + atom[neg, c]``.

    Returns
    -------
    dict
        Layer name → scores of shape (channel, 1, 1), broadcastable over the layer's map.
    """
    return {name: _atom_weights(modes, mode, name).sum(0)[:, None, None] for name in _layers(modes, mode)}


def _top_masks(scores: dict[str, np.ndarray], percent: float, kind: str) -> dict[str, torch.Tensor]:
    """0/1 masks that zero the top ``percent`` % (at least one) entries (ablate) or all others (preserve)."""
    flat = np.concatenate([s.ravel() for s in scores.values()])
    n_top = max(1, int(np.ceil(percent / 100 * flat.size)))
    top = np.zeros(flat.size, dtype=bool)
    top[np.argsort(-flat, kind="stable")[:n_top]] = True
    masks, start = {}, 0
    for name, s in scores.items():
        keep = ~top[start:start + s.size] if kind == "ablate" else top[start:start + s.size]
        masks[name] = torch.as_tensor(keep.reshape(s.shape), dtype=torch.float32)
        start += s.size
    return masks


def selectivity(on_target: np.ndarray | float, off_target: np.ndarray | float) -> np.ndarray:
    """``(A_target − A_off) / (|A_target| + |A_off|)``: in [−1, 1], 0 where both are 0.

    With positive areas this is the paper's ``(A_t − A_o) / (A_t + A_o)``. The absolute
    values keep it defined and bounded when an intervention raises a response (a negative
    removed share) or has no effect (both zero): 1 means only the target frames are
    affected, −1 only the off-target ones.
    """
    t, o = np.asarray(on_target, dtype=float), np.asarray(off_target, dtype=float)
    den = np.abs(t) + np.abs(o)
    return np.divide(t - o, den, out=np.zeros(np.broadcast(t, o).shape), where=den > 0)


def default_frame_sets(loadings: xr.DataArray, quantile: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Target frames (loading above its ``quantile``) and off-target frames (loading zero).

    Parameters
    ----------
    loadings : xarray.DataArray, shape (frame,)
        One mode's loadings for one cell.
    quantile : float
        Of the non-zero loadings.

    Returns
    -------
    target, off_target : ndarray of int
        Frame indices (the ``frame`` coord); off-target falls back to the frames below the
        median loading when the mode is never inactive.
    """
    values, frames = loadings.values, loadings["frame"].values
    active = values > 0
    if not active.any():
        raise ValueError("the mode is never active on these frames; choose another mode or cell.")
    target = frames[values >= np.quantile(values[active], quantile)]
    off = frames[~active] if (~active).any() else frames[values < np.median(values)]
    return target, off


@torch.no_grad()
def _responses(model: BNCNN, x: torch.Tensor, cell_index: int, masks: dict | None = None) -> np.ndarray:
    with prepared(model, next(model.parameters()).device):
        if masks is None:
            return model(x)[:, cell_index].cpu().numpy()
        with masked(model, masks):
            return model(x)[:, cell_index].cpu().numpy()


def _mask_layers(model: BNCNN, modes: xr.Dataset, masks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Masks keyed by the module they act on: the layer (contributions) or its pre-nonlinearity point."""
    if modes.attrs["source"] == "contributions":
        return masks
    return {pre_nonlinearity(model, name): mask for name, mask in masks.items()}


def intervention_curves(model: BNCNN, recording: xr.Dataset, modes: xr.Dataset, mode: int, cell: int, *,
                        target_frames: np.ndarray | None = None, off_target_frames: np.ndarray | None = None,
                        percents: Sequence[float] = PERCENTS, kinds: Sequence[str] = ("ablate", "preserve"),
                        granularity: str = "channel") -> xr.Dataset:
    """Ablate or preserve the top channels (or units) of a mode and measure one cell's response.

    Parameters
    ----------
    model : BNCNN
        The model the modes were computed from.
    recording : xarray.Dataset
        The recording (for the stimulus windows of the frames).
    modes : xarray.Dataset
        From :func:`retinacodec.codec.decompose`, population (``loadings (frame, mode)``) or
        per-cell (``(frame, cell, mode)``) modes.
    mode : int
        The mode (``mode`` coord).
    cell : int
        The cell id (``cell`` coord).
    target_frames, off_target_frames : ndarray of int, optional
        Frames where the mode is / is not at work; default :func:`default_frame_sets` of the
        mode's loadings (this cell's with per-cell loadings). Units are ranked on the target
        frames.
    percents : sequence of float
        Shares of the channels or units, in %.
    kinds : sequence of {"ablate", "preserve"}
    granularity : {"channel", "unit"}
        Rank whole channels by the atom's signed weight (official) or units by how much of
        the mode they carry for this cell (module docstring).

    Returns
    -------
    xarray.Dataset
        ``removed (kind, frames, percent)``: share of the cell's mean response removed, for
        ``frames`` ∈ {``target``, ``off_target``}; ``auc (kind, frames)``: mean of the
        ablate curve (removed) or preserve curve (kept = 1 − removed) over p, trapezoid;
        ``selectivity (kind)`` (:func:`selectivity`); ``baseline (frames)``: the unperturbed
        mean rate (Hz). Attrs: mode, cell, source, granularity.
    """
    bad = [k for k in kinds if k not in ("ablate", "preserve")]
    if bad:
        raise ValueError(f"kinds must be 'ablate' and/or 'preserve'; got {bad}.")
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}; got {granularity!r}.")
    cells = list(modes["cell"].values) if "cell" in modes.dims else list(recording["cell"].values)
    if cell not in cells:
        raise ValueError(f"unknown cell {cell}; the modes hold cells {cells}.")
    if mode not in modes["mode"].values:
        raise ValueError(f"unknown mode {mode}; the modes are 0..{modes.sizes['mode'] - 1}.")
    cell_index = cells.index(cell)
    if target_frames is None or off_target_frames is None:
        load = modes["loadings"].sel(mode=mode)
        defaults = default_frame_sets(load.sel(cell=cell) if "cell" in load.dims else load)
        target_frames = defaults[0] if target_frames is None else target_frames
        off_target_frames = defaults[1] if off_target_frames is None else off_target_frames
    data = WindowedData(recording, model.config.history, model.normalization)
    device = next(model.parameters()).device
    sets = {"target": np.asarray(target_frames), "off_target": np.asarray(off_target_frames)}
    if any(s.size == 0 for s in sets.values()):
        raise ValueError("target and off-target frames must both be non-empty.")
    inputs = {name: data.batch(f, device)[0] for name, f in sets.items()}
    scores = (channel_scores(modes, mode) if granularity == "channel"
              else unit_scores(model, modes, mode, inputs["target"], cell_index))
    base = {name: _responses(model, x, cell_index) for name, x in inputs.items()}
    removed = np.zeros((len(kinds), 2, len(percents)))
    for i, kind in enumerate(kinds):
        for j, p in enumerate(percents):
            masks = _mask_layers(model, modes, _top_masks(scores, p, kind))
            for g, (name, x) in enumerate(inputs.items()):
                mean = base[name].mean()
                kept = _responses(model, x, cell_index, masks).mean()
                removed[i, g, j] = 1 - kept / mean if mean > 0 else np.nan
    frac = np.asarray(percents, dtype=float) / 100
    curves = np.where(np.asarray(kinds)[:, None, None] == "ablate", removed, 1 - removed)
    auc = np.trapezoid(curves, frac, axis=2) / (frac[-1] - frac[0]) if frac.size > 1 else curves[..., 0]
    fps = float(recording.attrs["frame_rate_hz"])
    return xr.Dataset(
        {"removed": (("kind", "frames", "percent"), removed), "auc": (("kind", "frames"), auc),
         "selectivity": ("kind", selectivity(auc[:, 0], auc[:, 1])),
         "baseline": ("frames", [base[n].mean() * fps for n in sets])},
        coords={"kind": list(kinds), "frames": list(sets), "percent": np.asarray(percents, dtype=float)},
        attrs={"mode": int(mode), "cell": int(cell), "source": modes.attrs["source"], "granularity": granularity,
               "n_target": int(sets["target"].size), "n_off_target": int(sets["off_target"].size)},
    )


def ablate_each_mode(model: BNCNN, recording: xr.Dataset, modes: xr.Dataset, cell: int, target_frames: np.ndarray,
                     off_target_frames: np.ndarray, *, layer: str = "layer1", percent: float = 10.0,
                     granularity: str = "channel") -> xr.Dataset:
    """Ablate the top ``percent`` % of every mode of one layer in turn: which mode matters on these frames?

    The comparison a causal claim needs: the mode said to carry the target frames' response
    should remove more of it than any other mode. Unit values are computed once for all modes.

    Parameters
    ----------
    model, recording, modes, cell
        As for :func:`intervention_curves`.
    target_frames, off_target_frames : ndarray of int
        E.g. a cell's ON events and OFF events.
    layer : str
        The SAE (``mode_layer``) whose modes are compared.
    percent : float
        Share of each mode's channels or units ablated.
    granularity : {"channel", "unit"}

    Returns
    -------
    xarray.Dataset
        ``removed (mode, frames)``: share of the cell's mean response removed on ``target``
        and ``off_target`` frames; ``selectivity (mode)``; coord ``intervention (mode)``: the
        first mode whose ablated channels (units) are the very same — with few channels (10 %
        of 8 is one) several modes rank the same channel first and are one intervention, so
        they tie by construction and only modes of different interventions can be ranked.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}; got {granularity!r}.")
    ids = modes["mode"].values[modes["mode_layer"].values == layer]
    if ids.size == 0:
        raise ValueError(f"no mode belongs to {layer!r}; the SAEs are {list(modes['sae'].values)}.")
    cells = list(modes["cell"].values) if "cell" in modes.dims else list(recording["cell"].values)
    if cell not in cells:
        raise ValueError(f"unknown cell {cell}; the modes hold cells {cells}.")
    cell_index = cells.index(cell)
    data = WindowedData(recording, model.config.history, model.normalization)
    device = next(model.parameters()).device
    inputs = [data.batch(np.asarray(f), device)[0] for f in (target_frames, off_target_frames)]
    base = [_responses(model, x, cell_index).mean() for x in inputs]
    values = _unit_values(model, modes, inputs[0], layer.split("+"), cell_index) if granularity == "unit" else None
    removed = np.zeros((ids.size, 2))
    same = np.zeros(ids.size, dtype=int)
    seen: list[tuple[int, dict[str, torch.Tensor]]] = []  # (row, ablation mask) of each distinct intervention
    for i, mode in enumerate(ids):
        scores = (channel_scores(modes, int(mode)) if granularity == "channel"
                  else unit_scores(model, modes, int(mode), inputs[0], cell_index, values))
        top = _top_masks(scores, percent, "ablate")
        first = next((j for j, t in seen if all(torch.equal(t[k], top[k]) for k in top)), None)
        if first is not None:  # the same intervention as an earlier mode: the same effect
            same[i], removed[i] = ids[first], removed[first]
            continue
        same[i] = mode
        seen.append((i, top))
        masks = _mask_layers(model, modes, top)
        for g, x in enumerate(inputs):
            removed[i, g] = 1 - _responses(model, x, cell_index, masks).mean() / base[g] if base[g] > 0 else np.nan
    return xr.Dataset({"removed": (("mode", "frames"), removed),
                       "selectivity": ("mode", selectivity(removed[:, 0], removed[:, 1]))},
                      coords={"mode": ids, "frames": ["target", "off_target"], "intervention": ("mode", same)},
                      attrs={"cell": int(cell), "layer": layer, "percent": float(percent), "granularity": granularity,
                             "source": modes.attrs["source"]})
