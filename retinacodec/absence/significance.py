"""The absence test (official what-is-missing ``image_quantitative.py``): how common are encoded absences?

For each unit (a channel's spatial-mean pre-nonlinearity activation):

1. its top ``n_top`` inputs (100 by default) are the inputs it responds to most;
2. its ``n_patches`` lowest-activating patches (:func:`~retinacodec.absence.extreme_patches`)
   and as many random patches (a random input, a random crop position) are drawn;
3. into each top input one of the patches, chosen at random, is pasted at a random corner
   (official ``paste_patches``), once with the lowest patches and once with the random ones;
4. a two-sample t-test (``scipy.stats.ttest_ind``, two-sided) compares the unit's activations
   on the two pasted sets. The official code counts a unit when p ≤ 0.05 without correction;
   here a unit **encodes an absence** when that holds *and* the lowest patches lower its
   activation more than random ones (a significant drop). Benjamini–Hochberg control over the
   units is offered beside.

For a BNCNN the inputs are stimulus windows and a patch is a square region over the whole
history (a spatiotemporal piece of a window): pasting it replaces that region's last
``history`` frames. The patch is at least the smallest crop the layer runs on (its receptive
field), so a patch's score is the activation of the units that see only the patch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr
from scipy.stats import false_discovery_control, ttest_ind
from torch import nn
from tqdm.auto import tqdm

from retinacodec.absence.units import unit_activations
from retinacodec.absence.visualize import default_patch, extreme_patches, square_crops

__all__ = ["CONDITIONS", "absence_test", "paste_patches"]

CONDITIONS = ("lowest", "highest", "random")


def paste_patches(inputs: torch.Tensor, patches: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Paste one randomly chosen patch into a random corner of each input (a copy).

    Parameters
    ----------
    inputs : torch.Tensor, shape (n, channel, y, x)
    patches : torch.Tensor, shape (k, channel, p, p)
    rng : numpy.random.Generator

    Returns
    -------
    torch.Tensor, shape (n, channel, y, x)
    """
    n, _, ny, nx = inputs.shape
    p = patches.shape[-1]
    if p > min(ny, nx):
        raise ValueError(f"patches of {p} pixels do not fit inputs of {ny}×{nx}.")
    which = rng.integers(0, patches.shape[0], n)
    ys = rng.integers(0, 2, n) * (ny - p)
    xs = rng.integers(0, 2, n) * (nx - p)
    out = inputs.clone()
    for i in range(n):
        out[i, :, ys[i]:ys[i] + p, xs[i]:xs[i] + p] = patches[which[i]]
    return out


def _random_patches(x: torch.Tensor, p: int, s: int, k: int, rng: np.random.Generator) -> torch.Tensor:
    """k crops of random inputs at random crop positions: (k, channel, p, p)."""
    src = rng.integers(0, x.shape[0], k)
    _, corners = square_crops(x[:1], p, s)
    at = corners[rng.integers(0, corners.shape[0], k)]
    return torch.stack([x[i, :, y:y + p, xx:xx + p] for i, (y, xx) in zip(src, at, strict=True)])


