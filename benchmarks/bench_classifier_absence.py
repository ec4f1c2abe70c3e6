"""Encoded absences in a small CNN telling 1 from 7 (METHODS.md §6, issue 13), over training seeds.

Task: scikit-learn digits, 1 (label 0) vs 7 (label 1), 16×16 px, 80/20 split; network
``small_vgg`` (two conv stages of 8 and 16 channels, 1.8 k parameters), 6 epochs. The stroke
region is where the mean 7 is brighter than the mean 1 by more than ``--stroke`` z units (the
7's top bar and right-hand stroke). Per seed, on the held-out images:

1. **absence** (Hesse et al.'s non-target attribution): integrated gradients (50 steps) of the
   "1" logit on images of 7; the share of the negative part that falls in the stroke region,
   the ratio of negative to positive attribution inside it, and the positive part's share;
2. **presence** (the control): the standard explanation, integrated gradients of the "1" logit
   on images of 1; the share of |attribution| in the stroke region;

each from two baselines: black (the digits' background, ``images.min()``) and zeros (the mean
grey of z-scored images, the functions' default); plus the relative completeness error of the
absence attributions (input and ``features.3``), and
3. **absence test** (official ``image_quantitative.py``, patches 5 px, stride 1, top 100 images,
   4 patches): the share of units with a significant drop, for the trained network and the same
   network with its initial random weights, at ``features.0`` and ``features.3`` (pre-ReLU).

Usage: python benchmarks/bench_classifier_absence.py [--seeds 3] [--epochs 6] [--steps 50] [--stroke 0.5]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
import xarray as xr
from torch import nn

from retinacodec.absence import absence_attribution, absence_test, nontarget_attribution
from retinacodec.classifiers import accuracy, digits, small_vgg, split, train_classifier

ONE, SEVEN = 0, 1
LAYERS = ("features.0", "features.3")


def region_share(mass: xr.DataArray, region: np.ndarray) -> float:
    """Share of a non-negative attribution (sample, ..., y, x), summed over all but (y, x), inside ``region``."""
    total = mass.sum([d for d in mass.dims if d not in ("y", "x")]).values
    return float(total[region].sum() / total.sum())


def attribution_row(model: nn.Module, ones: torch.Tensor, sevens: torch.Tensor, base: torch.Tensor | None,
                    stroke: np.ndarray, steps: int) -> dict[str, float]:
    """Stroke-region shares of the absence and presence attributions of the "1" logit from one baseline."""
    absent = nontarget_attribution(model, sevens, np.full(len(sevens), SEVEN), nontarget=ONE, steps=steps,
                                   baseline=None if base is None else base.expand_as(sevens), layers="features.3")
    neg, pos = -absent["input"].sel(sign="neg"), absent["input"].sel(sign="pos")
    inside = [float(m.sum("sample").values[0][stroke].sum()) for m in (neg, pos)]
    present = absence_attribution(model, ones, None if base is None else base.expand_as(ones), ONE, steps=steps)
    rel = absent["completeness_relative"]
    return {"absence_neg": region_share(neg, stroke), "neg_over_pos": inside[0] / max(inside[1], 1e-30),
            "absence_pos": region_share(pos, stroke),
            "presence": region_share(abs(present["input"].sum("sign")), stroke),
            "compl_median": float(rel.median("sample").max()), "compl_max": float(rel.max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--stroke", type=float, default=0.5, help="z units of mean(7) − mean(1) for the region")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
    x, y = digits(16, classes=(1, 7))
    train, test = split(len(y), seed=0)
    stroke = (x[y == SEVEN].mean(0) - x[y == ONE].mean(0))[0].numpy() > args.stroke
    ones, sevens = x[test][y[test] == ONE], x[test][y[test] == SEVEN]
    black = x.min().reshape(1, 1, 1, 1)
    print(f"1 vs 7, 16x16 px: {len(train)} training, {len(ones)} + {len(sevens)} held-out images of 1 and 7; "
          f"stroke region (mean 7 - mean 1 > {args.stroke} z) = {stroke.mean():.3f} of the pixels")
    print("\n1-2. shares of the stroke region (area share above); absence = negative part of the '1' logit's "
          "attribution on 7s,\n     presence = |attribution| of the '1' logit on 1s; completeness = relative error "
          f"of the absence attributions ({args.steps} steps)")
    header = (f"{'seed':>4} {'acc':>6} {'baseline':>8} {'absence':>8} {'neg/pos':>8} {'pos':>6} {'presence':>8} "
              f"{'abs/pres':>8} {'compl med':>9} {'compl max':>9} {'s':>5}")
    print(header)
    tests = []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        model = small_vgg(num_classes=2, seed=seed)
        train_classifier(model, x[train], y[train], epochs=args.epochs, seed=seed)
        acc = accuracy(model, x[test], y[test])
        for name, base in (("black", black), ("grey", None)):
            t1 = time.perf_counter()
            r = attribution_row(model, ones, sevens, base, stroke, args.steps)
            print(f"{seed:>4} {acc:>6.3f} {name:>8} {r['absence_neg']:>8.3f} {r['neg_over_pos']:>8.2f} "
                  f"{r['absence_pos']:>6.3f} {r['presence']:>8.3f} {r['absence_neg'] / r['presence']:>8.2f} "
                  f"{r['compl_median']:>9.4f} {r['compl_max']:>9.4f} {time.perf_counter() - t1:>5.1f}")
        for layer in LAYERS:
            for kind, net in (("trained", model), ("random", small_vgg(num_classes=2, seed=seed))):
                res = absence_test(net, x, layer, seed=0)
                tests.append((seed, layer, kind, res.attrs["share_drop"], res.attrs["share_drop_bh"],
                              float(np.median(res["t"].values))))
        print(f"     (seed {seed}: {time.perf_counter() - t0:.1f} s with the absence tests)")
    print("\n3. absence test on all 361 images: share of units with a significant drop (p <= 0.05, t > 0), "
          "with Benjamini-Hochberg, median t")
    print(f"{'seed':>4} {'layer':>10} {'weights':>8} {'drop':>6} {'drop_bh':>7} {'median t':>8}")
    for seed, layer, kind, share, share_bh, t in tests:
        print(f"{seed:>4} {layer:>10} {kind:>8} {share:>6.3f} {share_bh:>7.3f} {t:>8.1f}")


if __name__ == "__main__":
    main()
