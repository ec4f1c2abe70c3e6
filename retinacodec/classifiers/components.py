"""Image components of a mode: which part of an image drives a mode's top channels.

As the official CODEC figure 7 (``figures/figure_7_visualization/visualize_modes.py`` with
bscope's ``generate_cwirf_mask``): for the mode's top channels (3 by default) at a layer,
every unit u's input gradient ∂a_u/∂x is weighted by the unit's gradient to the output,
g_u = ∂F/∂a_u, and summed — which is the input gradient of ``Σ_u g_u a_u`` with g held
fixed, one backward pass per batch. Multiplied by the image (gradient × input) and taken in
magnitude, it is median-filtered (size 4) in each colour channel, averaged over colours,
scaled to [0, 1] per image, multiplied by a contrast (7) and clipped to [0, 1]: a mask that
shows the image where the mode's channels take their contribution from.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr
from scipy.ndimage import median_filter
from torch import nn
from tqdm.auto import tqdm

from retinacodec.attribution.hooks import model_device, prepared
from retinacodec.classifiers.features import _batches, _n_batches
from retinacodec.classifiers.interventions import _mask
from retinacodec.classifiers.layers import layer_names, resolve

__all__ = ["mode_components"]


def _normalised_mask(grad_x_input: np.ndarray, filter_size: int, contrast: float) -> np.ndarray:
    """(colour, y, x) gradient × input → (y, x) mask in [0, 1]."""
    a = np.abs(grad_x_input)
    if filter_size > 1:
        a = np.stack([median_filter(c, size=filter_size) for c in a])
    m = a.mean(0)
    m = m - m.min()
    top = m.max()
    return np.clip(m / top * contrast, 0, 1) if top > 0 else m


def mode_components(model: nn.Module, images: torch.Tensor | np.ndarray, layer: str, channels: Sequence[int], *,
                    target: str | int = "true", labels: torch.Tensor | np.ndarray | None = None,
                    filter_size: int = 4, contrast: float = 7.0, layout: str = "auto", batch_size: int = 64,
                    progress: bool | None = None) -> xr.Dataset:
    """Where in each image the given channels of a layer take the target's contribution from.

    Parameters
    ----------
    model : torch.nn.Module
    images : tensor or ndarray, shape (n, colour, y, x)
        In the model's normalised input space.
    layer : str
        Dotted layer name.
    channels : sequence of int
        The mode's top channels, e.g. ``channel_ranking(modes, mode, layer)[:3]``.
    target : {"true", "predicted"} or int
        The class whose logit F is explained: the label (needs ``labels``), the predicted
        class, or a fixed class.
    labels : tensor or ndarray, shape (n,), optional
    filter_size : int
        Median filter size in px (official 4); 1 for none.
    contrast : float
        Gain before clipping to [0, 1] (official 7).
    layout : {"auto", "channels", "tokens"}
        Where the channel dim of the layer output is.
    batch_size : int
    progress : bool, optional

    Returns
    -------
    xarray.Dataset
        ``mask (image, y, x)`` in [0, 1]; ``gradient_x_input (image, colour, y, x)``, the
        unfiltered map in logit units; ``image_scaled (image, colour, y, x)``: the image
        scaled to [0, 1] (per image); ``masked_image``: that times the mask. Attrs: layer, channels, target,
        filter_size, contrast.
    """
    name = layer_names(layer)[0]
    module = resolve(model, name)[name]
    channels = [int(c) for c in channels]
    if not channels:
        raise ValueError("give at least one channel (e.g. channel_ranking(modes, mode, layer)[:3]).")
    if isinstance(target, str) and target not in ("true", "predicted"):
        raise ValueError(f"target must be 'true', 'predicted' or a class index; got {target!r}.")
    dev = model_device(model)
    store: dict[str, torch.Tensor] = {}
    handle = module.register_forward_hook(lambda m, i, out: store.__setitem__("a", out))
    maps = []
    try:
        with prepared(model, dev):
            for x, y in tqdm(_batches(images, labels, batch_size), total=_n_batches(images, batch_size),
                             desc="components", unit="batch", disable=(not progress) if progress is not None else None):
                if target == "true" and y is None:
                    raise ValueError("target='true' needs labels=.")
                x = x.to(dev, dtype=next(model.parameters()).dtype).requires_grad_()
                with torch.enable_grad():
                    out = model(x)
                    a = store["a"]
                    n_ch = a.shape[-1] if (layout == "tokens" or (layout == "auto" and a.ndim == 3)) else a.shape[1]
                    bad = [c for c in channels if not 0 <= c < n_ch]
                    if bad:
                        raise ValueError(f"channels {bad} out of range: layer {name!r} has {n_ch} channels.")
                    cls = (out.argmax(1) if target == "predicted" else y.to(dev) if target == "true"
                           else torch.full((x.shape[0],), int(target), device=dev))
                    f = out[torch.arange(x.shape[0], device=dev), cls].sum()
                    (g,) = torch.autograd.grad(f, a, retain_graph=True)
                    chosen = 1 - _mask(n_ch, np.asarray(channels), a.ndim, layout).to(a)
                    (jx,) = torch.autograd.grad((g.detach() * a * chosen).sum(), x)
                maps.append((jx * x).detach().cpu().numpy())
    finally:
        handle.remove()
    gxi = np.concatenate(maps)
    masks = np.stack([_normalised_mask(m, filter_size, contrast) for m in gxi])
    imgs = np.asarray(torch.as_tensor(images).detach().cpu(), dtype=np.float64)
    lo = imgs.min(axis=(1, 2, 3), keepdims=True)
    span = np.maximum(imgs.max(axis=(1, 2, 3), keepdims=True) - lo, 1e-12)
    dims = ("image", "colour", "y", "x")
    return xr.Dataset(
        {"mask": (("image", "y", "x"), masks.astype(np.float32)),
         "gradient_x_input": (dims, gxi.astype(np.float32)),
         "image_scaled": (dims, ((imgs - lo) / span).astype(np.float32)),
         "masked_image": (dims, ((imgs - lo) / span * masks[:, None]).astype(np.float32))},
        coords={"image": np.arange(gxi.shape[0])},
        attrs={"layer": name, "channels": channels, "target": str(target), "filter_size": int(filter_size),
               "contrast": float(contrast)},
    )
