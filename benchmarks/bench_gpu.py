"""CPU and GPU side by side: fit throughput, contributions and IRFs per second, and the per-sample loader.

One run prints one table with a CPU column and a GPU column ("no CUDA device" where torch sees
none):
  * fit: training windows per second of ``train_epoch`` on the full-size BNCNN (40×50×50 input,
    16 cells, batch 256), with the bare forward + backward + step on a pre-built batch (the
    ceiling) and a torch-deep-retina-style per-sample ``Dataset`` + ``DataLoader`` feeding the
    same network: measured by ``bench_training_throughput.measure`` (target: ours ≥ 3× the
    per-sample loader), and the two ways of building batches alone, without training (what
    each costs where the network is fast: on a small CPU the network's arithmetic dominates);
  * contributions: frames per second of ``contributions_for_recording`` (layers 1 and 2,
    integrated gradients with 20 steps) with the shipped sample model on the sample recording;
  * IRFs: frames per second of ``instantaneous_rf`` (gradient, all 9 cells, rank-1) there too.
Each is warmed up once before timing.

Usage: python benchmarks/bench_gpu.py [--frames 512] [--batches 4] [--repeats 1] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from retinacodec.attribution.recording import contributions_for_recording
from retinacodec.rf.irf import instantaneous_rf
from retinacodec.sample import load_sample, load_sample_model

sys.path.insert(0, str(Path(__file__).parent))
from bench_training_throughput import measure  # noqa: E402  (a script beside this one)


def _rate(fn: Callable[[], object], n: int, device: str) -> float:
    """n / seconds of one call, after a warm-up call."""
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


def _column(device: str, frames: np.ndarray, batches: int, repeats: int) -> dict[str, float]:
    rec, _ = load_sample()
    model = load_sample_model(device)
    fit = measure(device, 256, batches, repeats)
    names = list(fit)
    return {
        "fit: bare step (ceiling), windows/s": fit[names[0]],
        "fit: retinacodec train_epoch, windows/s": fit[names[1]],
        "fit: per-sample DataLoader, windows/s": fit[names[2]],
        "batches alone: retinacodec, windows/s": fit[names[3]],
        "batches alone: per-sample DataLoader, windows/s": fit[names[4]],
        "contributions (IG, 2 layers), frames/s": _rate(
            lambda: contributions_for_recording(model, rec, ["layer1", "layer2"], frames=frames, device=device,
                                                progress=False), frames.size, device),
        "rank-1 IRFs (9 cells), frames/s": _rate(
            lambda: instantaneous_rf(model, rec, frames, rank1=True, device=device, progress=False), frames.size,
            device),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=512, help="frames of the sample's training block analysed")
    ap.add_argument("--batches", type=int, default=4, help="timed training batches per method")
    ap.add_argument("--repeats", type=int, default=1, help="interleaved rounds of the training methods")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    frames = np.arange(1000, 1000 + args.frames)
    cpu = _column("cpu", frames, args.batches, args.repeats)
    gpu = _column("cuda", frames, args.batches, args.repeats) if torch.cuda.is_available() else None
    gpu_name = torch.cuda.get_device_name() if gpu else "no CUDA device"
    print(f"{'':<44}{'CPU (' + str(torch.get_num_threads()) + ' threads)':>22}{gpu_name:>24}")
    for name, value in cpu.items():
        print(f"{name:<44}{value:>22.1f}{(f'{gpu[name]:.1f}' if gpu else 'no CUDA device'):>24}")
    for label, col in (("CPU", cpu), ("GPU", gpu)):
        if col:
            values = list(col.values())
            print(f"{label}: retinacodec training / per-sample loader = {values[1] / values[2]:.2f} (target >= 3); "
                  f"batches alone: {values[3] / values[4]:.1f}")


if __name__ == "__main__":
    main()
