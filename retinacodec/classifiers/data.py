"""Real images shipped by a package, and a short training loop, for digits classifiers.

No weights or datasets can be downloaded at run time, so the tests, the tutorial and the
benchmarks use scikit-learn's handwritten digits (1,797 images of 8×8 px, 16 grey levels),
upsampled, and train a small network on them in seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from retinacodec.device import resolve_device

__all__ = ["accuracy", "digits", "predict", "split", "train_classifier"]


def digits(size: int = 32, channels: int = 1,
           classes: Sequence[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's handwritten digits as image tensors, z-scored over the whole set.

    Parameters
    ----------
    size : int
        Side of the output images in px (bilinear upsampling of the 8×8 originals).
    channels : int
        1 (grey) or 3 (the grey image repeated, for networks built for colour).
    classes : sequence of int, optional
        Keep only these digits (e.g. ``(1, 7)``), labelled by their position in ``classes``
        (1 → 0, 7 → 1); still z-scored over the whole set. Default: all ten, labelled by the digit.

    Returns
    -------
    images : torch.Tensor, shape (n, channels, size, size), float32
        Zero mean and unit standard deviation over all 1797 images' pixels; 0 is the mean grey,
        the natural integrated-gradients baseline, and ``images.min()`` is the black background.
    labels : torch.Tensor, shape (n,), int64
        The digit, 0–9, or its index in ``classes``. n = 1797 with all classes.
    """
    from sklearn.datasets import load_digits

    if size < 8 or channels not in (1, 3):
        raise ValueError(f"size must be >= 8 and channels 1 or 3; got size={size}, channels={channels}.")
    data = load_digits()
    x = torch.as_tensor(data.images, dtype=torch.float32)[:, None]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = (x - x.mean()) / x.std()
    y = torch.as_tensor(data.target, dtype=torch.int64)
    if classes is not None:
        wanted = torch.as_tensor(list(classes), dtype=torch.int64)
        if wanted.numel() < 2 or wanted.unique().numel() != wanted.numel() or wanted.min() < 0 or wanted.max() > 9:
            raise ValueError(f"classes must be two or more different digits 0-9; got {list(classes)}.")
        keep = torch.isin(y, wanted)
        x, y = x[keep], (y[keep, None] == wanted).int().argmax(1)
    return x.expand(-1, channels, -1, -1).contiguous(), y


def split(n: int, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``n`` samples into training and test indices (each sorted)."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction}.")
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


Penalty = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def train_classifier(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, epochs: int = 10,
                     batch_size: int = 64, lr: float = 3e-3, weight_decay: float = 1e-4, seed: int = 0,
                     penalty: Penalty | None = None, penalty_weight: float = 0.0, masks: torch.Tensor | None = None,
                     device: str | torch.device | None = "cpu", progress: bool | None = None) -> list[float]:
    """Train with Adam and cross-entropy (plus an optional penalty), in place; the model ends in eval mode.

    Parameters
    ----------
    model : torch.nn.Module
        Logits out.
    images : torch.Tensor, shape (n, channel, y, x)
    labels : torch.Tensor, shape (n,), int
    epochs, batch_size, lr, weight_decay : training settings
        A cosine learning-rate schedule runs over the epochs.
    seed : int
        Seeds the batch order.
    penalty : callable, optional
        ``penalty(model, x, y, mask) -> scalar`` added with weight ``penalty_weight``
        (e.g. :func:`retinacodec.classifiers.debias.explanation_penalty`).
    penalty_weight : float
    masks : torch.Tensor, shape (n, 1 or channel, y, x), optional
        Per-image masks handed to the penalty.
    device : str or torch.device, optional
        Where to train (the model stays there).
    progress : bool, optional
        Progress bar over epochs; default only on a terminal.

    Returns
    -------
    list of float
        Mean training loss per epoch.
    """
    if images.shape[0] != labels.shape[0] or images.shape[0] == 0:
        raise ValueError(f"images and labels must be non-empty and equally many; got {images.shape[0]} and "
                         f"{labels.shape[0]}.")
    if penalty is not None and masks is None:
        raise ValueError("a penalty needs masks (one per image).")
    dev = resolve_device(device)
    model.to(dev).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * int(np.ceil(images.shape[0] / batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1))
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in tqdm(range(epochs), desc="train", unit="epoch", disable=(not progress) if progress is not None else None):
        order, total = torch.randperm(images.shape[0], generator=gen), 0.0
        for start in range(0, images.shape[0], batch_size):
            idx = order[start:start + batch_size]
            x, y = images[idx].to(dev), labels[idx].to(dev)
            loss = F.cross_entropy(model(x), y)
            if penalty is not None and penalty_weight:
                loss = loss + penalty_weight * penalty(model, x, y, masks[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * idx.numel()
        losses.append(total / images.shape[0])
    model.eval()
    return losses


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Logits of ``images`` (n, ...) in eval mode, on the model's device; returns (n, classes) on the CPU."""
    model.eval()
    dev = next(model.parameters()).device
    return torch.cat([model(images[s:s + batch_size].to(dev)).cpu() for s in range(0, images.shape[0], batch_size)])


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of ``images`` whose top logit is the label."""
    return float((predict(model, images).argmax(1) == labels.cpu()).float().mean())
