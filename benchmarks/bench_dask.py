"""Layer contributions and rank-1 IRFs of a 1-hour recording on a Dask cluster: memory, wall time, scaling.

Simulates a recording (``simulate_retina``, 20×20 px, 9 cells, ``--seconds`` of training block at
100 Hz; 1 hour = 360,000 frames), saves it as NetCDF, and with the shipped sample model computes on
a ``LocalCluster`` of single-threaded worker processes, streamed into Zarr stores:
  * layer contributions of layers 1 and 2 (integrated gradients, 20 steps, summed over space:
    ``reduce="space"``) of ``--analysed-seconds`` of its frames (the last ones), and
  * rank-1 instantaneous receptive fields of every cell at the same frames,
first with 1 worker, then with 2. Workers read only their tasks' frames from the file, so their
memory does not grow with the recording's length. It prints per run the wall time, the per-task
cost, the peak resident memory of a worker process (VmHWM: torch and the model included),
the store's size, and from the measured per-frame costs the time and memory of decomposing 100
one-hour recordings on a 32-worker cluster (one core per worker, the same per-frame cost).

Usage: python benchmarks/bench_dask.py [--seconds 3600] [--analysed-seconds 60] [--workers 1 2]
       [--frames-per-task 1024]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

from retinacodec.sample import sample_model_path
from retinacodec.scale.cluster import cluster_client, contributions_on_cluster, irf_on_cluster
from retinacodec.sim.simulate import simulate_retina

RECORDINGS, CLUSTER_WORKERS, HOUR_FRAMES = 100, 32, 360_000
SAMPLE_MODEL = sample_model_path()


def _size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3600.0, help="length of the simulated training block (s)")
    ap.add_argument("--analysed-seconds", type=float, default=60.0, help="frames analysed, from the end (s)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="cluster sizes to time")
    ap.add_argument("--frames-per-task", type=int, default=1024)
    ap.add_argument("--keep", help="folder to keep the recording and stores in (default: a temporary one)")
    args = ap.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="bench_dask-"))
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rec, _ = simulate_retina(train_seconds=args.seconds, test_seconds=1.0, n_repeats=1, seed=0)
    rec_path = root / "recording.nc"
    rec.to_netcdf(rec_path)
    n_frames = rec.sizes["frame"]
    rate = float(rec.attrs["frame_rate_hz"])
    del rec
    print(f"simulated {n_frames} frames ({n_frames / rate / 3600:.2f} h at {rate:g} Hz, 20x20 px, 9 cells) "
          f"in {time.perf_counter() - t0:.0f} s; recording file {rec_path.stat().st_size / 1e6:.0f} MB")
    n_analysed = int(args.analysed_seconds * rate)
    frames = np.arange(n_frames - n_analysed, n_frames)
    print(f"analysed: {frames.size} frames ({frames[0]} .. {frames[-1]}), {args.frames_per_task} frames per task, "
          "sample model (9 cells, layers of 8 channels)")
    jobs = {
        "contributions": lambda out, cl: contributions_on_cluster(
            SAMPLE_MODEL, rec_path, ["layer1", "layer2"], out, frames=frames, reduce="space",
            frames_per_task=args.frames_per_task, client=cl, overwrite=True),
        "rank-1 IRFs": lambda out, cl: irf_on_cluster(
            SAMPLE_MODEL, rec_path, out, frames=frames, rank1=True, frames_per_task=args.frames_per_task,
            client=cl, overwrite=True),
    }
    per_frame: dict[str, float] = {}
    rss: dict[str, float] = {}
    header = f"{'analysis':<15}{'workers':>8}{'wall s':>9}{'frames/s':>10}{'task s':>9}{'tasks':>7}" \
             f"{'peak RSS/worker MB':>20}{'store MB':>10}{'MB per hour':>12}"
    print(header)
    wall = {}
    for n in args.workers:
        with cluster_client(None, n_workers=n) as cl:
            for name, job in jobs.items():
                out = root / f"{name.split()[-1].lower()}_{n}.zarr"
                t = time.perf_counter()
                job(out, cl)
                wall[name, n] = time.perf_counter() - t
                attrs = xr.open_zarr(out).attrs
                task_s = attrs["cluster_task_seconds_median"]
                per_task = attrs["cluster_frames_per_task"]
                if n == min(args.workers):
                    per_frame[name] = task_s / per_task
                rss[name] = max(rss.get(name, 0.0), attrs["cluster_peak_rss_mb"])
                size = _size_mb(out)
                print(f"{name:<15}{n:>8}{wall[name, n]:>9.1f}{frames.size / wall[name, n]:>10.1f}{task_s:>9.1f}"
                      f"{attrs['cluster_tasks']:>7}{attrs['cluster_peak_rss_mb']:>20.0f}{size:>10.1f}"
                      f"{size * HOUR_FRAMES / frames.size:>12.0f}", flush=True)
    if len(args.workers) > 1:
        lo, hi = min(args.workers), max(args.workers)
        for name in jobs:
            print(f"{name}: wall time {hi} workers / {lo} worker = {wall[name, hi] / wall[name, lo]:.2f} "
                  f"(ideal {lo / hi:.2f})")
    seconds = sum(per_frame.values()) * HOUR_FRAMES * RECORDINGS / CLUSTER_WORKERS
    print(f"on paper: {RECORDINGS} one-hour recordings ({RECORDINGS * HOUR_FRAMES:,} frames), both analyses, "
          f"{CLUSTER_WORKERS} single-core workers at the measured {1e3 * sum(per_frame.values()):.1f} ms/frame "
          f"-> {seconds / 3600:.1f} h; memory per worker ~ the measured peak, {max(rss.values()):.0f} MB "
          "(it does not grow with the recording: each task reads its own frames)")
    if not args.keep:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
