"""Feature visualisation both ways: what drives a unit up, and what drives it down.

A unit that encodes an absence is best described by its **lowest**-activating inputs beside
its highest (METHODS.md §6). Everything is read on pre-nonlinearity activations
(:mod:`retinacodec.absence.units`), where decreases are not clipped.

* :func:`extreme_inputs` — the k highest- and lowest-activating inputs (stimulus windows or
  images) of each channel of a layer; :func:`extreme_windows` the same over a whole recording;
* :func:`extreme_patches` — the same over crops (the official what-is-missing search:
  patch 64, stride 16, 4 patches; scaled down for small inputs by :func:`default_patch`);
* :func:`extreme_mode_windows` — the windows that load a CODEC mode most and least;
* :func:`optimize_input` — an input optimised to maximise or minimise a unit's activation,
  bounded and regularised (L2 + total variation), for 40-frame movies and for images.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from retinacodec.absence.units import (
    activation_map,
    is_retina_model,
    label_input,
    recording_windows,
    select_units,
    unit_activations,
    window_frames,
)
from retinacodec.attribution.hooks import model_device, prepared

__all__ = ["default_patch", "extreme_indices", "extreme_inputs", "extreme_mode_windows", "extreme_patches",
           "extreme_windows", "mode_scores", "optimize_input", "patch_scores", "square_crops"]

ENDS = ("highest", "lowest")
#: The official patch search on 224-pixel ImageNet images: patch 64, stride 16.
OFFICIAL_PATCH = (64, 16, 224)


def extreme_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices (n_units, 2, k) of the k highest (descending) and k lowest (ascending) scores of each unit.

    Parameters
    ----------
    scores : ndarray, shape (n, n_units)
    """
    if not 1 <= k <= scores.shape[0]:
        raise ValueError(f"k must lie in 1..{scores.shape[0]} (the number of inputs); got {k}.")
    order = np.argsort(scores, axis=0, kind="stable")
    return np.stack([order[::-1][:k].T, order[:k].T], axis=1)


def _extreme_dataset(model: nn.Module, scores: np.ndarray, k: int, fetch, channels: Sequence[int] | None,
                     layer: str, position: tuple[int, int] | None) -> tuple[xr.Dataset, np.ndarray]:
    """Label the k highest and lowest of ``scores`` (n, n_units); ``fetch(flat_indices)`` gives their inputs."""
    idx = extreme_indices(scores, int(k))
    units = np.arange(scores.shape[1]) if channels is None else np.asarray(channels)
    inputs = np.asarray(fetch(idx.reshape(-1)))
    lead = {"unit": units, "end": list(ENDS), "rank": np.arange(int(k))}
    ds = xr.Dataset(
        {"input": label_input(model, inputs.reshape(*idx.shape, *inputs.shape[1:]), ("unit", "end", "rank"), "input",
                              lead),
         "activation": (("unit", "end", "rank"), np.take_along_axis(scores.T[:, None, :], idx, axis=2)),
         "index": (("unit", "end", "rank"), idx), "activation_median": ("unit", np.median(scores, axis=0))},
        attrs={"layer": layer, "position": "spatial mean" if position is None else list(position), "k": int(k),
               "n_inputs": int(scores.shape[0]), "description": "highest- and lowest-activating inputs per unit "
               "(pre-nonlinearity activations)"},
    )
    return ds, idx


