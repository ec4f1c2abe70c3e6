"""Units, their pre-nonlinearity activations, and labelled model inputs.

A **unit** is a channel of a hidden layer, read at the layer's pre-nonlinearity point
(:func:`unit_module`: for a BNCNN layer the BatchNorm output, before the ReLU clips every
decrease; for a ``Sequential`` ending in a Softplus, GELU ... the module before it). Its
activation on one input is the channel's map averaged over space (the official
what-is-missing code: ``AdaptiveAvgPool2d``), or its value at one position ``(y, x)``; for a
layer with no spatial dims (``Linear``) it is the unit itself.

Model inputs are ``(batch, channel, y, x)`` images, or for a BNCNN ``(batch, history, y, x)``
z-scored stimulus windows, whose channel dim is labelled ``lag`` (frames before the
response frame: the window's last frame has lag 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from retinacodec.attribution.hooks import model_device, prepared, resolve_layers
from retinacodec.codec.features import pre_nonlinearity

__all__ = ["NONLINEARITIES", "activation_map", "input_dims", "is_retina_model", "label_input", "recording_windows",
           "select_units", "unit_activations", "unit_module", "window_frames"]


class _Stop(Exception):  # noqa: N818 (control flow, not an error)
    """Raised by a hook to end a forward pass once the hooked module has run."""

    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.value = value


def is_retina_model(model: nn.Module) -> bool:
    """Whether ``model`` takes stimulus windows (it has a ``config`` with ``history`` and ``input_size``)."""
    config = getattr(model, "config", None)
    return hasattr(config, "history") and hasattr(config, "input_size")


#: Elementwise nonlinearities that end a layer, besides the ReLU that ``pre_nonlinearity`` knows.
NONLINEARITIES = (nn.ReLU, nn.LeakyReLU, nn.Softplus, nn.Sigmoid, nn.Tanh, nn.ELU, nn.SELU, nn.GELU, nn.SiLU)


def unit_module(model: nn.Module, layer: str) -> str:
    """The module whose output is ``layer``'s pre-nonlinearity activation.

    :func:`retinacodec.codec.features.pre_nonlinearity` (a ``Sequential`` ending in a ReLU is
    read before it), extended to a ``Sequential`` ending in any of :data:`NONLINEARITIES`.
    """
    name = pre_nonlinearity(model, layer)
    module = resolve_layers(model, name)[name]
    children = list(module.named_children())
    if isinstance(module, nn.Sequential) and len(children) > 1 and isinstance(children[-1][1], NONLINEARITIES):
        return f"{name}.{children[-2][0]}"
    return name


def activation_map(model: nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    """A layer's pre-nonlinearity activation, running the model only up to it.

    Gradients flow to ``x``; the caller chooses eval mode and devices. The forward pass stops
    as soon as the module has run, so the model may be run on inputs (crops) that its later
    layers cannot take.

    Parameters
    ----------
    model : nn.Module
    x : torch.Tensor, shape (batch, ...)
    layer : str
        A hidden layer (``"layer1"``, ``"features.3"``); read at :func:`unit_module`.

    Returns
    -------
    torch.Tensor, shape (batch, channel, *space) or (batch, unit)
    """
    module = resolve_layers(model, unit_module(model, layer)).popitem()[1]

    def stop(m: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
        raise _Stop(out)

    handle = module.register_forward_hook(stop)
    try:
        model(x)
    except _Stop as done:
        return done.value
    finally:
        handle.remove()
    raise ValueError(f"layer {layer!r} did not run in the model's forward pass.")


def select_units(a: torch.Tensor, channels: Sequence[int] | None, position: tuple[int, int] | None) -> torch.Tensor:
    """A layer's units: (batch, channel, *space) → (batch, n_units), each channel's spatial mean or its value at
    ``position``; a layer without spatial dims (batch, unit) keeps its units (``channels`` of them)."""
    if channels is not None:
        a = a[:, list(channels)]
    if a.ndim == 2:
        if position is not None:
            raise ValueError("position is given, but the layer has no spatial dims; leave it out.")
        return a
    if position is None:
        return a.flatten(2).mean(2)
    if len(position) != a.ndim - 2:
        raise ValueError(f"position {tuple(position)} must have one index per spatial dim {tuple(a.shape[2:])}.")
    if any(not 0 <= p < s for p, s in zip(position, a.shape[2:], strict=True)):
        raise ValueError(f"position {tuple(position)} lies outside the layer's map {tuple(a.shape[2:])}.")
    return a[(slice(None), slice(None), *position)]


def unit_activations(model: nn.Module, inputs: torch.Tensor | np.ndarray, layer: str,
                     channels: Sequence[int] | None = None, position: tuple[int, int] | None = None, *,
                     batch_size: int = 512, device: str | torch.device | None = None,
                     progress: bool | None = None) -> np.ndarray:
    """Pre-nonlinearity activations of a layer's units on many inputs.

    Parameters
    ----------
    model : nn.Module
    inputs : tensor or ndarray, shape (n, ...)
        Model inputs (z-scored windows for a BNCNN).
    layer : str
        Hidden layer name.
    channels : sequence of int, optional
        Channels to keep; default all.
    position : (int, int), optional
        Read each channel at this map position instead of its spatial mean.
    batch_size : int
        Inputs per forward pass.
    device : str or torch.device, optional
        Where to compute; default the model's device.
    progress : bool, optional
        Progress bar; default only on a terminal.

    Returns
    -------
    ndarray, shape (n, n_units), float32
        In the layer's activation units.
    """
    x = torch.as_tensor(inputs)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"inputs must be a non-empty batch (n, ...); got shape {tuple(x.shape)}.")
    dev = torch.device(device) if device is not None else model_device(model)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    out = []
    with prepared(model, dev), torch.no_grad():
        for start in tqdm(range(0, x.shape[0], batch_size), desc="activations", unit="batch",
                          disable=(not progress) if progress is not None else None):
            a = activation_map(model, x[start:start + batch_size].to(dev, dtype), layer)
            out.append(select_units(a, channels, position).float().cpu().numpy())
    return np.concatenate(out)


def input_dims(model: nn.Module, ndim: int) -> tuple[str, ...]:
    """Names of one input's dims: ``(lag, y, x)`` for a BNCNN, ``(channel, y, x)`` for an image model."""
    if is_retina_model(model) and ndim == 3:
        return ("lag", "y", "x")
    return {1: ("feature",), 2: ("y", "x"), 3: ("channel", "y", "x")}.get(ndim, tuple(f"dim{i}" for i in range(ndim)))


