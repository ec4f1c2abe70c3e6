"""CODEC's samples for an image classifier: one sign-split vector per image and layer.

For every image, each layer's per-unit contributions (integrated gradients taken at the layer,
:func:`retinacodec.attribution.contributions`) to a scalar target are split into positive and
negative parts and summed over space — or over tokens for a transformer's ``(token, feature)``
outputs — giving 2C values per layer (C channels or features; METHODS.md §2–3). The
activations of the same layers, reduced the same way, are the comparison.

Images come as a tensor, or as a ``DataLoader`` (or any iterable) of ``(images, labels)``
batches, so a dataset never has to fit in memory; every batch is one call of the engine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from retinacodec.attribution import contributions
from retinacodec.attribution.hooks import model_device, prepared
from retinacodec.classifiers.layers import layer_names, resolve
from retinacodec.codec.features import feature_coords
from retinacodec.device import resolve_device

__all__ = ["LAYOUTS", "TARGETS", "image_activations", "image_contributions", "reduce_layer"]

#: Classifier targets: the largest logit, the labelled class's logit, the logit of the class predicted at the
#: image, top-1 minus top-2.
TARGETS = ("max", "true", "predicted", "margin")
#: How a layer output's dims are read: channels first (conv maps), tokens × features (ViT), or flat.
LAYOUTS = ("auto", "channels", "tokens")

Images = torch.Tensor | np.ndarray | Iterable


def _batches(images: Images, labels: torch.Tensor | np.ndarray | None, batch_size: int) -> Iterator[tuple]:
    """``(x, y)`` batches from a tensor (with optional labels) or an iterable of batches."""
    if isinstance(images, torch.Tensor | np.ndarray):
        x = torch.as_tensor(images)
        y = None if labels is None else torch.as_tensor(labels)
        if y is not None and y.shape[0] != x.shape[0]:
            raise ValueError(f"got {y.shape[0]} labels for {x.shape[0]} images.")
        for s in range(0, x.shape[0], batch_size):
            yield x[s:s + batch_size], None if y is None else y[s:s + batch_size]
        return
    if labels is not None:
        raise ValueError("labels= goes with a tensor of images; a DataLoader yields its own (images, labels).")
    for batch in images:
        if isinstance(batch, list | tuple):
            yield torch.as_tensor(batch[0]), torch.as_tensor(batch[1]) if len(batch) > 1 else None
        else:
            yield torch.as_tensor(batch), None


def _n_batches(images: Images, batch_size: int) -> int | None:
    if isinstance(images, torch.Tensor | np.ndarray):
        return int(np.ceil(len(images) / batch_size))
    return len(images) if hasattr(images, "__len__") else None


def reduce_layer(values: torch.Tensor, layout: str = "auto") -> torch.Tensor:
    """Split by sign and sum over space or tokens.

    Parameters
    ----------
    values : torch.Tensor, shape (batch, units...)
        ``(batch, channel, y, x)`` conv maps, ``(batch, token, feature)`` transformer tokens,
        or ``(batch, feature)``.
    layout : {"auto", "channels", "tokens"}
        ``"auto"``: 3-D units are tokens × features, anything else channels first.

    Returns
    -------
    torch.Tensor, shape (batch, 2, C)
        Positive then negative parts, summed over every dim but the channel (feature) dim.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}; got {layout!r}.")
    if values.ndim == 2:
        per_unit = values
    elif layout == "tokens" or (layout == "auto" and values.ndim == 3):
        per_unit = values.transpose(1, -1).flatten(2) if values.ndim > 3 else values.transpose(1, 2)
    else:
        per_unit = values.flatten(2)
    if per_unit.ndim == 2:
        return torch.stack([per_unit.clamp(min=0), per_unit.clamp(max=0)], 1)
    return torch.stack([per_unit.clamp(min=0).sum(2), per_unit.clamp(max=0).sum(2)], 1)


def _autocast(mixed_precision: bool, device: torch.device) -> contextlib.AbstractContextManager:
    if not mixed_precision:
        return contextlib.nullcontext()
    if device.type != "cuda":
        raise ValueError(f"mixed_precision=True needs a CUDA device (autocast in bfloat16); got {device}. "
                         "Leave it False on the CPU.")
    return torch.autocast("cuda", dtype=torch.bfloat16)


def _result(parts: dict[str, list], layers: list[str], labels: list, predicted: list, name: str,
            attrs: dict) -> xr.DataArray:
    values = {n: np.concatenate(v) for n, v in parts.items()}  # (image, 2, C)
    data = np.concatenate([values[n].reshape(values[n].shape[0], -1) for n in layers], axis=1)
    coords = {"image": np.arange(data.shape[0]), "predicted": ("image", np.concatenate(predicted)),
              **feature_coords(layers, [values[n].shape[2] for n in layers])}
    if labels and all(lab is not None for lab in labels):
        coords["label"] = ("image", np.concatenate(labels))
    return xr.DataArray(data.astype(np.float32), dims=("image", "feature"), coords=coords, name=name, attrs=attrs)


