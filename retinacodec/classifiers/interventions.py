"""Causal tests of classifier modes: zero a mode's top channels and watch per-class accuracy.

The protocol is the official one (baccuslab/CODEC_ICLR_2026
``figures/figure_6_ablations/perform_layerwise_ablations.py`` with bscope's ``Disruptor``):
for each of ``n_trials`` (20) trials two random classes are drawn, a *target* and an
*off-target* class; the target class's top mode at the layer (largest loading × class
correlation, ``bic.get_top_mode``) ranks the layer's channels by its atom (``bic.top_n``);
the top ``p`` % channels are zeroed over the whole map (**ablate**, ``Disruptor(style="destroy")``)
or every other channel is (**preserve**), and the top-1 accuracy of each class's images is
compared with the unperturbed accuracy, ``ratio = accuracy_perturbed / accuracy``, over
``p`` ∈ {1, 2, 5, 10, 18, 25, 50, 80, 99} %. Areas under the curves (trapezoid over p as a
fraction, divided by the range of p) summarise them; the selectivity
(:func:`retinacodec.codec.interventions.selectivity`) compares the target class's share of
accuracy *removed* (ablate) or *kept* (preserve) with the off-target class's.

Two departures, both stated in the results' attributes: at least one channel is always
zeroed (the official ``int(C · p / 100)`` zeroes no channel at 1 % of a 64-channel layer),
and every image of a class is used instead of a subsample of 10. Atoms over both signs are
ranked by each channel's net weight, as :func:`retinacodec.codec.interventions.channel_scores`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn

from retinacodec.attribution.hooks import model_device, prepared
from retinacodec.classifiers.analyses import class_correlation
from retinacodec.classifiers.features import LAYOUTS
from retinacodec.classifiers.layers import resolve
from retinacodec.codec.interventions import PERCENTS, masked, selectivity

__all__ = ["METRICS", "channel_ranking", "class_ablation", "class_accuracy", "mode_ablation"]


def channel_ranking(modes: xr.Dataset, mode: int, layer: str) -> np.ndarray:
    """The layer's channels ordered by the mode's atom, largest weight first.

    Parameters
    ----------
    modes : xarray.Dataset
        From :func:`~.modes.image_modes`.
    mode : int
        ``mode`` coord.
    layer : str
        A layer of the mode's SAE.

    Returns
    -------
    ndarray of int, shape (C,)
        Channel indices; for atoms with both signs, by the net weight ``pos + neg``.
    """
    atom = modes["modes"].sel(mode=mode)
    atom = atom.isel(feature=np.flatnonzero(atom["layer"].values == layer))
    if atom.sizes["feature"] == 0:
        raise ValueError(f"the modes hold no features of layer {layer!r}.")
    n = int(atom["channel"].values.max()) + 1
    weight = np.zeros(n)
    np.add.at(weight, atom["channel"].values, atom.values)
    return np.argsort(-weight, kind="stable")


def _mask(n_channels: int, zeroed: np.ndarray, ndim: int, layout: str) -> torch.Tensor:
    """A 0/1 mask over one sample's layer output that zeroes the given channels."""
    keep = torch.ones(n_channels)
    keep[torch.as_tensor(zeroed, dtype=torch.long)] = 0
    tokens = layout == "tokens" or (layout == "auto" and ndim == 3)
    if ndim == 2 or tokens:
        return keep  # (feature,): the last dim
    return keep.reshape(n_channels, *([1] * (ndim - 2)))


#: What is measured per class: top-1 accuracy (official) or the mean softmax probability of the true class.
METRICS = ("accuracy", "probability")


