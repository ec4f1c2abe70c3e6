"""CODEC's samples: sign-split, spatially summed contributions (or activations) of hidden layers.

One sample is a vector of 2C values per layer: the positive part, then the negative part,
of each of its C channels, summed over space (METHODS.md §2, "reductions used by CODEC").
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from retinacodec.attribution import contributions_for_recording
from retinacodec.attribution.hooks import prepared, resolve_layers
from retinacodec.attribution.targets import TargetSpec
from retinacodec.device import resolve_device
from retinacodec.model.bncnn import BNCNN
from retinacodec.model.windows import WindowedData
from retinacodec.recording import validate_recording

__all__ = ["OUTPUTS", "SIGNS", "activation_features", "attribution_model", "contribution_features",
           "feature_coords", "pre_nonlinearity"]

OUTPUTS = ("rate", "generator")
SIGNS = ("pos", "neg")


def attribution_model(model: BNCNN, output: str) -> BNCNN:
    """The model whose outputs the contributions explain.

    Parameters
    ----------
    model : BNCNN
        A fitted model.
    output : {"generator", "rate"}
        ``"rate"``: the model itself. ``"generator"``: a copy whose final Softplus is the
        identity, so its outputs are the cells' pre-nonlinearity generator signals.

    Returns
    -------
    BNCNN
    """
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}; got {output!r}.")
    if output == "rate":
        return model
    readout = getattr(model, "readout", None)
    if isinstance(getattr(readout, "softplus", None), nn.Identity):
        return model  # already a generator model
    if not isinstance(getattr(readout, "softplus", None), nn.Softplus):
        raise ValueError("output='generator' needs a model whose readout ends in a Softplus (a BNCNN); "
                         "use output='rate'.")
    generator = copy.deepcopy(model)
    generator.readout.softplus = nn.Identity()
    return generator


def pre_nonlinearity(model: nn.Module, layer: str) -> str:
    """Name of the module whose output is ``layer``'s pre-nonlinearity activation.

    For a ``Sequential`` layer ending in a ReLU (a BNCNN's ``conv → bn → noise → relu``) it
    is the module just before the ReLU (``"layer1.noise"``, equal to the BatchNorm output in
    eval mode); any other module is its own pre-nonlinearity point.
    """
    module = resolve_layers(model, layer)[layer]
    children = list(module.named_children())
    if isinstance(module, nn.Sequential) and len(children) > 1 and isinstance(children[-1][1], nn.ReLU):
        return f"{layer}.{children[-2][0]}"
    return layer


def feature_coords(layers: Sequence[str], channels: Sequence[int]) -> dict[str, tuple[str, np.ndarray]]:
    """Coordinates of the ``feature`` dim: per layer, the 2C (sign, channel) features."""
    layer, sign, channel = [], [], []
    for name, n in zip(layers, channels, strict=True):
        for s in SIGNS:
            layer += [name] * n
            sign += [s] * n
            channel += list(range(n))
    return {"layer": ("feature", np.asarray(layer)), "sign": ("feature", np.asarray(sign)),
            "channel": ("feature", np.asarray(channel))}


def contribution_features(model: BNCNN, recording: xr.Dataset, layers: Sequence[str], frames: np.ndarray, *,
                          target: TargetSpec = "all", output: str = "rate", method: str = "integrated_gradients",
                          steps: int = 20, rule: str = "trapezoid", device: str | torch.device | None = None,
                          progress: bool | None = None, chunk_size: int = 512) -> xr.DataArray:
    """Contributions of each layer to the target(s), split by sign and summed over space.

    Parameters
    ----------
    model : BNCNN
        A fitted model.
    recording : xarray.Dataset
        A Recording with the model's frame size.
    layers : sequence of str
        Hidden layers, e.g. ``["layer1", "layer2"]``.
    frames : ndarray of int, shape (n_frames,)
        Target frames.
    target : "all", "sum", Surprisal, ...
        What is explained (:func:`retinacodec.attribution.targets.resolve_target`): ``"all"``
        gives one sample per (frame, cell); a scalar target (``"sum"``, a fitted
        :class:`~retinacodec.attribution.Surprisal`) one sample per frame.
    output : {"rate", "generator"}
        Which model output the target is computed from (:func:`attribution_model`).
    method, steps, rule
        As for :func:`retinacodec.attribution.contributions`.
    device : str or torch.device, optional
        Where to compute.
    progress : bool, optional
        Progress bar; default only on a terminal.
    chunk_size : int
        Frames per attribution call.

    Returns
    -------
    xarray.DataArray, shape (frame, cell, feature) or (frame, feature)
        In the target's units (spikes per frame for a cell's rate). The ``cell`` dim is
        there with ``target="all"`` only. The feature coords ``layer``, ``sign`` and
        ``channel`` label each of the 2C values per layer. Attrs: ``target`` (its
        description), ``completeness_median`` and ``completeness_max`` (one value per layer,
        in the order of ``layers``): the median and largest relative completeness error
        ``|Σ contributions − (F(x) − F(x₀))| / |F(x) − F(x₀)|`` over the samples.
    """
    ds = contributions_for_recording(attribution_model(model, output), recording, list(layers), frames=frames,
                                     target=target, method=method, steps=steps, rule=rule, reduce="space",
                                     split_sign=True, device=device, progress=progress, chunk_size=chunk_size)
    parts = [ds[name].transpose("frame", "target", "sign", ...).values for name in layers]
    values = np.concatenate([p.reshape(p.shape[0], p.shape[1], -1) for p in parts], axis=2)
    per_cell = isinstance(target, str) and target == "all"
    lead = {"frame": ds["frame"].values, "time": ("frame", ds["time"].values)}
    if per_cell:
        lead["cell"] = recording["cell"].values
    else:
        values = values.reshape(values.shape[0], -1, values.shape[2]).sum(1)
    relative = ds["completeness_relative"].transpose("layer", ...).values.reshape(len(layers), -1)
    return xr.DataArray(
        values, dims=("frame", "cell", "feature") if per_cell else ("frame", "feature"), name="contributions",
        coords={**lead, **feature_coords(layers, [p.shape[-1] for p in parts])},
        attrs={"target": str(ds.attrs["target"]), "output": output,
               "completeness_median": np.nanmedian(relative, axis=1), "completeness_max": np.nanmax(relative, axis=1),
               "units": "spikes per frame" if output == "rate" else "generator units"},
    )


@torch.no_grad()
def activation_features(model: BNCNN, recording: xr.Dataset, layers: Sequence[str], frames: np.ndarray, *,
                        device: str | torch.device | None = None, progress: bool | None = None,
                        batch_size: int = 1024) -> xr.DataArray:
    """Pre-nonlinearity activations of each layer, split by sign and summed over space.

    Parameters
    ----------
    model : BNCNN
        A fitted model (with ``normalization``).
    recording : xarray.Dataset
        A Recording with the model's frame size.
    layers : sequence of str
        Hidden layers; each is read at :func:`pre_nonlinearity` (after a ReLU every negative
        part would be zero).
    frames : ndarray of int, shape (n_frames,)
        Target frames.
    device : str or torch.device, optional
        Where to compute; default the model's device.
    progress : bool, optional
        Progress bar; default only on a terminal.
    batch_size : int
        Frames per forward pass.

    Returns
    -------
    xarray.DataArray, shape (frame, feature)
        Activation units; feature coords as in :func:`contribution_features`; attr
        ``modules`` names the hooked modules.
    """
    validate_recording(recording)
    names = [pre_nonlinearity(model, name) for name in layers]
    modules = resolve_layers(model, names)
    data = WindowedData(recording, model.config.history, model.normalization)
    dev = resolve_device(device) if device is not None else next(model.parameters()).device
    captured: dict[str, torch.Tensor] = {}
    chunks: list[np.ndarray] = []

    def hook(name: str):  # noqa: ANN202
        def record(module: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
            flat = out.flatten(2)
            captured[name] = torch.cat([flat.clamp(min=0).sum(2), flat.clamp(max=0).sum(2)], dim=1)
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in modules.items()]
    try:
        with prepared(model, dev):
            for start in tqdm(range(0, len(frames), batch_size), desc="activations", unit="batch",
                              disable=(not progress) if progress is not None else None):
                x, _ = data.batch(frames[start:start + batch_size], dev)
                model(x)
                chunks.append(torch.cat([captured[n] for n in names], dim=1).cpu().numpy())
    finally:
        for h in handles:
            h.remove()
    channels = [captured[n].shape[1] // 2 for n in names]
    return xr.DataArray(
        np.concatenate(chunks).astype(np.float32), dims=("frame", "feature"), name="activations",
        coords={"frame": np.asarray(frames), "time": ("frame", recording["time"].values[frames]),
                **feature_coords(layers, channels)},
        attrs={"modules": names, "units": "activation units"},
    )
