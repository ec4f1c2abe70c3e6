"""Which layers of an image classifier to explain: names, and the layers that cut the network.

CODEC's contributions of a layer add up to the output change (completeness) only if every
path from the input to the output passes through that layer. In a ResNet or a ViT the block
outputs do (``layer4.1``, ``encoder.layers.encoder_layer_11``, timm's ``blocks.11``); a
convolution or an MLP inside a block does not, since the residual connection bypasses it.

:func:`layer_table` runs one image through the model and tests every module: its output is
cut from the autograd graph (a forward hook returns it detached) and the module **cuts** the
network if the model output then no longer depends on the input
(:func:`retinacodec.attribution.hooks.bypasses`). :func:`block_outputs` lists the blocks
that cut it; :func:`check_layers` warns for chosen layers that do not.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from retinacodec.attribution.hooks import bypasses, model_device, prepared, resolve_layers

__all__ = ["block_outputs", "check_layers", "layer_names", "layer_table", "resolve"]


def layer_names(layers: str | Sequence[str]) -> list[str]:
    """Dotted module names, with index brackets written as dots (``blocks[11]`` → ``blocks.11``)."""
    layers = [layers] if isinstance(layers, str) else list(layers)
    return [re.sub(r"\[(\d+)\]", r".\1", str(name)) for name in layers]


def resolve(model: nn.Module, layers: str | Sequence[str]) -> dict[str, nn.Module]:
    """Modules by dotted name: torchvision ``layer4.2``, ``encoder.layers.encoder_layer_11``, timm ``blocks.11``.

    Parameters
    ----------
    model : torch.nn.Module
    layers : str or sequence of str
        Names as in ``model.named_modules()``; ``blocks[11]`` is read as ``blocks.11``.

    Returns
    -------
    dict
        Name → module, in the order given.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones) or a repeated one.
    """
    return resolve_layers(model, layer_names(layers))


def _example(model: nn.Module, example: torch.Tensor | np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(example)
    if x.ndim < 2:
        raise ValueError(f"example must be a batch of inputs (batch, channel, y, x); got shape {tuple(x.shape)}.")
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.get_default_dtype())
    return x[:1].to(device=model_device(model), dtype=dtype)


def _trace(model: nn.Module, x: torch.Tensor) -> tuple[list[str], dict, dict, dict]:
    """Modules in the order they finish, with their call counts, output shapes and output tensors."""
    names = {m: name for name, m in model.named_modules() if name}
    order: list[str] = []
    calls: dict[str, int] = {}
    shapes: dict[str, tuple] = {}
    outputs: dict[str, torch.Tensor] = {}

    def record(module: nn.Module, inputs: tuple, out: object) -> None:
        name = names[module]
        calls[name] = calls.get(name, 0) + 1
        if name not in order:
            order.append(name)
        if isinstance(out, torch.Tensor):
            shapes[name], outputs[name] = tuple(out.shape[1:]), out
    handles = [m.register_forward_hook(record) for m in names]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return order, calls, shapes, outputs


def layer_table(model: nn.Module, example: torch.Tensor | np.ndarray, *, progress: bool | None = None) -> xr.Dataset:
    """Every module that runs, in the order its output is ready, and whether it cuts the network.

    Parameters
    ----------
    model : torch.nn.Module
        Put in eval mode for the call (and restored).
    example : tensor or ndarray, shape (batch, ...)
        A model input; the first sample is used.
    progress : bool, optional
        Progress bar over the modules; default only on a terminal.

    Returns
    -------
    xarray.Dataset, dim ``layer`` (dotted names)
        ``kind`` (class name), ``calls`` (times it runs per forward pass), ``shape`` (its
        output's shape without the batch dim, as text; empty for a non-tensor output),
        ``n_units``, ``container`` (has submodules), ``cuts`` (every path from the input to
        the output passes through it: completeness can hold), ``usable`` (cuts, runs once,
        returns a tensor: contributions can be computed there) and ``same_as`` (an earlier
        module that runs once and returns the very same tensor, e.g. ``layer1.1`` for ``layer1``, or
        "").
    """
    modules = dict(model.named_modules())
    with prepared(model, model_device(model)):
        x = _example(model, example)
        order, calls, shapes, outputs = _trace(model, x)
        first_of: dict[int, str] = {}
        same_as = {}
        for name in order:
            out = outputs.get(name)
            key = id(out) if out is not None and calls[name] == 1 else None
            same_as[name] = first_of.get(key, "") if key is not None else ""
            if key is not None:
                first_of.setdefault(key, name)
        del outputs
        cuts = {name: name in shapes and not bypasses(model, modules[name], x)
                for name in tqdm(order, desc="layers", unit="module",
                                 disable=(not progress) if progress is not None else None)}
    usable = [cuts[n] and calls[n] == 1 and n in shapes for n in order]
    return xr.Dataset(
        {"kind": ("layer", [type(modules[n]).__name__ for n in order]),
         "calls": ("layer", [calls[n] for n in order]),
         "shape": ("layer", [" x ".join(map(str, shapes[n])) if n in shapes else "" for n in order]),
         "n_units": ("layer", [int(np.prod(shapes[n])) if n in shapes else 0 for n in order]),
         "container": ("layer", [any(True for _ in modules[n].children()) for n in order]),
         "cuts": ("layer", [cuts[n] for n in order]),
         "usable": ("layer", usable),
         "same_as": ("layer", [same_as[n] for n in order])},
        coords={"layer": order},
        attrs={"input_shape": " x ".join(map(str, x.shape[1:]))},
    )


def block_outputs(model: nn.Module, example: torch.Tensor | np.ndarray, *, progress: bool | None = None) -> list[str]:
    """The blocks (modules with submodules) whose outputs cut the network, in forward order.

    A block whose output is the same tensor as an earlier one's (torchvision's ``layer1``,
    which returns ``layer1.1``'s output) is listed once, under the earlier (inner) name.
    On a torchvision ResNet-18 these are ``layer1.0 … layer4.1``; on a ViT the encoder
    blocks ``encoder.layers.encoder_layer_<i>``; timm's ViT ``blocks.<i>``.

    Parameters
    ----------
    model : torch.nn.Module
    example : tensor or ndarray, shape (batch, ...)
        A model input.
    progress : bool, optional
        Progress bar.

    Returns
    -------
    list of str
    """
    table = layer_table(model, example, progress=progress)
    keep = table["usable"] & table["container"] & (table["same_as"] == "")
    return [str(n) for n in table["layer"].values[keep.values]]


def check_layers(model: nn.Module, layers: str | Sequence[str], example: torch.Tensor | np.ndarray) -> list[str]:
    """Warn for chosen layers that a residual bypass skips; return their names.

    Parameters
    ----------
    model : torch.nn.Module
    layers : str or sequence of str
        Dotted names (:func:`resolve`).
    example : tensor or ndarray, shape (batch, ...)
        A model input.

    Returns
    -------
    list of str
        The layers that do not cut the network (their contributions cannot add up to the
        output change).

    Warns
    -----
    UserWarning
        Naming those layers.
    """
    modules = resolve(model, layers)
    with prepared(model, model_device(model)):
        x = _example(model, example)
        skipped = [name for name, m in modules.items() if bypasses(model, m, x)]
    if skipped:
        warnings.warn(f"layer(s) {skipped} do not cut the network: a residual connection or a parallel branch "
                      "bypasses them, so their contributions cannot add up to the output change (completeness "
                      "cannot hold). Use block outputs (retinacodec.classifiers.block_outputs).", UserWarning,
                      stacklevel=2)
    return skipped
