"""Causal tests of modes: ablate or preserve a mode's top units and watch a cell's output.

A **unit** is one position ``(channel, y, x)`` of a layer's output map. Units are ranked for
mode m and cell k by how much of the mode they carry on the frames where it is active: the
unit's sign-split value (its contribution to cell k, or its pre-nonlinearity activation for
activation modes) projected on the mode's atom, ``Σ_s atom[m, layer, s, channel] · v_s``,
averaged over the target frames. That ranks a channel's units by where in space they
carry the mode for this cell, so "the top p % of units" are spatially specific.

**Ablate** sets the top ``p`` % of the mode's units to zero at the layer's output (a forward
hook multiplying it by a 0/1 mask); **preserve** zeroes every other unit of those layers.
The effect on cell k is the share of its response removed, ``mean(r − r_int) / mean(r)``
over a set of frames, for target frames (where the mode is active) and off-target frames;
:func:`intervention_curves` reports it over ``p`` ∈ {1, 2, 5, 10, 18, 25, 50, 80, 99} %,
its area under the curve (trapezoid over p as a fraction, divided by the p range), and the
selectivity ``(A_target − A_off) / (A_target + A_off)`` of the removed share (ablate) or the
kept share ``1 − removed`` (preserve).
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
from retinacodec.codec import attribution_model, pre_nonlinearity
from retinacodec.models import BNCNN
from retinacodec.windows import WindowedData

__all__ = ["PERCENTS", "default_frame_sets", "intervention_curves", "masked", "unit_scores"]

#: Shares of a mode's units (in %) ablated or preserved (METHODS.md §3).
PERCENTS = (1, 2, 5, 10, 18, 25, 50, 80, 99)


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


def unit_scores(model: BNCNN, modes: xr.Dataset, mode: int, x: torch.Tensor, cell_index: int) -> dict[str, np.ndarray]:
    """How much of ``mode`` each unit carries for one cell, averaged over inputs ``x``.

    Returns
    -------
    dict
        Layer name → scores of shape (channel, y, x) (module docstring).
    """
    atom = modes["modes"].sel(mode=mode)
    layers = str(modes["mode_layer"].sel(mode=mode).values).split("+")
    values = _unit_values(model, modes, x, layers, cell_index)
    scores = {}
    for name in layers:
        a = atom.where(atom["layer"] == name, drop=True)
        w = np.stack([a.where(a["sign"] == s, drop=True).values for s in ("pos", "neg")])  # (2, channel)
        scores[name] = np.einsum("sc,nscyx->cyx", w, values[name]) / values[name].shape[0]
    return scores


def _top_masks(scores: dict[str, np.ndarray], percent: float, kind: str) -> dict[str, torch.Tensor]:
    """0/1 masks that zero the top ``percent`` % units (ablate) or all others (preserve)."""
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


def intervention_curves(model: BNCNN, recording: xr.Dataset, modes: xr.Dataset, mode: int, cell: int, *,
                        target_frames: np.ndarray | None = None, off_target_frames: np.ndarray | None = None,
                        percents: Sequence[float] = PERCENTS, kinds: Sequence[str] = ("ablate", "preserve"),
                        ) -> xr.Dataset:
    """Ablate or preserve the top units of a mode and measure one cell's response.

    Parameters
    ----------
    model : BNCNN
        The model the modes were computed from.
    recording : xarray.Dataset
        The recording (for the stimulus windows of the frames).
    modes : xarray.Dataset
        From :func:`retinacodec.codec.decompose`.
    mode : int
        The mode (``mode`` coord).
    cell : int
        The cell id (``cell`` coord).
    target_frames, off_target_frames : ndarray of int, optional
        Frames where the mode is / is not at work; default :func:`default_frame_sets` of the
        mode's loadings for this cell. Units are ranked on the target frames.
    percents : sequence of float
        Shares of the units, in %.
    kinds : sequence of {"ablate", "preserve"}

    Returns
    -------
    xarray.Dataset
        ``removed (kind, frames, percent)``: share of the cell's mean response removed, for
        ``frames`` ∈ {``target``, ``off_target``}; ``auc (kind, frames)``: mean of the
        ablate curve (removed) or preserve curve (kept = 1 − removed) over p, trapezoid;
        ``selectivity (kind)``: ``(auc_target − auc_off) / (auc_target + auc_off)``;
        ``baseline (frames)``: the unperturbed mean rate (Hz). Attrs: mode, cell, source.
    """
    bad = [k for k in kinds if k not in ("ablate", "preserve")]
    if bad:
        raise ValueError(f"kinds must be 'ablate' and/or 'preserve'; got {bad}.")
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
    scores = unit_scores(model, modes, mode, inputs["target"], cell_index)
    base = {name: _responses(model, x, cell_index) for name, x in inputs.items()}
    removed = np.zeros((len(kinds), 2, len(percents)))
    for i, kind in enumerate(kinds):
        for j, p in enumerate(percents):
            masks = _top_masks(scores, p, kind)
            for g, (name, x) in enumerate(inputs.items()):
                removed[i, g, j] = 1 - _responses(model, x, cell_index, masks).mean() / base[name].mean()
    frac = np.asarray(percents, dtype=float) / 100
    curves = np.where(np.asarray(kinds)[:, None, None] == "ablate", removed, 1 - removed)
    auc = np.trapezoid(curves, frac, axis=2) / (frac[-1] - frac[0]) if frac.size > 1 else curves[..., 0]
    fps = float(recording.attrs["frame_rate_hz"])
    return xr.Dataset(
        {"removed": (("kind", "frames", "percent"), removed), "auc": (("kind", "frames"), auc),
         "selectivity": ("kind", (auc[:, 0] - auc[:, 1]) / (auc[:, 0] + auc[:, 1])),
         "baseline": ("frames", [base[n].mean() * fps for n in sets])},
        coords={"kind": list(kinds), "frames": list(sets), "percent": np.asarray(percents, dtype=float)},
        attrs={"mode": int(mode), "cell": int(cell), "source": modes.attrs["source"],
               "n_target": int(sets["target"].size), "n_off_target": int(sets["off_target"].size)},
    )
