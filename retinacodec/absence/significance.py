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

For a BNCNN the inputs are stimulus windows, and a piece of a window is defined two ways:

* ``pieces="space"`` (default, the official procedure): a square region over the whole history
  (a spatiotemporal piece); pasting it at a corner replaces that region's last ``history``
  frames. The patch is at least the smallest crop the layer runs on (its receptive field), so a
  patch's score is the activation of the units that see only the patch.
* ``pieces="time"``: a run of consecutive frames over the whole frame, scored shown alone at its
  own lags (the window's other frames at the mean luminance, as the official masked search for
  models that take only whole inputs) and pasted back at those lags — an absence in time, such
  as a missing flash. Default length and stride: the official 64/224 and 16/224 of the history
  (11 and 3 frames of 40).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr
from scipy.stats import false_discovery_control, ttest_ind
from torch import nn
from tqdm.auto import tqdm

from retinacodec.absence.units import is_retina_model, unit_activations
from retinacodec.absence.visualize import (
    ENDS,
    OFFICIAL_PATCH,
    default_patch,
    extreme_indices,
    extreme_patches,
    square_crops,
)

__all__ = ["CONDITIONS", "PIECES", "absence_test", "paste_patches", "paste_pieces", "temporal_scores"]

CONDITIONS = ("lowest", "highest", "random")
PIECES = ("space", "time")


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