def extreme_inputs(model: nn.Module, inputs: torch.Tensor | np.ndarray, layer: str,
                   channels: Sequence[int] | None = None, position: tuple[int, int] | None = None, *, k: int = 9,
                   frames: np.ndarray | None = None, batch_size: int = 512, device: str | torch.device | None = None,
                   progress: bool | None = None) -> xr.Dataset:
    """The k highest- and k lowest-activating inputs of each unit of a layer.

    Parameters
    ----------
    model : nn.Module
    inputs : tensor or ndarray, shape (n, ...)
        Candidate inputs (z-scored windows from :func:`~retinacodec.absence.recording_windows`, images).
    layer : str
        Hidden layer; read before its nonlinearity.
    channels : sequence of int, optional
        Channels (units) to rank inputs for; default all.
    position : (int, int), optional
        Read each channel at this map position; default its spatial mean.
    k : int
        Inputs per end.
    frames : ndarray of int, shape (n,), optional
        Recording frame of each input, to label the result.
    batch_size, device, progress
        As for :func:`~retinacodec.absence.unit_activations`.

    Returns
    -------
    xarray.Dataset
        ``input (unit, end, rank, *input)``: the inputs, ``end`` ``"highest"`` (rank 0 the
        highest) and ``"lowest"`` (rank 0 the lowest); ``activation (unit, end, rank)``;
        ``index (unit, end, rank)`` into ``inputs`` (and ``frame`` if ``frames`` is given);
        ``activation_median (unit)`` over all inputs.
    """
    x = torch.as_tensor(inputs)
    scores = unit_activations(model, x, layer, channels, position, batch_size=batch_size, device=device,
                              progress=progress)
    ds, idx = _extreme_dataset(model, scores, k, lambda i: x[torch.as_tensor(i)].numpy(), channels, layer, position)
    if frames is not None:
        ds["frame"] = (("unit", "end", "rank"), np.asarray(frames)[idx])
    return ds


def extreme_windows(model: nn.Module, recording: xr.Dataset, layer: str, channels: Sequence[int] | None = None,
                    position: tuple[int, int] | None = None, *, k: int = 9, frames: np.ndarray | None = None,
                    block: str = "train", chunk_size: int = 4096, device: str | torch.device | None = None,
                    progress: bool | None = None) -> xr.Dataset:
    """:func:`extreme_inputs` over a whole recording, its windows built a chunk of frames at a time.

    Parameters
    ----------
    model : BNCNN
    recording : xarray.Dataset
        A Recording with the model's frame size.
    layer, channels, position, k
        As for :func:`extreme_inputs`.
    frames : ndarray of int, optional
        Response frames to search; default every frame of ``block`` with a full history there.
    block : str
        Block searched when ``frames`` is not given.
    chunk_size : int
        Windows held in memory at a time.
    device, progress
        Where to compute; progress bar.

    Returns
    -------
    xarray.Dataset
        As :func:`extreme_inputs`, with ``frame (unit, end, rank)`` and ``index`` into the
        searched frames.

    Examples
    --------
    The stimulus windows of the sample that drive layer-1 channel 0 most and least:

    >>> rec, truth = rc.load_sample()
    >>> model = rc.load_sample_model()
    >>> frames = np.flatnonzero(rec["block"].values == "test")
    >>> ext = rc.absence.extreme_windows(model, rec, "layer1", channels=[0], k=3, frames=frames, progress=False)
    >>> dict(ext.sizes)
    {'unit': 1, 'end': 2, 'rank': 3, 'lag': 40, 'y': 20, 'x': 20}
    """
    if not is_retina_model(model) or not hasattr(model, "normalization"):
        raise ValueError("extreme_windows needs a fitted BNCNN (with config.history and normalization).")
    all_frames = window_frames(model, recording, block) if frames is None else np.asarray(frames, dtype=int)
    parts = []
    for start in tqdm(range(0, all_frames.size, chunk_size), desc="windows", unit="chunk",
                      disable=(not progress) if progress is not None else None):
        windows, _ = recording_windows(model, recording, all_frames[start:start + chunk_size])
        parts.append(unit_activations(model, windows, layer, channels, position, device=device))
    scores = np.concatenate(parts)
    def fetch(i: np.ndarray) -> np.ndarray:
        return recording_windows(model, recording, all_frames[i])[0].numpy()

    ds, idx = _extreme_dataset(model, scores, k, fetch, channels, layer, position)
    ds["frame"] = (("unit", "end", "rank"), all_frames[idx])
    return ds


