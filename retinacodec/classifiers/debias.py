"""Removing a shortcut by penalising explanations inside its mask: presence and absence (METHODS.md §6).

The penalty of the encoded-absence paper's skin-lesion experiment (Hesse et al. 2026; official
``isic/train.py`` of visinf/what-is-missing): the input attribution gradient × input of the
**labelled** logit, in magnitude, summed over colour channels, inside a mask of the shortcut
(a patch added to the image), normalised by the mask's area::

    P_presence = Σ |x ⊙ ∂F_y/∂x| · m / (Σ m + 1e-5),

and, with ``absence=True``, the same for the **other** class's logit (the flipped label of a
binary task), the two averaged. A network can read a shortcut as evidence *for* one class or
as evidence *against* the other (the absence of the patch raising the other logit); the
presence-only penalty silences only the first. :func:`add_patch` plants such a shortcut.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["OTHERS", "add_patch", "explanation_penalty"]

#: How the non-target class is chosen: the flipped label of a binary task, or the highest other logit.
OTHERS = ("flip", "runner_up")


def _attribution_inside(x: torch.Tensor, logit: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    (grad,) = torch.autograd.grad(logit.sum(), x, create_graph=True)
    return ((x * grad).abs().sum(1, keepdim=True) * mask).sum() / (mask.sum() + 1e-5)


def explanation_penalty(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, *,
                        absence: bool = True, other: str = "flip") -> torch.Tensor:
    """Gradient × input of the labelled (and the other) logit inside a mask, differentiable.

    Parameters
    ----------
    model : torch.nn.Module
        Logits out; in training mode while training.
    x : torch.Tensor, shape (batch, colour, y, x)
        Input images (a copy requiring gradients is made).
    y : torch.Tensor, shape (batch,)
        Labels.
    mask : torch.Tensor, shape (batch, 1, y, x)
        1 on the shortcut, 0 elsewhere (zeros for images without it).
    absence : bool
        Also penalise the other class's logit (presence + absence, averaged); False is the
        presence-only penalty.
    other : {"flip", "runner_up"}
        The other class: ``1 − y`` (binary labels, as the official code), or the highest
        logit that is not the label.

    Returns
    -------
    torch.Tensor
        A scalar with a graph (for ``loss.backward()``): logit units per masked pixel.
    """
    if other not in OTHERS:
        raise ValueError(f"other must be one of {OTHERS}; got {other!r}.")
    if mask.shape[0] != x.shape[0] or mask.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"mask {tuple(mask.shape)} must be (batch, 1, y, x) for images {tuple(x.shape)}.")
    x = x.detach().requires_grad_()
    out = model(x)
    rows = torch.arange(x.shape[0], device=x.device)
    presence = _attribution_inside(x, out[rows, y], mask)
    if not absence:
        return presence
    if other == "flip":
        if out.shape[1] != 2 or bool(((y != 0) & (y != 1)).any()):
            raise ValueError("other='flip' needs a binary task (2 logits, labels 0/1); use other='runner_up'.")
        flipped = 1 - y
    else:
        flipped = out.detach().scatter(1, y[:, None], -torch.inf).argmax(1)
    return (presence + _attribution_inside(x, out[rows, flipped], mask)) / 2


def add_patch(images: torch.Tensor, labels: torch.Tensor, probability: dict[int, float], *, size: int = 4,
              value: float = 3.0, corner: tuple[int, int] = (0, 0), dilate: int = 1,
              seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Plant a shortcut: a bright square patch added with a class-dependent probability.

    Parameters
    ----------
    images : torch.Tensor, shape (n, colour, y, x)
    labels : torch.Tensor, shape (n,)
    probability : dict
        Class → probability that an image of that class gets the patch (e.g. ``{0: 0.9, 1: 0.1}``
        in training, the reverse for a test of whether the network relies on it).
    size : int
        Side of the patch in px.
    value : float
        Pixel value of the patch (in the images' units).
    corner : (int, int)
        Top-left pixel of the patch.
    dilate : int
        Pixels by which the returned mask extends beyond the patch (official: 10 at 224 px).
    seed : int
        Seeds which images get the patch.

    Returns
    -------
    images : torch.Tensor
        A copy with the patches.
    masks : torch.Tensor, shape (n, 1, y, x)
        1 on each added patch (dilated), 0 elsewhere and on images without one.
    has_patch : torch.Tensor of bool, shape (n,)
    """
    rng = np.random.default_rng(seed)
    p = np.asarray([probability.get(int(k), 0.0) for k in labels])
    has = torch.as_tensor(rng.random(len(p)) < p)
    out = images.clone()
    r, c = corner
    out[has, :, r:r + size, c:c + size] = value
    masks = torch.zeros(images.shape[0], 1, *images.shape[-2:])
    masks[has, :, r:r + size, c:c + size] = 1.0
    if dilate > 0:
        masks = F.max_pool2d(masks, 2 * dilate + 1, stride=1, padding=dilate)
    return out, masks, has
