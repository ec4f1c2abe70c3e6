"""Instantaneous receptive fields: retinacodec vs the official way, and a 1-hour streaming run.

Section ``speed`` prints, in one table, the IRFs of every cell at a batch of frames on
  * the shipped sample model (20×20 px, 9 cells) at frames of the sample's test block, and
  * the full-size model (preset "default": 50×50 px, 40 frames, 8 channels, 16 cells; random
    weights, BatchNorm statistics set on white noise) at white-noise frames,
computed by ``retinacodec.rf.instantaneous_rf`` (one call) and by the official way
(``3_save_irfs.py``'s ``batch_irf``: batch 1, one forward and one backward per frame per cell,
parameters requiring gradients as in a loaded model). Both are warmed up once before timing. The
official way is timed on a few frames and extrapolated linearly to the batch (its cost is the
same for every frame and cell); the
largest difference between the two IRFs on those frames is printed. Each measurement runs in
its own subprocess; peak memory is the growth of the peak resident set (VmHWM, reset through
/proc/self/clear_refs; Linux).

Section ``memory`` simulates a 1-hour recording (``simulate_retina(train_seconds=3600)``, the
stimulus held in memory, 20×20 px, 9 cells) and streams the rank-1 IRFs of every frame with a
full history, computed with the sample model, to a NetCDF file; it prints the peak resident set
of the whole process and its growth during the IRF pass. Target: <= 2 GB.

Usage: python benchmarks/bench_irf.py [--only speed|memory] [--frames 64] [--official-frames 4]
       [--seconds 3600] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import retinacodec as rc
from retinacodec.model.bncnn import BNCNN, preset_config
from retinacodec.model.windows import Normalization, valid_targets
from retinacodec.recording import make_recording
from retinacodec.rf import instantaneous_rf
from retinacodec.rf.stimulus import window_batch

HISTORY, FULL_CELLS, FULL_SIZE = 40, 16, 50


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))


def _reset_peak() -> int:
    """Reset the peak resident set and return the current one, kB."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_kb("VmRSS")


def full_setup(n_frames: int) -> tuple[BNCNN, object, np.ndarray]:
    """The full-size model (random weights, BatchNorm statistics on white noise) and a white-noise recording."""
    torch.manual_seed(0)
    model = BNCNN(preset_config("default", FULL_CELLS, (FULL_SIZE, FULL_SIZE)))
    with torch.no_grad():
        model.train()
        for _ in range(3):
            model(torch.randn(64, HISTORY, FULL_SIZE, FULL_SIZE))
    model.eval()
    model.normalization = Normalization(0.0, 1.0)
    rng = np.random.default_rng(1)
    n = n_frames + HISTORY
    stim = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(n, FULL_SIZE, FULL_SIZE))
    rec = make_recording(stim, np.zeros((n, FULL_CELLS), dtype=np.int64), np.arange(n) / 100.0, frame_rate_hz=100.0,
                         pixel_size_um=50.0)
    return model, rec, np.arange(HISTORY - 1, n)


def sample_setup(n_frames: int) -> tuple[BNCNN, object, np.ndarray]:
    rec, _ = rc.load_sample()
    frames = valid_targets(rec["time"].values, rec["block"].values == "test", HISTORY)[:n_frames]
    return rc.load_sample_model(), rec, frames


def official_irfs(model: BNCNN, x: torch.Tensor) -> np.ndarray:
    """``batch_irf`` of 3_save_irfs.py: per cell, per frame, batch 1 (parameters require gradients)."""
    for p in model.parameters():
        p.requires_grad_(True)
    out = np.zeros((x.shape[0], model.config.n_cells, *x.shape[1:]), dtype=np.float32)
    for c in range(model.config.n_cells):
        for i in range(x.shape[0]):
            stim = x[i:i + 1].clone().requires_grad_(True)
            model.zero_grad()
            model(stim)[:, c].sum().backward()
            out[i, c] = stim.grad.detach()[0].numpy()
    return out


def child(kind: str, which: str, n_frames: int, official_frames: int) -> None:
    model, rec, frames = (sample_setup if which == "sample" else full_setup)(n_frames)
    frames = frames[:n_frames]
    x = torch.from_numpy(window_batch(rec["stimulus"], frames[:official_frames], HISTORY, model.normalization))
    if kind == "ours":  # warm-up (lazy initialisation of torch and the FFT plans), not timed
        instantaneous_rf(model, rec, frames=frames[:2])
    else:
        official_irfs(model, x[:1])
    start_rss = _reset_peak()
    t0 = time.perf_counter()
    if kind == "ours":
        ours = instantaneous_rf(model, rec, frames=frames)["irf"].values
        seconds = time.perf_counter() - t0
        extra = {}
        np.save(os.environ["BENCH_IRF_OUT"], ours[:official_frames])
    else:
        theirs = official_irfs(model, x)
        seconds = (time.perf_counter() - t0) * len(frames) / official_frames
        ref = np.load(os.environ["BENCH_IRF_OUT"])
        extra = {"max_diff": float(np.abs(theirs - ref).max()), "max_abs": float(np.abs(theirs).max())}
    peak = _status_kb("VmHWM") - start_rss
    print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024, "pairs": int(len(frames) * model.config.n_cells),
                      **extra}))