def temporal_scores(model: nn.Module, x: torch.Tensor, layer: str, length: int, stride: int, *,
                    batch_size: int = 64, device: str | torch.device | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each channel's activation on every temporal piece of every window, shown alone.

    A piece is ``length`` consecutive frames of a window, over the whole frame, at its own
    lags; the window's other frames are set to zero (the mean luminance), as the official
    code's masked search for models that take only whole inputs.

    Returns
    -------
    scores : ndarray, shape (n, m, n_channels)
    starts : ndarray of int, shape (m,)
        First window position (0 = oldest frame) of each piece.
    """
    starts = np.arange(0, x.shape[1] - length + 1, stride)
    out = []
    for b in range(0, x.shape[0], batch_size):
        chunk = x[b:b + batch_size]
        masked = torch.zeros((chunk.shape[0], starts.size, *chunk.shape[1:]), dtype=chunk.dtype)
        for j, st in enumerate(starts):
            masked[:, j, st:st + length] = chunk[:, st:st + length]
        a = unit_activations(model, masked.flatten(0, 1), layer, batch_size=batch_size * starts.size, device=device)
        out.append(a.reshape(chunk.shape[0], starts.size, -1))
    return np.concatenate(out), starts


def paste_pieces(inputs: torch.Tensor, pieces: torch.Tensor, starts: np.ndarray,
                 rng: np.random.Generator) -> torch.Tensor:
    """Paste one randomly chosen temporal piece into each window, at the piece's own lags (a copy).

    Parameters
    ----------
    inputs : torch.Tensor, shape (n, history, y, x)
    pieces : torch.Tensor, shape (k, length, y, x)
    starts : ndarray of int, shape (k,)
        Window position of each piece's first frame.
    rng : numpy.random.Generator

    Returns
    -------
    torch.Tensor, shape (n, history, y, x)
    """
    which = rng.integers(0, pieces.shape[0], inputs.shape[0])
    length = pieces.shape[1]
    out = inputs.clone()
    for i, w in enumerate(which):
        out[i, starts[w]:starts[w] + length] = pieces[w]
    return out


def _piece_sets(model: nn.Module, x: torch.Tensor, layer: str, kind: str, p: int, s: int, k: int,
                batch_size: int, device: str | torch.device | None, progress: bool | None):
    """Each unit's lowest and highest pieces, a sampler of random pieces, and the paste function."""
    if kind == "space":
        patches = extreme_patches(model, x, layer, patch_size=p, stride=s, k=k, device=device,
                                  progress=progress)["patch"]

        def extreme(unit: int, end: str) -> tuple:
            return (torch.from_numpy(patches.sel(unit=unit, end=end).values),)

        def random(rng: np.random.Generator) -> tuple:
            return (_random_patches(x, p, s, k, rng),)

        return extreme, random, paste_patches
    scores, starts = temporal_scores(model, x, layer, p, s, batch_size=batch_size, device=device)
    n, m, c = scores.shape
    idx = extreme_indices(scores.reshape(n * m, c), k)  # (unit, end, rank) into window·start

    def gather(flat: np.ndarray) -> tuple:
        src, at = flat // m, starts[flat % m]
        return torch.stack([x[i, a:a + p] for i, a in zip(src, at, strict=True)]), at

    def extreme(unit: int, end: str) -> tuple:
        return gather(idx[unit, ENDS.index(end)])

    def random(rng: np.random.Generator) -> tuple:
        return gather(rng.integers(0, n * m, k))

    return extreme, random, paste_pieces


def absence_test(model: nn.Module, inputs: torch.Tensor | np.ndarray, layer: str, *,
                 channels: Sequence[int] | None = None, n_top: int = 100, pieces: str = "space",
                 patch_size: int | None = None,
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
    pieces : {"space", "time"}
        Square patches over all channels (images; windows over their whole history), or, for a
        BNCNN, runs of frames (module docstring).
    patch_size, stride : int, optional
        In pixels: default :func:`~retinacodec.absence.visualize.default_patch` (official 64
        and 16 on 224-pixel images, scaled, at least the layer's receptive field); in frames
        for ``pieces="time"``: 64/224 and 16/224 of the history.
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

    Examples
    --------
    >>> rec, truth = rc.load_sample()
    >>> model = rc.load_sample_model()
    >>> windows, _ = rc.absence.recording_windows(model, rec, np.flatnonzero(rec["block"].values == "test")[:300])
    >>> result = rc.absence.absence_test(model, windows, "layer1", n_top=20)
    >>> dict(result.sizes)
    {'unit': 8, 'condition': 3}
    """
    x = torch.as_tensor(inputs)
    if x.ndim != 4:
        raise ValueError(f"inputs must be (n, channel, y, x) images or windows; got shape {tuple(x.shape)}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha}.")
    if not 2 <= n_top <= x.shape[0]:
        raise ValueError(f"n_top must lie in 2..{x.shape[0]} (the number of inputs); got {n_top}.")
    if pieces not in PIECES:
        raise ValueError(f"pieces must be one of {PIECES}; got {pieces!r}.")
    if pieces == "time" and not is_retina_model(model):
        raise ValueError("pieces='time' needs a model on stimulus windows (a BNCNN); use pieces='space'.")
    if pieces == "time":
        side = x.shape[1]
        p0, s0, ref = OFFICIAL_PATCH
        p, s = patch_size or max(1, round(p0 * side / ref)), stride or max(1, round(s0 * side / ref))
    else:
        side = min(x.shape[2:])
        if patch_size is None or stride is None:
            p, s = default_patch(model, layer, x)
            patch_size, stride = patch_size or p, stride or s
        p, s = int(patch_size), int(stride)
    if p >= side:
        raise ValueError(f"pieces of {p} {'frames' if pieces == 'time' else 'pixels'} cover the whole input, so "
                         "pasting one replaces it; give a smaller patch_size (a model that runs only on whole "
                         "inputs, such as one with a BatchNorm per unit, cannot score crops: try pieces='time').")
    scores = unit_activations(model, x, layer, batch_size=batch_size, device=device, progress=progress)
    units = np.arange(scores.shape[1]) if channels is None else np.asarray(channels, dtype=int)
    extreme, random, paste = _piece_sets(model, x, layer, pieces, p, s, int(n_patches), batch_size, device, progress)
    rng = np.random.default_rng(seed)
    stats = np.zeros((units.size, 2, len(CONDITIONS)))
    top_mean, t, pval = np.zeros(units.size), np.zeros(units.size), np.zeros(units.size)
    for j, c in enumerate(tqdm(units, desc="absence test", unit="unit",
                               disable=(not progress) if progress is not None else None)):
        top = x[torch.as_tensor(np.argsort(scores[:, c])[::-1][:n_top].copy())]
        top_mean[j] = np.sort(scores[:, c])[::-1][:n_top].mean()
        sets = {"lowest": extreme(int(c), "lowest"), "highest": extreme(int(c), "highest"), "random": random(rng)}
        acts = {}
        for name in CONDITIONS:
            pasted = paste(top, *sets[name], rng)
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
        attrs={"layer": layer, "n_top": int(n_top), "pieces": pieces, "patch_size": p, "stride": s,
               "patch_units": "frames" if pieces == "time" else "pixels", "n_patches": int(n_patches),
               "alpha": float(alpha), "seed": int(seed), "n_inputs": int(x.shape[0]),
               "share_drop": float(drop.mean()), "share_drop_bh": float(drop_bh.mean()),
               "share_significant": float(significant.mean()),
               "test": "two-sided ttest_ind, random vs lowest patches pasted into the unit's top inputs",
               "description": "units whose lowest-activating patches lower their activation on their top inputs "
               "significantly more than random patches (encoded absences)"},
    )