def label_input(model: nn.Module, values: np.ndarray, lead: tuple[str, ...], name: str,
                coords: dict | None = None) -> xr.DataArray:
    """Label an array whose last dims are one model input.

    Parameters
    ----------
    model : nn.Module
    values : ndarray, shape (*lead_shape, *input_shape)
    lead : tuple of str
        Names of the leading dims.
    name : str
        The DataArray's name.
    coords : dict, optional
        Coordinates of the leading dims.

    Returns
    -------
    xarray.DataArray
        With a ``lag`` coordinate (frames before the response frame) for stimulus windows.
    """
    dims = lead + input_dims(model, values.ndim - len(lead))
    da = xr.DataArray(values, dims=dims, coords=coords or {}, name=name)
    if "lag" in dims:
        n = da.sizes["lag"]
        da = da.assign_coords(lag=("lag", np.arange(n)[::-1].copy()))
        da["lag"].attrs.update(units="frames", long_name="frames before the response frame")
    return da


def window_frames(model: nn.Module, recording: xr.Dataset, block: str = "train") -> np.ndarray:
    """Frames of a block whose whole ``model.config.history`` lies in that block.

    Returns
    -------
    ndarray of int, shape (n,)
        Increasing response frames.
    """
    h = int(model.config.history)
    in_block = np.asarray(recording["block"].values == block)
    if not in_block.any():
        raise ValueError(f"the recording has no {block!r} block; pass frames= or another block=.")
    run = np.convolve(in_block.astype(int), np.ones(h, dtype=int))[:in_block.size]  # block frames in the last h
    return np.flatnonzero(run == h)


def recording_windows(model: nn.Module, recording: xr.Dataset, frames: np.ndarray | None = None, *,
                      block: str = "train", n: int | None = None, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Z-scored stimulus windows of a recording, as a BNCNN sees them.

    Parameters
    ----------
    model : BNCNN
        Supplies ``config.history`` and ``normalization``.
    recording : xarray.Dataset
        A Recording with the model's frame size.
    frames : ndarray of int, optional
        Response frames (each >= history - 1); default the frames of ``block`` whose whole
        history lies in that block.
    block : str
        Block to draw frames from when ``frames`` is not given.
    n : int, optional
        Keep a seeded random subset of this many frames (sorted).
    seed : int
        Seeds the subset.

    Returns
    -------
    windows : torch.Tensor, shape (n_frames, history, ny, nx), float32
        Window ``i`` holds the frames ``frames[i] - history + 1 .. frames[i]``.
    frames : ndarray of int, shape (n_frames,)
    """
    if not is_retina_model(model) or not hasattr(model, "normalization"):
        raise ValueError("recording_windows needs a fitted BNCNN (with config.history and normalization).")
    h = int(model.config.history)
    frames = window_frames(model, recording, block) if frames is None else np.asarray(frames, dtype=int)
    if frames.size == 0 or frames.min() < h - 1 or frames.max() >= recording.sizes["frame"]:
        raise ValueError(f"frames must be non-empty and lie in [{h - 1}, {recording.sizes['frame'] - 1}] "
                         f"(a {h}-frame history before each).")
    if n is not None and n < frames.size:
        frames = np.sort(np.random.default_rng(seed).choice(frames, size=int(n), replace=False))
    stim = recording["stimulus"]
    lo, hi = int(frames.min()) - h + 1, int(frames.max()) + 1
    if hi - lo <= 4 * frames.size * h:  # read the span once (a chunk of frames, or a dense subset)
        movie = model.normalization.apply(stim.isel(frame=slice(lo, hi)).values)
        view = np.lib.stride_tricks.sliding_window_view(movie, h, axis=0)  # (span - h + 1, ny, nx, h)
        windows = np.ascontiguousarray(view[frames - h + 1 - lo].transpose(0, 3, 1, 2))
    else:  # a few frames far apart: read each window alone
        windows = np.stack([model.normalization.apply(stim.isel(frame=slice(f - h + 1, f + 1)).values)
                            for f in frames])
    return torch.from_numpy(windows), frames