def _env(threads: int) -> dict:
    """The environment of a child: BLAS and OpenMP limited to ``threads`` (numpy's BLAS too)."""
    return {**os.environ, **{k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}


def measure(kind: str, which: str, args: argparse.Namespace, scratch: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, which, "--frames", str(args.frames),
           "--official-frames", str(args.official_frames), "--threads", str(args.threads)]
    env = {**_env(args.threads), "BENCH_IRF_OUT": str(scratch / f"{which}.npy")}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def speed(args: argparse.Namespace) -> None:
    print(f"IRFs of every cell at {args.frames} frames; official way timed on {args.official_frames} frames and "
          f"extrapolated; {args.threads} thread(s), CPU")
    print(f"{'model':<34} {'who':<34} {'seconds':>9} {'ms/(frame·cell)':>16} {'peak MB':>8} {'speed-up':>9} "
          f"{'max |diff|':>11}")
    with tempfile.TemporaryDirectory() as scratch:
        for which, label in (("sample", "sample (20x20, 9 cells)"), ("full", "full-size default (50x50, 16 cells)")):
            ours = measure("ours", which, args, Path(scratch))
            theirs = measure("official", which, args, Path(scratch))
            for who, r in (("retinacodec instantaneous_rf", ours), ("official batch_irf (batch 1)", theirs)):
                up = theirs["seconds"] / r["seconds"]
                diff = f"{r['max_diff']:.1e}" if "max_diff" in r else ""
                print(f"{label:<34} {who:<34} {r['seconds']:9.2f} {1e3 * r['seconds'] / r['pairs']:16.3f} "
                      f"{r['peak_mb']:8.0f} {up:8.1f}x {diff:>11}")
            print(f"{'':<34} (largest |IRF| value {theirs['max_abs']:.1e})")


def memory_child(seconds: float, out: Path) -> None:
    t0 = time.perf_counter()
    rec, _ = rc.simulate_retina(train_seconds=seconds, seed=2)
    t_sim = time.perf_counter() - t0
    sim_peak = _status_kb("VmHWM")
    before = _reset_peak()
    frames = valid_targets(rec["time"].values, np.ones(rec.sizes["frame"], dtype=bool), HISTORY)
    t0 = time.perf_counter()
    instantaneous_rf(rc.load_sample_model(), rec, frames=frames, rank1=True, out=out, progress=True)
    t_irf = time.perf_counter() - t0
    irf_peak = _status_kb("VmHWM")
    print(json.dumps({"frames": int(frames.size), "recording_frames": int(rec.sizes["frame"]),
                      "simulate_s": t_sim, "irf_s": t_irf, "peak_rss_mb": max(sim_peak, irf_peak) / 1024,
                      "rss_before_irf_mb": before / 1024, "irf_peak_rss_mb": irf_peak / 1024,
                      "file_mb": out.stat().st_size / 2**20}))


def memory(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "irf_rank1.nc"
        cmd = [sys.executable, __file__, "--memory-child", str(args.seconds), str(out), "--threads", str(args.threads)]
        proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, env=_env(args.threads))
        r = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\n1-hour memory check: simulate_retina(train_seconds={args.seconds:g}) held in memory "
          f"({r['recording_frames']} frames, simulated in {r['simulate_s']:.0f} s), rank-1 IRFs of all {r['frames']} "
          f"frames with a full history streamed to NetCDF ({r['file_mb']:.0f} MB) in {r['irf_s']:.0f} s")
    print(f"  peak RSS of the whole process {r['peak_rss_mb']:.0f} MB; RSS before the IRF pass "
          f"{r['rss_before_irf_mb']:.0f} MB, peak during it {r['irf_peak_rss_mb']:.0f} MB "
          f"(target <= 2048 MB: {'ok' if r['peak_rss_mb'] <= 2048 else 'MISSED'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["speed", "memory"])
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--official-frames", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", nargs=2)
    parser.add_argument("--memory-child", nargs=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        child(args.child[0], args.child[1], args.frames, args.official_frames)
    elif args.memory_child:
        memory_child(float(args.memory_child[0]), Path(args.memory_child[1]))
    else:
        if args.only in (None, "speed"):
            speed(args)
        if args.only in (None, "memory"):
            memory(args)


if __name__ == "__main__":
    main()
