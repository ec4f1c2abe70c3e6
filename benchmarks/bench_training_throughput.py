"""Training throughput of the full-size BNCNN: our data pipeline vs the bare network vs a per-sample loader.

Prints, in one run, samples per second of
  1. the bare forward + backward + Adam step on one pre-built batch (the ceiling),
  2. retinacodec's training epoch (`training.train_epoch`: strided windows, shuffled batches),
  3. a per-sample ``Dataset`` + ``DataLoader`` that slices and copies one window per sample
     and collates them, the way torch-deep-retina feeds its models.
Targets (issue 3): (2) >= 80% of (1), and (2) >= 3x (3). The two pipelines are also timed alone
(building the batches without training), which shows what each costs where the network is fast
(a GPU); on a small CPU the network's own arithmetic dominates every pipeline.

Usage: python benchmarks/bench_training_throughput.py [--batch-size 256] [--batches 6] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from retinacodec.device import resolve_device
from retinacodec.model.bncnn import BNCNN, preset_config
from retinacodec.model.training import train_epoch
from retinacodec.model.windows import WindowedData
from retinacodec.recording import make_recording

HISTORY, SIZE, N_CELLS = 40, 50, 16


class PerSampleWindows(Dataset):
    """One window per ``__getitem__``, sliced from the normalised movie and copied."""

    def __init__(self, stimulus: np.ndarray, spikes: np.ndarray, targets: np.ndarray) -> None:
        self.stimulus, self.spikes, self.targets = stimulus, spikes, targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        t = int(self.targets[i])
        x = torch.from_numpy(self.stimulus[t - HISTORY + 1 : t + 1].copy())
        return x, torch.from_numpy(self.spikes[t].copy())


def step(model: BNCNN, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    loss = F.poisson_nll_loss(model(x), y, log_input=False, eps=1e-6)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(device: str | torch.device = "cpu", batch_size: int = 256, batches: int = 6,
            repeats: int = 2) -> dict[str, float]:
    """Samples per second of each method (best of ``repeats`` interleaved rounds of ``batches`` batches)."""
    device = resolve_device(device)
    bs, nb = batch_size, batches
    rng = np.random.default_rng(0)
    n_frames = bs * (nb + 1) + HISTORY
    stim = rng.choice(np.float32([-1, 1]), size=(n_frames, SIZE, SIZE))
    spikes = rng.poisson(0.2, size=(n_frames, N_CELLS))
    rec = make_recording(stim, spikes, np.arange(n_frames) * 0.01)
    data = WindowedData(rec, HISTORY)
    targets = data.targets("train")
    torch.manual_seed(0)
    model = BNCNN(preset_config("default", N_CELLS, (SIZE, SIZE))).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    print(f"BNCNN 40x50x50 -> 8@15x15 -> 8@11x11 -> {N_CELLS} cells, batch {bs}, {nb} timed batches, "
          f"device {device}, torch threads {torch.get_num_threads()}")

    loader = DataLoader(PerSampleWindows(data.stimulus.numpy(), data.spikes.numpy(), targets), batch_size=bs,
                        shuffle=True, num_workers=0)
    data.to(device)  # our pipeline keeps the movie where the model is
    x, y = data.batch(targets[:bs], device)

    def bare() -> None:
        for _ in range(nb):
            step(model, opt, x, y)

    def ours() -> None:
        train_epoch(model, data, rng.permutation(targets)[: nb * bs], opt, bs, 1e-4, device)

    def per_sample() -> None:
        for i, (xb, yb) in enumerate(loader):
            if i == nb:
                break
            step(model, opt, xb.to(device), yb.to(device))

    def ours_data_only() -> None:
        order = rng.permutation(targets)[: nb * bs]
        for b in range(nb):
            data.batch(order[b * bs : (b + 1) * bs], device)

    def per_sample_data_only() -> None:
        for i, (xb, yb) in enumerate(loader):
            if i == nb:
                break
            xb.to(device), yb.to(device)

    methods = {"bare forward+backward+step (ceiling)": bare,
               "retinacodec train_epoch (strided windows)": ours,
               "per-sample Dataset + DataLoader (torch-deep-retina)": per_sample,
               "  data only: retinacodec batches": ours_data_only,
               "  data only: per-sample DataLoader batches": per_sample_data_only}
    bare()  # warm-up: allocator, kernels
    best = dict.fromkeys(methods, 0.0)
    for _ in range(repeats):  # interleaved, best of repeats: robust to a noisy machine
        for name, fn in methods.items():
            sync(device)
            t0 = time.perf_counter()
            fn()
            sync(device)
            best[name] = max(best[name], nb * bs / (time.perf_counter() - t0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--batches", type=int, default=6, help="timed batches per method")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved rounds; the best of each is kept")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    best = measure(args.device, args.batch_size, args.batches, args.repeats)
    bare_v, ours_v, per_v, ours_d, per_d = best.values()
    print(f"{'method':<52}{'samples/s':>12}{'vs bare':>10}")
    for name, v in best.items():
        print(f"{name:<52}{v:>12.1f}{v / bare_v:>10.2f}")
    print(f"retinacodec / ceiling = {ours_v / bare_v:.2f} (target >= 0.80); "
          f"retinacodec / per-sample loader = {ours_v / per_v:.2f} (target >= 3)")
    print(f"data pipelines alone: retinacodec / per-sample loader = {ours_d / per_d:.1f}; the data pipeline "
          f"takes {100 * (1 / ours_v - 1 / bare_v) * ours_v:.1f}% of a retinacodec training step")


if __name__ == "__main__":
    main()
