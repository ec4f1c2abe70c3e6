"""SAE quality on a retina contribution matrix: retinacodec's TopK vs dictionary_learning's TopK.

Builds a contribution matrix the way CODEC does: simulate a recording, fit the sample-size
CNN for a few epochs, take activation × gradient of the summed model output at ``layer1``
and ``layer2``, split each by sign and sum over space (2 × 8 values per layer and frame),
giving X of shape (n_frames, 32). The frames are split into contiguous training and test
chunks; both TopK SAEs (same k, 8× expansion, same globally scaled training frames) are fitted
on the training frames and measured on the test frames: R² (1 - SSE / SS around per-feature
means), L0, the share of latents never active on the test frames ("dead") and active on more
than half of them ("dense"), fit time. The BatchTopK, CODEC and ReLU SAEs are measured on the
same frames.

Targets (issue): |R²_ours - R²_ref| <= 0.02 (ours as good or better); < 1 % dead latents at 8×.

The reference is ``dictionary_learning`` 0.1.0 (Marks, Karvonen, Mueller et al., the SAE
library behind SAEBench), its ``TopKTrainer`` (Gao et al. 2024 recipe: geometric-median
decoder bias, 1/sqrt(K)-scaled lr with warm-up, AuxK, unit-norm decoder, grad clipping). It is
a benchmark-only dependency; install it into the venv without its LM-tooling dependencies::

    pip install --no-deps dictionary-learning==0.1.0 einops==0.8.2

Its package ``__init__`` imports ``nnsight`` (language-model tracing, not needed here), so the
script imports ``dictionary_learning.trainers.top_k`` without running that ``__init__``.
The reference trains for as many steps as our TopK ran, with the same batch size.

Usage: python benchmarks/bench_sae.py [--k 4] [--expansion 8] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import time
import types

import numpy as np
import torch
import xarray as xr

from retinacodec.attribution import contributions_for_recording, layer_contributions
from retinacodec.codec.sae import CodecSAE, ReLUSAE, TopKSAE, code_statistics, r2_score
from retinacodec.codec.sae.base import split_samples
from retinacodec.device import resolve_device
from retinacodec.model.bncnn import BNCNN
from retinacodec.model.training import fit
from retinacodec.model.windows import WindowedData
from retinacodec.sim.simulate import simulate_retina


def contribution_matrix(model: BNCNN, rec: xr.Dataset, frames: np.ndarray, layers: list[str]) -> np.ndarray:
    """Activation × gradient of the summed output, split by sign and summed over space.

    Returns
    -------
    ndarray, shape (n_frames, 2 × channels × n_layers)
        Per layer: the positive parts of its channels, then the negative parts.
    """
    ds = contributions_for_recording(model, rec, layers, frames=frames, chunk_size=1024, target="sum",
                                     method="activation_x_gradient", reduce="space", split_sign=True)
    parts = [layer_contributions(ds, name).isel(target=0).transpose("frame", "sign", "channel").values
             for name in layers]
    return np.concatenate([p.reshape(len(frames), -1) for p in parts], axis=1)


def import_reference() -> type:
    """``dictionary_learning.trainers.top_k.TopKTrainer``, without the package's nnsight import."""
    spec = importlib.util.find_spec("dictionary_learning")
    if spec is None:
        sys.exit("the reference is not installed: pip install --no-deps dictionary-learning==0.1.0 einops==0.8.2")
    package = types.ModuleType("dictionary_learning")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["dictionary_learning"] = package
    from dictionary_learning.trainers.top_k import TopKTrainer

    return TopKTrainer