def _spatial(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    if x.ndim != 4:
        raise ValueError(f"patches need inputs of shape (n, channel, y, x); got {tuple(x.shape)}.")
    return int(x.shape[2]), int(x.shape[3])


def _smallest_crop(model: nn.Module, layer: str, x: torch.Tensor) -> int:
    """The smallest square crop the model runs on up to ``layer`` (its receptive field for valid convolutions)."""
    side = min(x.shape[2:])
    with torch.no_grad():
        for s in range(1, side + 1):
            try:
                a = activation_map(model, x[:1, :, :s, :s], layer)
            except RuntimeError:
                continue
            if a.ndim == 2 or min(a.shape[2:]) >= 1:
                return s
    raise ValueError(f"the model does not run up to {layer!r} on any crop of its {side}-pixel inputs.")


def default_patch(model: nn.Module, layer: str, inputs: torch.Tensor | np.ndarray) -> tuple[int, int]:
    """Patch size and stride: the official 64 and 16 on 224-pixel images, scaled to the input.

    On an input whose smaller side is s pixels the patch is ``round(64 s / 224)`` and the
    stride ``max(1, round(16 s / 224))``, but the patch is at least the smallest crop the model
    runs on up to ``layer`` (for valid convolutions its receptive field: 9 pixels for layer 1
    of the sample model, 15 for layer 2) and at most ``s``.

    Returns
    -------
    (int, int)
        Patch edge and stride in pixels.
    """
    x = torch.as_tensor(inputs)
    side = min(_spatial(model, x))
    p0, s0, ref = OFFICIAL_PATCH
    dev = model_device(model)
    with prepared(model, dev):
        smallest = _smallest_crop(model, layer, x[:1].to(dev, next(model.parameters()).dtype))
    return min(side, max(smallest, round(p0 * side / ref))), max(1, round(s0 * side / ref))


def square_crops(x: torch.Tensor, p: int, s: int) -> tuple[torch.Tensor, np.ndarray]:
    """All p×p crops at stride s: (n·m, C, p, p), and their top-left corners (m, 2)."""
    c = x.unfold(2, p, s).unfold(3, p, s)  # (n, C, ny, nx, p, p)
    ny, nx = c.shape[2], c.shape[3]
    crops = c.permute(0, 2, 3, 1, 4, 5).reshape(-1, x.shape[1], p, p)
    corners = np.stack(np.meshgrid(np.arange(ny) * s, np.arange(nx) * s, indexing="ij"), -1).reshape(-1, 2)
    return crops, corners


def patch_scores(model: nn.Module, inputs: torch.Tensor, layer: str, patch_size: int, stride: int, *,
                 batch_size: int = 64, device: torch.device | None = None,
                 progress: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each channel's spatial-mean activation on every crop of every input (the model run on the crop alone).

    Returns
    -------
    scores : ndarray, shape (n, m, n_channels)
        For input i and crop position j.
    corners : ndarray of int, shape (m, 2)
        Top-left ``(y, x)`` of each crop position.
    """
    dev = device if device is not None else model_device(model)
    out, corners = [], None
    with prepared(model, dev), torch.no_grad():
        dtype = next(model.parameters()).dtype
        for start in tqdm(range(0, inputs.shape[0], batch_size), desc="patches", unit="batch",
                          disable=(not progress) if progress is not None else None):
            chunk = inputs[start:start + batch_size].to(dev, dtype)
            crops, corners = square_crops(chunk, patch_size, stride)
            a = select_units(activation_map(model, crops, layer), None, None)
            out.append(a.reshape(chunk.shape[0], corners.shape[0], -1).float().cpu().numpy())
    return np.concatenate(out), corners


def extreme_patches(model: nn.Module, inputs: torch.Tensor | np.ndarray, layer: str, *, patch_size: int | None = None,
                    stride: int | None = None, k: int = 4, batch_size: int = 64,
                    device: str | torch.device | None = None, progress: bool | None = None) -> xr.Dataset:
    """The k highest- and lowest-activating crops of each channel (the official what-is-missing search).

    Every ``patch_size`` crop at ``stride`` of every input is run through the model alone (up
    to ``layer``) and scored by each channel's spatial-mean pre-nonlinearity activation. For
    stimulus windows a crop is a square region over the whole history: a spatiotemporal piece.

    Parameters
    ----------
    model : nn.Module
    inputs : tensor or ndarray, shape (n, channel, y, x)
        Images or z-scored windows (channel = lag).
    layer : str
    patch_size, stride : int, optional
        Default :func:`default_patch`.
    k : int
        Patches per end (official: 4).
    batch_size : int
        Inputs per pass (each gives all its crops).
    device, progress
        Where to compute; progress bar.

    Returns
    -------
    xarray.Dataset
        ``patch (unit, end, rank, *input)``, ``activation``, ``source`` (input index),
        ``corner_y``, ``corner_x`` (top-left, pixels) ``(unit, end, rank)``; attrs
        ``patch_size``, ``stride``.
    """
    x = torch.as_tensor(inputs)
    _spatial(model, x)
    if patch_size is None or stride is None:
        p, s = default_patch(model, layer, x)
        patch_size, stride = patch_size or p, stride or s
    dev = torch.device(device) if device is not None else None
    scores, corners = patch_scores(model, x, layer, int(patch_size), int(stride), batch_size=batch_size, device=dev,
                                   progress=progress)
    n, m, c = scores.shape
    idx = extreme_indices(scores.reshape(n * m, c), int(k))  # (unit, end, rank) into input·position
    source, pos = idx // m, idx % m
    y, xx = corners[pos, 0], corners[pos, 1]
    patches = np.empty((*idx.shape, x.shape[1], patch_size, patch_size), dtype=np.float32)
    for key in np.ndindex(idx.shape):
        patches[key] = x[source[key], :, y[key]:y[key] + patch_size, xx[key]:xx[key] + patch_size].numpy()
    lead = {"unit": np.arange(c), "end": list(ENDS), "rank": np.arange(int(k))}
    return xr.Dataset(
        {"patch": label_input(model, patches, ("unit", "end", "rank"), "patch", lead),
         "activation": (("unit", "end", "rank"), np.take_along_axis(scores.reshape(n * m, c).T[:, None], idx, 2)),
         "source": (("unit", "end", "rank"), source), "corner_y": (("unit", "end", "rank"), y),
         "corner_x": (("unit", "end", "rank"), xx)},
        attrs={"layer": layer, "patch_size": int(patch_size), "stride": int(stride), "k": int(k),
               "description": "highest- and lowest-activating crops per channel (spatial-mean pre-nonlinearity "
               "activation of the model run on the crop alone)"},
    )


def mode_scores(modes: xr.Dataset, mode: int) -> xr.DataArray:
    """Signed projection of each analysed frame's features on one CODEC mode's atom.

    Parameters
    ----------
    modes : xarray.Dataset
        A :func:`retinacodec.decompose` result, with its features (``contributions`` or
        ``activations``, named by ``attrs["source"]``).
    mode : int
        A value of ``modes.mode``.

    Returns
    -------
    xarray.DataArray, shape (frame,)
        ``features · atom / |atom|``, summed over cells for per-cell features.
    """
    source = modes.attrs.get("source", "contributions")
    if source not in modes or int(mode) not in modes["mode"].values:
        raise ValueError(f"need a decompose() result holding its features {source!r} and mode {mode}; modes are "
                         f"{modes['mode'].values.tolist()}.")
    atom = modes["modes"].sel(mode=int(mode))
    score = xr.dot(modes[source], atom / float(np.linalg.norm(atom.values)), dim="feature")
    return score.sum([d for d in score.dims if d != "frame"]).rename("mode_score")


def extreme_mode_windows(model: nn.Module, recording: xr.Dataset, modes: xr.Dataset, mode: int, *,
                         k: int = 9) -> xr.Dataset:
    """The analysed frames whose features project most and least on a CODEC mode, with their windows.

    A mode's loading is non-negative (an SAE code), so its low end is flat; the signed
    projection of the frame's features on the mode's atom (:func:`mode_scores`) ranks both ends.

    Parameters
    ----------
    model : BNCNN
        The model the modes were computed on.
    recording : xarray.Dataset
        The Recording the modes' frames index.
    modes : xarray.Dataset
        A :func:`retinacodec.decompose` result.
    mode : int
    k : int
        Windows per end.

    Returns
    -------
    xarray.Dataset
        ``input (end, rank, lag, y, x)``, ``score (end, rank)``, ``frame (end, rank)``.
    """
    score = mode_scores(modes, mode)
    idx = extreme_indices(score.values[:, None], int(k))[0]  # (end, rank)
    frames = score["frame"].values[idx]
    windows, _ = recording_windows(model, recording, frames.reshape(-1))
    lead = {"end": list(ENDS), "rank": np.arange(int(k))}
    return xr.Dataset(
        {"input": label_input(model, windows.numpy().reshape(*idx.shape, *windows.shape[1:]), ("end", "rank"),
                              "input", lead),
         "score": (("end", "rank"), score.values[idx]), "frame": (("end", "rank"), frames)},
        attrs={"mode": int(mode), "mode_layer": str(modes["mode_layer"].sel(mode=int(mode)).values), "k": int(k),
               "description": "frames projecting most and least on the mode's atom"},
    )


def _total_variation(x: torch.Tensor, dims: Sequence[int]) -> torch.Tensor:
    """Mean absolute difference between neighbours along each of ``dims``, summed over dims."""
    return sum(x.diff(dim=d).abs().mean() for d in dims)


def optimize_input(model: nn.Module, layer: str, channel: int, position: tuple[int, int] | None = None, *,
                   direction: str = "max", shape: Sequence[int] | None = None, steps: int = 300, lr: float = 0.05,
                   l2: float = 1e-2, tv: float = 1e-2, bound: float = 3.0, seed: int = 0,
                   device: str | torch.device | None = None) -> xr.DataArray:
    """An input that maximises or minimises one unit's pre-nonlinearity activation.

    The input is ``bound · tanh(v)`` (every value within ±``bound``, z-scored contrast for a
    BNCNN) and Adam minimises ``∓ activation + l2 · mean(x²) + tv · TV(x)``, where TV is the
    mean absolute difference between neighbouring pixels (and, for a movie, neighbouring
    frames).

    Parameters
    ----------
    model : nn.Module
    layer : str
    channel : int
    position : (int, int), optional
        The unit's map position; default the channel's spatial mean.
    direction : {"max", "min"}
    shape : sequence of int, optional
        One input's shape; default ``(history, ny, nx)`` for a BNCNN (required otherwise).
    steps, lr : int, float
        Adam iterations and learning rate.
    l2, tv : float
        Regularisation weights.
    bound : float
        Largest absolute input value.
    seed : int
        Seeds the start, ``v ~ N(0, 0.1²)``.
    device : str or torch.device, optional

    Returns
    -------
    xarray.DataArray, dims (lag, y, x) or (channel, y, x)
        The optimised input; attrs ``activation`` (the unit's at the end), ``activation_start``,
        and the parameters.
    """
    if direction not in ("max", "min"):
        raise ValueError(f"direction must be 'max' or 'min'; got {direction!r}.")
    if shape is None:
        if not is_retina_model(model):
            raise ValueError("give shape= (one input's shape, e.g. (3, 64, 64)) for a model without a config.")
        shape = (model.config.history, *model.config.input_size)
    retina = is_retina_model(model)
    dev = torch.device(device) if device is not None else model_device(model)
    sign = 1.0 if direction == "max" else -1.0
    gen = torch.Generator().manual_seed(int(seed))
    with prepared(model, dev):
        dtype = next(model.parameters()).dtype
        v = (0.1 * torch.randn((1, *shape), generator=gen)).to(dev, dtype).requires_grad_()
        opt = torch.optim.Adam([v], lr=lr)
        tv_dims = range(1, len(shape) + 1) if retina else range(2, len(shape) + 1)  # a movie: frames too

        def unit(x: torch.Tensor) -> torch.Tensor:
            return select_units(activation_map(model, x, layer), [channel], position)[0, 0]

        with torch.no_grad():
            start = float(unit(bound * torch.tanh(v)))
        for _ in range(int(steps)):
            opt.zero_grad()
            x = bound * torch.tanh(v)
            loss = -sign * unit(x) + l2 * x.pow(2).mean() + tv * _total_variation(x, tv_dims)
            loss.backward()
            opt.step()
        with torch.no_grad():
            x = bound * torch.tanh(v)
            end = float(unit(x))
    da = label_input(model, x[0].detach().cpu().numpy(), (), "optimized_input")
    da.attrs.update(layer=layer, channel=int(channel), position="spatial mean" if position is None else list(position),
                    direction=direction, activation=end, activation_start=start, steps=int(steps), lr=float(lr),
                    l2=float(l2), tv=float(tv), bound=float(bound), seed=int(seed))
    return da