def image_contributions(model: nn.Module, images: Images, layers: str | Sequence[str], target: str | int = "max", *,
                        labels: torch.Tensor | np.ndarray | None = None, method: str = "integrated_gradients",
                        steps: int = 20, rule: str = "trapezoid", baseline: torch.Tensor | None = None,
                        layout: str = "auto", batch_size: int = 64, device: str | torch.device | None = None,
                        mixed_precision: bool = False, max_memory_gb: float = 2.0,
                        progress: bool | None = None) -> xr.DataArray:
    """Sign-split contributions of each layer to a classifier target, summed over space, per image.

    Parameters
    ----------
    model : torch.nn.Module
        Logits out, shape (batch, classes).
    images : tensor (n, channel, y, x), ndarray, or DataLoader of (images, labels)
        In the model's normalised input space.
    layers : str or sequence of str
        Dotted names (:func:`~retinacodec.classifiers.layers.resolve`), ideally block outputs
        (:func:`~retinacodec.classifiers.layers.block_outputs`); the engine warns for layers a
        residual connection bypasses.
    target : {"max", "true", "predicted", "margin"}, ``"logit:<k>"`` or int
        The largest logit at every point of the path, the labelled class's logit (needs
        labels), the logit of the class predicted for the image (the official ResNet run
        explains the top-1 class), the top-1 minus top-2 logit, or one fixed class.
    labels : tensor or ndarray, shape (n,), optional
        With a tensor of images; a DataLoader yields its own.
    method, steps, rule, baseline
        As for :func:`retinacodec.attribution.contributions` (baseline default: zeros, the
        mean image of z-scored inputs).
    layout : {"auto", "channels", "tokens"}
        How layer outputs are reduced (:func:`reduce_layer`).
    batch_size : int
        Images per engine call (the engine may split a call further to stay in ``max_memory_gb``).
    device : str or torch.device, optional
        Where to compute; default the model's device.
    mixed_precision : bool
        Run the model under ``torch.autocast`` in bfloat16 (CUDA only; not measured here, as
        no GPU was available: check ``completeness_median`` on your data).
    max_memory_gb : float
        The engine's per-pass memory budget.
    progress : bool, optional
        Progress bar over batches; default only on a terminal.

    Returns
    -------
    xarray.DataArray, dims (image, feature)
        In logit units. Feature coords ``layer``, ``sign`` (``pos``, ``neg``), ``channel``;
        image coords ``label`` (when known) and ``predicted``. Attrs: the settings,
        ``completeness_median`` and ``completeness_max`` per layer (relative error
        ``|Σ contributions − (F(x) − F(x₀))| / |F(x) − F(x₀)|``), ``layers``.

    Examples
    --------
    >>> from retinacodec import classifiers as cl
    >>> x, y = cl.digits(16)
    >>> net = cl.resnet(depths=(1, 1, 1, 1), widths=(4, 8, 8, 8), in_channels=1, small_input=True, seed=0)
    >>> c = cl.image_contributions(net, x[:8], ["layer3", "layer4"], "true", labels=y[:8], progress=False)
    >>> c.dims
    ('image', 'feature')
    """
    names = layer_names(layers)
    resolve(model, names)
    if not (target in TARGETS or isinstance(target, int) or (isinstance(target, str) and target.startswith("logit:"))):
        raise ValueError(f"target must be one of {TARGETS}, 'logit:<k>' or an int; got {target!r}.")
    dev = resolve_device(device) if device is not None else model_device(model)
    parts: dict[str, list] = {n: [] for n in names}
    rel: dict[str, list] = {n: [] for n in names}
    labs, preds = [], []
    options = {"method": method, "steps": steps, "rule": rule, "device": dev, "max_memory_gb": max_memory_gb}
    bar = tqdm(_batches(images, labels, batch_size), total=_n_batches(images, batch_size), desc="contributions",
               unit="batch", disable=(not progress) if progress is not None else None)
    for x, y in bar:
        if target == "true" and y is None:
            raise ValueError("target='true' needs labels: pass labels= or a DataLoader of (images, labels).")
        x0 = None if baseline is None else torch.as_tensor(baseline).expand_as(x)
        with torch.no_grad(), prepared(model, dev), _autocast(mixed_precision, dev):
            pred = model(x.to(dev, dtype=next(model.parameters()).dtype)).argmax(1).cpu()
        preds.append(pred.numpy())
        by = {"true": y, "predicted": pred}.get(str(target))
        groups = [(torch.arange(x.shape[0]), target)] if by is None else [
            (torch.nonzero(by == k).ravel(), int(k)) for k in torch.unique(by)]
        out: dict[str, torch.Tensor] = {}
        errors: dict[str, np.ndarray] = {n: np.zeros(x.shape[0]) for n in names}
        with _autocast(mixed_precision, dev):
            for idx, tgt in groups:
                ds = contributions(model, x[idx], names, tgt, baseline=None if x0 is None else x0[idx], **options)
                for n in names:
                    reduced = reduce_layer(torch.as_tensor(ds[n].values[:, 0]), layout)
                    out.setdefault(n, torch.zeros((x.shape[0], *reduced.shape[1:]), dtype=reduced.dtype))
                    out[n][idx] = reduced
                    errors[n][idx.numpy()] = ds["completeness_relative"].sel(layer=n).values[:, 0]
        for n in names:
            parts[n].append(out[n].numpy())
            rel[n].append(errors[n])
        labs.append(None if y is None else y.numpy())
    if not preds:
        raise ValueError("no images: the input is empty.")
    attrs = {"target": str(target), "method": method, "steps": int(steps), "rule": rule, "layout": layout,
             "baseline": "zeros" if baseline is None else "tensor", "mixed_precision": int(mixed_precision),
             "layers": names, "units": "logit",
             "completeness_median": np.asarray([np.median(np.concatenate(rel[n])) for n in names]),
             "completeness_max": np.asarray([np.max(np.concatenate(rel[n])) for n in names])}
    return _result(parts, names, labs, preds, "contributions", attrs)


