"""Debiasing a planted shortcut: no penalty vs presence-only vs presence + absence (encoded absences, §6).

Task: scikit-learn digits, 1 (label 0) vs 7 (label 1), 16×16 px, 70/30 split. Shortcut: a bright
4×4 patch in the top-left corner, on the training images of label 0 with probability ``--bias``
and of label 1 with 1 − ``--bias``; the test images carry it the other way round (inverted),
or not at all (clean). The explanation penalty (official ``isic/train.py``: |gradient × input|
inside the dilated patch mask for the labelled logit, and with absence also for the flipped
label's logit, averaged) is added with weight ``--weight``. Two models:

1. a linear two-logit classifier (8×8 px, patch 2×2, 30 epochs): the share of the decision
   weights (logit 7 − logit 1) on the patch pixels, relative to the mean over all pixels;
2. a small ResNet (two BasicBlock stages, 8–16 channels), ``--seeds`` seeds: test accuracy,
   clean and with the inverted shortcut.

Usage: python benchmarks/bench_classifier_debias.py [--seeds 3] [--epochs 10] [--weight 10] [--bias 1.0]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from torch import nn

from retinacodec.classifiers import accuracy, add_patch, digits, explanation_penalty, resnet, split, train_classifier

MODES = {"none": None, "presence": False, "presence + absence": True}


def penalty(absence: bool | None):  # noqa: ANN201
    if absence is None:
        return None
    return lambda m, a, b, c: explanation_penalty(m, a, b, c, absence=absence)


def ones_and_sevens(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = digits(size)
    keep = (y == 1) | (y == 7)
    return x[keep], (y[keep] == 7).long()


def linear(weight: float, bias: float) -> None:
    x, y = ones_and_sevens(8)
    patched, masks, _ = add_patch(x, y, {0: bias, 1: 1 - bias}, size=2, value=3.0, dilate=0)
    print(f"1. linear classifier, 8x8 px, patch share of the decision weights (1 = an average pixel), weight {weight}")
    for name, absence in MODES.items():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
        train_classifier(model, patched, y, epochs=30, lr=1e-2, weight_decay=0.0, penalty=penalty(absence),
                         penalty_weight=weight, masks=masks)
        w = model[1].weight.detach().reshape(2, 8, 8)
        d = (w[1] - w[0]).abs()
        print(f"   {name:20s} {float(d[:2, :2].mean() / d.mean()):.3f}")


def resnets(weight: float, bias: float, seeds: int, epochs: int) -> None:
    x, y = ones_and_sevens(16)
    tr, te = split(len(y), test_fraction=0.3, seed=0)
    xtr, mtr, _ = add_patch(x[tr], y[tr], {0: bias, 1: 1 - bias}, seed=1)
    xinv, _, _ = add_patch(x[te], y[te], {0: 1 - bias, 1: bias}, seed=2)
    print(f"2. ResNet (8-16 channels), 16x16 px, {len(tr)} training / {len(te)} test images, {epochs} epochs, "
          f"weight {weight}, {seeds} seeds: test accuracy mean ± sd (per seed)")
    for name, absence in MODES.items():
        accs = []
        for seed in range(seeds):
            model = resnet(depths=(1, 1), widths=(8, 16), in_channels=1, small_input=True, num_classes=2, seed=seed)
            train_classifier(model, xtr, y[tr], epochs=epochs, seed=seed, penalty=penalty(absence),
                             penalty_weight=weight, masks=mtr)
            accs.append((accuracy(model, x[te], y[te]), accuracy(model, xinv, y[te])))
        a = np.asarray(accs)
        print(f"   {name:20s} clean {a[:, 0].mean():.3f} ± {a[:, 0].std():.3f}   inverted shortcut "
              f"{a[:, 1].mean():.3f} ± {a[:, 1].std():.3f}   ({', '.join(f'{v:.3f}' for v in a[:, 1])})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--weight", type=float, default=10.0)
    parser.add_argument("--bias", type=float, default=1.0, help="P(patch | label 0) in training")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    print(f"{args.threads} thread(s), load average {os.getloadavg()[0]:.2f}")
    linear(args.weight, args.bias)
    resnets(args.weight, args.bias, args.seeds, args.epochs)
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
