"""CODEC on a digits ResNet: per-layer statistics and mode ablations, contributions vs activations.

Trains a small ResNet (torchvision's BasicBlock layout, one block per stage, 16–128 channels,
3×3 stem) on scikit-learn's digits upsampled to 32×32 (1,437 training, 360 test images), then
prints:

1. per block output (``layer1`` … ``layer4``), for the contributions to the true-class logit
   (integrated gradients, 20 steps) and the pre-ReLU activations, on all 1,797 images: Hoyer
   sparsity (2C sign-split values; and the C net values), positive/negative correlation
   across channels, principal components for 90 % of the variance and the participation ratio;
2. CODEC's SAE with the official ResNet preset (positive parts, 3× expansion, threshold 0.8,
   lr 5e-5, 300 epochs, ReduceLROnPlateau) on the training images of ``layer4``, for
   contributions and for activations (``--seeds`` SAE seeds): modes, R², the share of modes
   with a class correlation > 0.2;
3. mode ablation at ``layer4``: for every class, zero the top 10 % channels of its top mode
   and measure the drop of that class's test accuracy (and true-class probability) against
   the other classes' (selectivity (d_t − d_o)/(d_t + d_o); > 1/3 means at least twice);
4. the official protocol (20 trials of two random classes, p ∈ {1 … 99} %, ablate and
   preserve): areas under the accuracy curves and selectivity.

Usage: python benchmarks/bench_classifier_codec.py [--epochs 8] [--seeds 1] [--sae-epochs 300] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd
import torch

from retinacodec.classifiers import (
    accuracy,
    class_ablation,
    class_correlation,
    digits,
    image_activations,
    image_contributions,
    image_modes,
    layer_statistics,
    mode_ablation,
    resnet,
    split,
    top_modes,
    train_classifier,
)

LAYERS = ["layer1", "layer2", "layer3", "layer4"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=8, help="classifier training epochs")
    parser.add_argument("--seeds", type=int, default=1, help="SAE seeds")
    parser.add_argument("--sae-epochs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pd.set_option("display.width", 160)
    t0 = time.perf_counter()
    x, y = digits(32)
    tr, te = split(len(y), seed=0)
    model = resnet(depths=(1, 1, 1, 1), widths=(16, 32, 64, 128), in_channels=1, small_input=True, seed=0)
    train_classifier(model, x[tr], y[tr], epochs=args.epochs, seed=0)
    print(f"digits ResNet: test accuracy {accuracy(model, x[te], y[te]):.3f} ({time.perf_counter() - t0:.0f} s; "
          f"{args.threads} thread(s), load average {os.getloadavg()[0]:.2f})")

    c = image_contributions(model, x, LAYERS, "true", labels=y, batch_size=128)
    a = image_activations(model, x, LAYERS, labels=y)
    print("\n1. per layer, all 1797 images (contributions to the true-class logit, 20 steps; pre-ReLU activations)")
    print("   completeness (median relative error): "
          + ", ".join(f"{n} {e:.1e}" for n, e in zip(LAYERS, c.attrs["completeness_median"], strict=True)))
    table = layer_statistics(c, a, variance=0.9).to_dataframe().drop(columns=[])
    print(table.round(3).to_string())

    print(f"\n2.-3. SAE modes of layer4 (official ResNet preset, {args.sae_epochs} epochs) and mode ablation, 10 % of "
          "the channels, test images")
    rows = []
    for seed in range(args.seeds):
        for name, f in (("contributions", c), ("activations", a)):
            modes = image_modes(f.isel(image=tr), ["layer4"], seed=seed, max_epochs=args.sae_epochs)
            tops = top_modes(class_correlation(modes["loadings"]))
            row = {"source": name, "seed": seed, "modes": int(modes["n_modes"][0]), "r2": float(modes["r2"][0]),
                   "l0": float(modes["l0"][0]), "share r>0.2": float(tops["share_selective"][0]),
                   "top r (mean)": float(tops["top_r"].mean())}
            for metric in ("accuracy", "probability"):
                out = mode_ablation(model, modes, x[te], y[te], "layer4", percent=10, metric=metric)
                row[f"{metric}: drop target"] = float(out["drop_target"].mean())
                row[f"{metric}: drop others"] = float(out["drop_others"].mean())
                row[f"{metric}: selectivity"] = out.attrs["mean_selectivity"]
                row[f"{metric}: share 2x"] = out.attrs["share_twice"]
            official = class_ablation(model, modes, x[te], y[te], "layer4", n_trials=20)
            for kind in ("ablate", "preserve"):
                auc = official["auc"].sel(kind=kind)
                row[f"official {kind}: AUC target/off"] = (f"{float(auc.sel(frames='target')):.3f}/"
                                                          f"{float(auc.sel(frames='off_target')):.3f}")
                row[f"official {kind}: selectivity"] = float(official["selectivity"].sel(kind=kind))
            rows.append(row)
    df = pd.DataFrame(rows).set_index(["source", "seed"])
    print(df.T.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