def _pre_nonlinearity_hooks(block: nn.Module, store: dict, key: str) -> list:
    """Hooks that keep the input of ``block``'s last leaf module if it is a nonlinearity, else its output."""
    nonlinear = (nn.ReLU, nn.GELU, nn.SiLU, nn.LeakyReLU, nn.ELU, nn.Softplus, nn.Sigmoid, nn.Tanh)

    def inner(module: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
        store[key + ":last"] = inputs[0] if isinstance(module, nonlinear) else None

    def outer(module: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
        last = store.pop(key + ":last", None)
        store[key] = last if last is not None and last.shape == out.shape else out

    handles = [m.register_forward_hook(inner) for m in block.modules() if m is not block and not any(m.children())]
    return [*handles, block.register_forward_hook(outer)]


@torch.no_grad()
def image_activations(model: nn.Module, images: Images, layers: str | Sequence[str], *,
                      labels: torch.Tensor | np.ndarray | None = None, pre_nonlinearity: bool = True,
                      layout: str = "auto", batch_size: int = 256, device: str | torch.device | None = None,
                      mixed_precision: bool = False, progress: bool | None = None) -> xr.DataArray:
    """Sign-split activations of each layer, summed over space (or tokens), per image.

    Parameters
    ----------
    model, images, layers, labels, layout, batch_size, device, mixed_precision, progress
        As for :func:`image_contributions`.
    pre_nonlinearity : bool
        Read each layer before its final nonlinearity: if the last module to run inside the
        layer is a ReLU (GELU …) of the same shape — a ResNet block's ``relu(out + identity)``
        — its input, else the layer's output. After a ReLU every negative part is zero.

    Returns
    -------
    xarray.DataArray, dims (image, feature)
        Coords as :func:`image_contributions`; attr ``pre_nonlinearity``.
    """
    names = layer_names(layers)
    modules = resolve(model, names)
    dev = resolve_device(device) if device is not None else model_device(model)
    store: dict[str, torch.Tensor] = {}
    handles = []
    for n, m in modules.items():
        if pre_nonlinearity:
            handles += _pre_nonlinearity_hooks(m, store, n)
        else:
            handles.append(m.register_forward_hook(lambda mod, i, out, n=n: store.__setitem__(n, out)))
    parts: dict[str, list] = {n: [] for n in names}
    labs, preds = [], []
    try:
        with prepared(model, dev), _autocast(mixed_precision, dev):
            dtype = next(model.parameters()).dtype
            bar = tqdm(_batches(images, labels, batch_size), total=_n_batches(images, batch_size), desc="activations",
                       unit="batch", disable=(not progress) if progress is not None else None)
            for x, y in bar:
                preds.append(model(x.to(dev, dtype=dtype)).argmax(1).cpu().numpy())
                for n in names:
                    parts[n].append(reduce_layer(store[n].float(), layout).cpu().numpy())
                labs.append(None if y is None else y.numpy())
    finally:
        for h in handles:
            h.remove()
    if not preds:
        raise ValueError("no images: the input is empty.")
    attrs = {"layers": names, "layout": layout, "pre_nonlinearity": int(pre_nonlinearity), "units": "activation"}
    return _result(parts, names, labs, preds, "activations", attrs)