def fit_reference(x_train: np.ndarray, k: int, n_latents: int, steps: int, batch_size: int, seed: int,
                  device: torch.device) -> torch.nn.Module:
    """Train dictionary_learning's TopK SAE for ``steps`` shuffled mini-batches."""
    trainer = import_reference()(steps=steps, activation_dim=x_train.shape[1], dict_size=n_latents, k=k, layer=0,
                                 lm_name="retina-cnn", seed=seed, device=str(device),
                                 warmup_steps=min(1000, steps // 10))
    x = torch.as_tensor(x_train, device=device)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(x), generator=generator)
    position = 0
    for step in range(steps):
        if position + batch_size > len(x):
            order, position = torch.randperm(len(x), generator=generator), 0
        trainer.update(step, x[order[position : position + batch_size].to(device)])
        position += batch_size
    return trainer.ae.eval()


def report(name: str, r2: float, codes: np.ndarray, n_latents: int, seconds: float) -> None:
    """One table row; ``codes`` (n_test, n_active_columns) are padded to ``n_latents`` columns."""
    padded = np.zeros((codes.shape[0], n_latents), dtype=codes.dtype)
    padded[:, : codes.shape[1]] = codes
    stats = code_statistics(padded)
    print(f"{name:<44} {r2:8.4f} {stats['l0']:7.2f} {100 * stats['dead_fraction']:7.2f}% "
          f"{100 * stats['dense_fraction']:7.2f}% {seconds:8.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--expansion", type=float, default=8.0)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--model-epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (tiny matmuls: 1 is fastest)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)

    t0 = time.perf_counter()
    rec, _ = simulate_retina(seed=args.seed)
    model = fit(rec, preset="sample", epochs=args.model_epochs, seed=args.seed, progress=False)
    frames = WindowedData(rec, model.config.history, normalization=model.normalization).targets("train")
    X = contribution_matrix(model, rec, frames, ["layer1", "layer2"])
    train, test = split_samples(len(X), 0.2, "contiguous", args.seed)
    scale = float(X[train].std())
    print(f"contributions: X {X.shape} (act x grad of the summed output, layer1 + layer2, sign-split, "
          f"space-summed), built in {time.perf_counter() - t0:.1f} s; {train.size} training / {test.size} test "
          f"frames (contiguous chunks); k={args.k}, expansion={args.expansion:g}, device={device}")
    print(f"{'SAE':<44} {'test R2':>8} {'L0':>7} {'dead':>8} {'dense':>8} {'fit s':>8}")

    n_latents = int(round(args.expansion * X.shape[1]))
    common = {"batch_size": args.batch_size, "seed": args.seed, "device": str(device), "split": "contiguous"}
    t = time.perf_counter()
    ours = TopKSAE(k=args.k, expansion=args.expansion, **common).fit(X[train])
    ours_s = time.perf_counter() - t
    ours_r2, ours_codes = ours.score(X[test]), ours.transform(X[test])
    report("retinacodec TopKSAE", ours_r2, ours_codes, n_latents, ours_s)

    steps = len(ours.history_) * math.ceil(ours.train_indices_.size / args.batch_size)
    t = time.perf_counter()
    ref = fit_reference(X[train] / scale, args.k, n_latents, steps, args.batch_size, args.seed, device)
    ref_s = time.perf_counter() - t
    with torch.no_grad():
        x_test = torch.as_tensor(X[test] / scale, device=device)
        ref_codes = ref.encode(x_test)
        ref_hat = ref.decode(ref_codes).cpu().numpy() * scale
    ref_codes = ref_codes.cpu().numpy()
    ref_r2 = r2_score(X[test], ref_hat)
    report(f"dictionary_learning 0.1.0 TopK ({steps} steps)", ref_r2, ref_codes, n_latents, ref_s)

    t = time.perf_counter()
    batch = TopKSAE(k=args.k, batch_topk=True, expansion=args.expansion, **common).fit(X[train])
    report("retinacodec TopKSAE(batch_topk)", batch.score(X[test]), batch.transform(X[test]), n_latents,
           time.perf_counter() - t)
    for name, est in [("retinacodec CodecSAE (10x)", CodecSAE(**common)),
                      (f"retinacodec ReLUSAE ({args.expansion:g}x)", ReLUSAE(expansion=args.expansion, **common))]:
        t = time.perf_counter()
        est.fit(X[train])
        report(name, est.score(X[test]), est.transform(X[test]), est.n_latents_, time.perf_counter() - t)

    dead = code_statistics(np.pad(ours_codes, ((0, 0), (0, n_latents - ours_codes.shape[1]))))
    print(f"R2 ours - reference = {ours_r2 - ref_r2:+.4f} (target: >= -0.02): "
          f"{'PASS' if ours_r2 - ref_r2 >= -0.02 else 'FAIL'}; "
          f"dead latents (TopK, {args.expansion:g}x) = {100 * dead['dead_fraction']:.2f}% (target < 1%): "
          f"{'PASS' if dead['dead_fraction'] < 0.01 else 'FAIL'}")


if __name__ == "__main__":
    main()