def absence_test(model: nn.Module, inputs: torch.Tensor | np.ndarray, layer: str, *,
                 channels: Sequence[int] | None = None, n_top: int = 100, patch_size: int | None = None,
                 stride: int | None = None, n_patches: int = 4, alpha: float = 0.05, seed: int = 0,
                 batch_size: int = 256, device: str | torch.device | None = None,
                 progress: bool | None = None) -> xr.Dataset:
    """Which units of a layer encode an absence: paste their lowest-activating patches into their top inputs.

    Parameters
    ----------
    model : nn.Module
    inputs : tensor or ndarray, shape (n, channel, y, x)
        The input set (z-scored windows from :func:`~retinacodec.absence.recording_windows`,
        or images); top inputs, lowest patches and random patches all come from it.
    layer : str
        Hidden layer; its channels are the units.
    channels : sequence of int, optional
        Units to test; default all.
    n_top : int
        Top inputs per unit (official: 100).
    patch_size, stride : int, optional
        Default :func:`~retinacodec.absence.visualize.default_patch` (official 64 and 16 on
        224-pixel images, scaled, at least the layer's receptive field).
    n_patches : int
        Lowest (and random) patches per unit (METHODS.md §6: 4).
    alpha : float
        Significance level (official: 0.05, uncorrected).
    seed : int
        Seeds the random patches and the pasting.
    batch_size, device, progress
        Inputs per forward pass; where to compute; progress bars.

    Returns
    -------
    xarray.Dataset, dim ``unit``
        ``activation_mean``, ``activation_std`` ``(unit, condition)`` of the activations of the top inputs with the
        ``lowest``, ``highest`` or ``random`` patches pasted; ``top_mean`` (unpasted);
        ``t`` (random minus lowest, positive when the lowest patches lower the activation
        more), ``p`` and ``p_bh`` (Benjamini–Hochberg adjusted over the units); booleans
        ``significant`` (p ≤ alpha, the official count), ``drop`` (significant and t > 0)
        and ``drop_bh`` (the same with ``p_bh``). Attrs: ``share_drop``, ``share_drop_bh``,
        ``share_significant`` and the parameters.
    """
    x = torch.as_tensor(inputs)
    if x.ndim != 4:
        raise ValueError(f"inputs must be (n, channel, y, x) images or windows; got shape {tuple(x.shape)}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha}.")
    if not 2 <= n_top <= x.shape[0]:
        raise ValueError(f"n_top must lie in 2..{x.shape[0]} (the number of inputs); got {n_top}.")
    if patch_size is None or stride is None:
        p, s = default_patch(model, layer, x)
        patch_size, stride = patch_size or p, stride or s
    p, s = int(patch_size), int(stride)
    if p >= min(x.shape[2:]):
        raise ValueError(f"patches of {p} pixels cover the whole {x.shape[2]}×{x.shape[3]} input, so pasting one "
                         "replaces the input; give a smaller patch_size (a model that runs only on whole inputs, such "
                         "as one with a BatchNorm per unit, cannot score crops).")
    scores = unit_activations(model, x, layer, batch_size=batch_size, device=device, progress=progress)
    units = np.arange(scores.shape[1]) if channels is None else np.asarray(channels, dtype=int)
    extreme = extreme_patches(model, x, layer, patch_size=p, stride=s, k=n_patches, device=device,
                              progress=progress)["patch"]
    rng = np.random.default_rng(seed)
    stats = np.zeros((units.size, 2, len(CONDITIONS)))
    top_mean, t, pval = np.zeros(units.size), np.zeros(units.size), np.zeros(units.size)
    for j, c in enumerate(tqdm(units, desc="absence test", unit="unit",
                               disable=(not progress) if progress is not None else None)):
        top = x[torch.as_tensor(np.argsort(scores[:, c])[::-1][:n_top].copy())]
        top_mean[j] = np.sort(scores[:, c])[::-1][:n_top].mean()
        sets = {"lowest": torch.from_numpy(extreme.sel(unit=c, end="lowest").values),
                "highest": torch.from_numpy(extreme.sel(unit=c, end="highest").values),
                "random": _random_patches(x, p, s, n_patches, rng)}
        acts = {}
        for name in CONDITIONS:
            pasted = paste_patches(top, sets[name], rng)
            acts[name] = unit_activations(model, pasted, layer, [int(c)], batch_size=batch_size, device=device)[:, 0]
            stats[j, :, CONDITIONS.index(name)] = acts[name].mean(), acts[name].std(ddof=1)
        res = ttest_ind(acts["random"].astype(np.float64), acts["lowest"].astype(np.float64))
        t[j], pval[j] = float(res.statistic), float(res.pvalue)
    pval = np.nan_to_num(pval, nan=1.0)  # identical activations: no evidence of a change
    p_bh = false_discovery_control(pval, method="bh")
    significant = pval <= alpha
    drop, drop_bh = significant & (t > 0), (p_bh <= alpha) & (t > 0)
    return xr.Dataset(
        {"activation_mean": (("unit", "condition"), stats[:, 0]),
         "activation_std": (("unit", "condition"), stats[:, 1]),
         "top_mean": ("unit", top_mean), "t": ("unit", t), "p": ("unit", pval), "p_bh": ("unit", p_bh),
         "significant": ("unit", significant), "drop": ("unit", drop), "drop_bh": ("unit", drop_bh)},
        coords={"unit": units, "condition": list(CONDITIONS)},
        attrs={"layer": layer, "n_top": int(n_top), "patch_size": p, "stride": s, "n_patches": int(n_patches),
               "alpha": float(alpha), "seed": int(seed), "n_inputs": int(x.shape[0]),
               "share_drop": float(drop.mean()), "share_drop_bh": float(drop_bh.mean()),
               "share_significant": float(significant.mean()),
               "test": "two-sided ttest_ind, random vs lowest patches pasted into the unit's top inputs",
               "description": "units whose lowest-activating patches lower their activation on their top inputs "
               "significantly more than random patches (encoded absences)"},
    )
