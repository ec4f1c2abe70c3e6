"""Contributions at the four block outputs of a ResNet-18 to all 10 logits: retinacodec vs captum.

Prints, in one run, on a network with torchvision's ResNet-18 structure (7×7 stem, max pool,
``layer1`` … ``layer4`` of two BasicBlocks, 64–512 channels, 11.2 M parameters; random
weights, BatchNorm running statistics set on random images; 10 classes; 64×64 colour inputs;
CPU, float32):

1. equality: our left rule against captum's ``LayerConductance`` (``riemann_trapezoid``,
   which evaluates the gradient on ``linspace(0, 1, S + 1)`` and is the left rule), every
   unit of the four layers, every logit (max |ours − captum| / max |captum| per layer);
2. speed: all units of ``layer1`` … ``layer4`` to all 10 logits for a batch of images at
   S steps: ours in one call (one interpolation pass; the 10 targets share the forward; the
   default batched backward and ``vectorize="replicate"``) vs captum's ``LayerConductance``
   looped over the 4 layers and 10 targets (40 calls). Each is timed after a warm-up call on
   one image; ours best of ``--repeats``, captum once;
3. each at its defaults — what a user gets without tuning: captum's ``LayerConductance``
   (``n_steps=50``, Gauss–Legendre) looped over layers and targets vs ours in one call (20
   steps, trapezoid with the kink correction of METHODS.md §2) — timed as in 2, with the
   accuracy of each: the completeness error ``max |Σ_units c − (F(x) − F(x₀))| / max |F(x) −
   F(x₀)|`` per layer, over the batch and the 10 logits (the faster call must not be the
   less exact one).
Target (issue 13): ours >= 10× faster.

Usage: python benchmarks/bench_classifier_contributions.py [--images 8] [--steps 20] [--size 64] [--threads 2]
       [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from retinacodec.attribution import contributions
from retinacodec.classifiers import resnet

LAYERS = ["layer1", "layer2", "layer3", "layer4"]
N_CLASSES = 10


def network(dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """ResNet-18 structure, seeded weights, BatchNorm statistics from random batches, eval mode."""
    model = resnet(num_classes=N_CLASSES, seed=0)
    with torch.no_grad():
        model.train()
        for _ in range(3):
            model(torch.randn(32, 3, 64, 64, generator=torch.Generator().manual_seed(2)))
    return model.to(dtype).eval()


def images(n: int, size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(1)).to(dtype)


def ours(model: torch.nn.Module, x: torch.Tensor, steps: int, vectorize: str = "auto",
         rule: str = "left") -> dict[str, np.ndarray]:
    ds = contributions(model, x, LAYERS, "all", steps=steps, rule=rule, vectorize=vectorize)
    return {name: ds[name].values for name in LAYERS}  # (image, target, channel, y, x)


def captum(model: torch.nn.Module, x: torch.Tensor, steps: int,
           method: str = "riemann_trapezoid") -> dict[str, np.ndarray]:
    from captum.attr import LayerConductance

    out = {}
    for name in LAYERS:
        lc = LayerConductance(model, getattr(model, name))
        per_target = [lc.attribute(x, baselines=torch.zeros_like(x), target=k, n_steps=steps,
                                   method=method).detach().cpu().numpy() for k in range(N_CLASSES)]
        out[name] = np.stack(per_target, axis=1)
    return out


def completeness(model: torch.nn.Module, x: torch.Tensor, result: dict[str, np.ndarray]) -> dict[str, float]:
    """Per layer: max |Σ_units c − (F(x) − F(0))| / max |F(x) − F(0)| over images and logits."""
    with torch.no_grad():
        diff = (model(x) - model(torch.zeros_like(x))).cpu().numpy()  # (image, target)
    return {name: float(np.max(np.abs(c.reshape(*c.shape[:2], -1).sum(-1) - diff)) / np.max(np.abs(diff)))
            for name, c in result.items()}


def best_time(fn, x: torch.Tensor, repeats: int) -> float:  # noqa: ANN001
    fn(x[:1])  # warm-up on one image
    times = []
    for _ in range(repeats):
        if x.is_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn(x)  # both sides return host arrays, so the device work is finished when this returns
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=8, help="images in the batch (speed)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=64, help="image side in px")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda: where both sides compute")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    print(f"torch {torch.__version__}, {args.threads} thread(s), device {dev}, load average {os.getloadavg()[0]:.2f}")

    model64, x64 = network(torch.float64).to(dev), images(1, args.size, torch.float64).to(dev)
    a, b = ours(model64, x64, args.steps), captum(model64, x64, args.steps)
    print(f"1. equality with captum LayerConductance, float64, 1 image, {args.steps} steps, every unit, 10 logits")
    for name in LAYERS:
        err = float(np.max(np.abs(a[name] - b[name])) / np.max(np.abs(b[name])))
        print(f"   {name} {tuple(a[name].shape[2:])}: max |ours - captum| / max |captum| = {err:.1e}")

    model, x = network().to(dev), images(args.images, args.size).to(dev)
    t_ours = best_time(lambda v: ours(model, v, args.steps), x, args.repeats)
    t_rep = best_time(lambda v: ours(model, v, args.steps, "replicate"), x, args.repeats)
    t_captum = best_time(lambda v: captum(model, v, args.steps), x, 1)
    a, b = ours(model, x[:2], args.steps), captum(model, x[:2], args.steps)
    err = max(float(np.max(np.abs(a[n] - b[n])) / np.max(np.abs(b[n]))) for n in LAYERS)
    print(f"2. speed, float32, {args.images} images of {args.size}x{args.size}, {args.steps} steps, 4 layers x 10 "
          f"logits (float32 agreement on 2 images {err:.1e})")
    print(f"   retinacodec, one call (vectorize='auto'):      {t_ours:7.1f} s   {t_captum / t_ours:5.1f}x")
    print(f"   retinacodec, one call (vectorize='replicate'): {t_rep:7.1f} s   {t_captum / t_rep:5.1f}x")
    print(f"   captum LayerConductance, 40 calls:             {t_captum:7.1f} s")

    t_ours_d = best_time(lambda v: ours(model, v, 20, rule="trapezoid"), x, args.repeats)
    t_captum_d = best_time(lambda v: captum(model, v, 50, "gausslegendre"), x, 1)
    err_ours = completeness(model, x, ours(model, x, 20, rule="trapezoid"))
    err_captum = completeness(model, x, captum(model, x, 50, "gausslegendre"))
    print(f"3. each at its defaults, float32, {args.images} images: completeness error per layer "
          f"({', '.join(LAYERS)})")
    print(f"   retinacodec, 20 steps, trapezoid + kinks, one call: {t_ours_d:7.1f} s   {t_captum_d / t_ours_d:5.1f}x   "
          + "  ".join(f"{err_ours[n]:.1e}" for n in LAYERS))
    print(f"   captum, 50 steps, Gauss-Legendre, 40 calls:         {t_captum_d:7.1f} s           "
          + "  ".join(f"{err_captum[n]:.1e}" for n in LAYERS))
    print(f"   target >= 10x; load average now {os.getloadavg()[0]:.2f}")

if __name__ == "__main__":
    main()