@torch.no_grad()
def class_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                   masks: dict[str, torch.Tensor] | None = None, *, metric: str = "accuracy",
                   batch_size: int = 256) -> dict[int, float]:
    """Per class, the top-1 accuracy (or mean true-class probability), optionally with masked layers.

    Parameters
    ----------
    model : torch.nn.Module
    images : torch.Tensor, shape (n, ...)
    labels : torch.Tensor, shape (n,)
    masks : dict, optional
        Layer → mask multiplying its output (:func:`retinacodec.codec.interventions.masked`).
    metric : {"accuracy", "probability"}
        Share of the class's images classified correctly, or their mean softmax probability
        of the true class (continuous: it registers effects too small to flip a decision).
    batch_size : int

    Returns
    -------
    dict
        Class → score.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}; got {metric!r}.")
    dev = model_device(model)
    scores = []
    with prepared(model, dev):
        with masked(model, masks) if masks else contextlib.nullcontext():
            for s in range(0, images.shape[0], batch_size):
                logits = model(images[s:s + batch_size].to(dev)).float().cpu()
                y = labels[s:s + batch_size]
                scores.append((logits.argmax(1) == y).float() if metric == "accuracy"
                              else logits.softmax(1)[torch.arange(y.shape[0]), y])
    score = torch.cat(scores)
    return {int(k): float(score[labels == k].mean()) for k in torch.unique(labels)}


def _layer_ndim(model: nn.Module, layer: str, example: torch.Tensor) -> int:
    module = resolve(model, layer)[layer]
    shape: list = []
    handle = module.register_forward_hook(lambda m, i, out: shape.append(out.ndim))
    try:
        with torch.no_grad(), prepared(model, model_device(model)):
            model(example[:1].to(model_device(model)))
    finally:
        handle.remove()
    return shape[0]


def _check(modes: xr.Dataset, layer: str, images: torch.Tensor, labels: torch.Tensor, layout: str) -> list[int]:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}; got {layout!r}.")
    saes = [str(s) for s in modes["mode_layer"].values]
    if not any(layer in s.split("+") for s in saes):
        raise ValueError(f"no mode belongs to layer {layer!r}; the SAEs are {sorted(set(saes))}.")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"got {labels.shape[0]} labels for {images.shape[0]} images.")
    return [int(k) for k in torch.unique(labels)]


def _layer_corr(modes: xr.Dataset, layer: str) -> xr.DataArray:
    corr = class_correlation(modes["loadings"])
    keep = np.asarray([layer in str(s).split("+") for s in corr["mode_layer"].values])
    return corr.isel(mode=np.flatnonzero(keep))


def _n_zeroed(n_channels: int, percent: float) -> int:
    return max(1, int(np.ceil(percent / 100 * n_channels)))


def class_ablation(model: nn.Module, modes: xr.Dataset, images: torch.Tensor, labels: torch.Tensor, layer: str, *,
                   n_trials: int = 20, percents: Sequence[float] = PERCENTS,
                   kinds: Sequence[str] = ("ablate", "preserve"), layout: str = "auto", metric: str = "accuracy",
                   seed: int = 1992) -> xr.Dataset:
    """Ablate or preserve a class's top mode's channels; target vs a random off-target class (module docstring).

    Parameters
    ----------
    model : torch.nn.Module
        The classifier the modes come from.
    modes : xarray.Dataset
        :func:`~.modes.image_modes` of ``layer`` (loadings with a ``label`` coord).
    images : torch.Tensor, shape (n, ...)
        Images to measure accuracy on (e.g. held-out ones).
    labels : torch.Tensor, shape (n,)
    layer : str
        The layer whose channels are zeroed (its modes are ranked).
    n_trials : int
        Trials, each a random (target, off-target) pair of distinct classes.
    percents : sequence of float
        Shares of the layer's channels, in %.
    kinds : sequence of {"ablate", "preserve"}
    layout : {"auto", "channels", "tokens"}
        Where the channel dim is (:func:`~.features.reduce_layer`).
    metric : {"accuracy", "probability"}
        :func:`class_accuracy`; the official protocol uses top-1 accuracy.
    seed : int
        Seeds the class draws (the official 1992).

    Returns
    -------
    xarray.Dataset
        ``ratio (kind, trial, percent, frames)``: perturbed / unperturbed accuracy of the
        ``target`` and ``off_target`` class; ``curve (kind, percent, frames)``: its mean
        over trials; ``auc (kind, frames)`` of the mean curve (ablate: of the accuracy
        removed, 1 − ratio; preserve: of the ratio kept); ``selectivity (kind)``;
        ``target_class``, ``off_target_class``, ``mode (trial)``.
    """
    bad = [k for k in kinds if k not in ("ablate", "preserve")]
    if bad:
        raise ValueError(f"kinds must be 'ablate' and/or 'preserve'; got {bad}.")
    classes = _check(modes, layer, images, labels, layout)
    if len(classes) < 2:
        raise ValueError("the images hold fewer than 2 classes; a target and an off-target class are needed.")
    corr = _layer_corr(modes, layer)
    ndim = _layer_ndim(model, layer, images)
    base = class_accuracy(model, images, labels, metric=metric)
    rng = np.random.default_rng(seed)
    pairs = [rng.choice(classes, size=2, replace=False) for _ in range(n_trials)]
    ratio = np.full((len(kinds), n_trials, len(percents), 2), np.nan)
    chosen = []
    for t, (target, off) in enumerate(pairs):
        mode = int(corr["mode"].values[corr.sel({"class": target}).values.argmax()])
        chosen.append(mode)
        order = channel_ranking(modes, mode, layer)
        for j, p in enumerate(percents):
            top = order[:_n_zeroed(order.size, p)]
            for i, kind in enumerate(kinds):
                zeroed = top if kind == "ablate" else np.setdiff1d(order, top)
                acc = class_accuracy(model, images, labels, {layer: _mask(order.size, zeroed, ndim, layout)},
                                     metric=metric)
                for g, k in enumerate((target, off)):
                    ratio[i, t, j, g] = acc[int(k)] / base[int(k)] if base[int(k)] > 0 else np.nan
    curve = np.nanmean(ratio, axis=1)
    frac = np.asarray(percents, dtype=float) / 100
    shown = np.where(np.asarray(kinds)[:, None, None] == "ablate", 1 - curve, curve)
    auc = np.trapezoid(shown, frac, axis=1) / (frac[-1] - frac[0]) if frac.size > 1 else shown[:, 0]
    return xr.Dataset(
        {"ratio": (("kind", "trial", "percent", "frames"), ratio),
         "curve": (("kind", "percent", "frames"), curve),
         "auc": (("kind", "frames"), auc), "selectivity": ("kind", selectivity(auc[:, 0], auc[:, 1])),
         "target_class": ("trial", [int(p[0]) for p in pairs]),
         "off_target_class": ("trial", [int(p[1]) for p in pairs]),
         "mode": ("trial", chosen)},
        coords={"kind": list(kinds), "trial": np.arange(n_trials), "percent": np.asarray(percents, dtype=float),
                "frames": ["target", "off_target"]},
        attrs={"layer": layer, "source": modes.attrs.get("source", ""), "seed": int(seed), "n_trials": int(n_trials),
               "metric": metric,
               "protocol": "official perform_layerwise_ablations.py (top-1 accuracy ratio per class); at least one "
                           "channel zeroed; every image of a class used"},
    )


def mode_ablation(model: nn.Module, modes: xr.Dataset, images: torch.Tensor, labels: torch.Tensor, layer: str, *,
                  percent: float = 10.0, layout: str = "auto", metric: str = "accuracy") -> xr.Dataset:
    """For every class, zero the top ``percent`` % channels of its top mode: its accuracy vs the others'.

    Parameters
    ----------
    model, modes, images, labels, layer, layout, metric
        As :func:`class_ablation`.
    percent : float
        Share of the layer's channels zeroed.

    Returns
    -------
    xarray.Dataset, dim ``class``
        ``mode`` and ``r`` (its class correlation); ``drop_target``: the share of the class's
        accuracy removed, ``1 − acc_ablated / acc``; ``drop_others``: the same pooled over the
        other classes' images; ``selectivity`` :func:`~retinacodec.codec.interventions.selectivity`
        of the two (> 1/3 where the class loses at least twice as much as the others).
        Attrs: ``mean_selectivity``, ``share_twice`` (share of classes with
        ``drop_target >= 2 · drop_others`` and ``drop_target > 0``).
    """
    classes = _check(modes, layer, images, labels, layout)
    corr = _layer_corr(modes, layer)
    ndim = _layer_ndim(model, layer, images)
    base = class_accuracy(model, images, labels, metric=metric)
    counts = {k: int((labels == k).sum()) for k in classes}
    rows = []
    for k in classes:
        idx = int(corr.sel({"class": k}).values.argmax())
        mode = int(corr["mode"].values[idx])
        order = channel_ranking(modes, mode, layer)
        acc = class_accuracy(model, images, labels,
                             {layer: _mask(order.size, order[:_n_zeroed(order.size, percent)], ndim, layout)},
                             metric=metric)
        others = [c for c in classes if c != k]
        kept_o = sum(acc[c] * counts[c] for c in others) / sum(base[c] * counts[c] for c in others)
        rows.append((mode, float(corr.values[idx, classes.index(k)]), 1 - acc[k] / base[k], 1 - kept_o))
    mode, r, drop_t, drop_o = map(np.asarray, zip(*rows, strict=True))
    sel = selectivity(drop_t, drop_o)
    return xr.Dataset(
        {"mode": ("class", mode.astype(int)), "r": ("class", r), "drop_target": ("class", drop_t),
         "drop_others": ("class", drop_o), "selectivity": ("class", sel)},
        coords={"class": classes},
        attrs={"layer": layer, "percent": float(percent), "source": modes.attrs.get("source", ""), "metric": metric,
               "n_zeroed": _n_zeroed(channel_ranking(modes, int(mode[0]), layer).size, percent),
               "mean_selectivity": float(np.mean(sel)),
               "share_twice": float(np.mean((drop_t >= 2 * drop_o) & (drop_t > 0)))},
    )
