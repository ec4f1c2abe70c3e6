"""Peak memory of fitting a 1-hour 50×50 white-noise recording read from NWB: 8-bit codes vs float32 frames.

Issue 23 asks that a 1-hour 50×50 recording trains within 4 GB of RSS. At 100 Hz its movie is
360,000 frames: 3.6 GB as float32 (and the fit used to hold a normalised float32 copy beside
it), 0.9 GB as the uint8 codes NWB stores. The recording is built once from the cached 30-min
simulation of ``bench_fit_large.py`` (``sim_cache.py``): its training block twice, then its gap
and test repeats (the fit's memory depends on the size of the movie, not on what it shows),
written with ``write_nwb`` (binary noise is stored as uint8 codes) and cached.

Each row is a fresh process that reads the file and fits with a time budget long enough for
the budget-cut first epoch's training and its validation, then prints its peak RSS
(``VmHWM``) and times:

  retinacodec fit (CLI)         ``retinacodec fit rec.nwb --out m.pt --max-minutes M``: ``read_nwb``'s
                                default keeps a movie over 1 GiB of float32 as its codes
  fit(read_nwb(compact=False))  the same fit with the movie decoded to float32 on reading

Usage: python benchmarks/bench_fit_memory.py [--minutes 2] [--threads 2] [--cache benchmarks/.cache]
Run it with nothing else on the machine (the float32 row needs ~8 GB).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sim_cache import cached_sim50

HERE = Path(__file__).resolve().parent


def _one_hour_nwb(cache: Path) -> Path:
    """The 1-hour 50×50 recording as NWB, built and cached on first use."""
    import retinacodec as rc
    from retinacodec.recording import block_frames

    path = cache / "sim50_white_noise_3600s_seed0_twice1800.nwb"
    if path.exists():
        return path
    start = time.perf_counter()
    rec, _ = cached_sim50("white_noise", 1800.0, 0, cache)
    train = block_frames(rec, "train")
    if not np.array_equal(train, np.arange(train.size)):
        raise SystemExit("the cached recording's training block is not its first frames; rebuild the cache.")
    idx = np.concatenate([train, train, np.arange(train.size, rec.sizes["frame"])])
    fps = float(rec.attrs["frame_rate_hz"])
    big = rc.make_recording(
        rec["stimulus"].values[idx], rec["spikes"].values[idx], np.arange(idx.size) / fps,
        cell_ids=rec["cell"].values, block=rec["block"].values[idx], repeat=rec["repeat"].values[idx],
        frame_rate_hz=fps, pixel_size_um=float(rec.attrs["pixel_size_um"]),
        session_id="sim50-white-noise-1h-bench", stimulus_name="white_noise")
    rc.write_nwb(big, path)
    print(f"built {path} ({big.sizes['frame']} frames, {path.stat().st_size / 1e9:.2f} GB) in "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    return path


def _peak_rss_gb() -> float:
    """This process's peak resident set size (``VmHWM``), GB.

    Not ``ru_maxrss``: Linux keeps, across ``execve``, the peak of the process image it replaced,
    so a child started from a parent that once held the 1-hour movie would report the parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1e6  # kB -> GB
    raise SystemExit("no VmHWM in /proc/self/status: this benchmark needs Linux.")


def child(kind: str, path: str, minutes: float, threads: int) -> None:
    """One measured fit, in its own process; prints a JSON line with its peak RSS and times."""
    import torch

    torch.set_num_threads(threads)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "cli":
            from retinacodec.cli import main

            status = main(["fit", path, "--out", str(Path(tmp) / "m.pt"), "--max-minutes", str(minutes)])
            if status:
                raise SystemExit(status)
            epochs = None
        else:
            import retinacodec as rc

            rec = rc.read_nwb(path, compact=False)
            epochs = len(rc.fit(rec, max_minutes=minutes, progress="log").metadata["fit_log"])
    peak = _peak_rss_gb()
    print(json.dumps({"kind": kind, "peak_rss_gb": peak, "seconds": time.perf_counter() - start, "epochs": epochs}))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=2.0, help="each fit's time budget (minutes)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache", type=Path, default=HERE / ".cache")
    p.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(*args.child, minutes=args.minutes, threads=args.threads)
        return 0
    path = _one_hour_nwb(args.cache)
    rows = []
    for kind, label in (("cli", "retinacodec fit (CLI), codes"), ("float", "fit(read_nwb(compact=False))")):
        run = subprocess.run([sys.executable, __file__, "--child", kind, str(path), "--minutes", str(args.minutes),
                              "--threads", str(args.threads)], capture_output=True, text=True)
        if run.returncode:
            print(run.stderr[-3000:], file=sys.stderr)
            return run.returncode
        rows.append((label, json.loads(run.stdout.strip().splitlines()[-1])))
        print(f"   {label}: done", flush=True)
    print(f"\n1-hour 50x50 recording ({path.name}), fit budget {args.minutes:g} min, {args.threads} threads")
    print(f"{'reading and fitting':<32} {'peak RSS GB':>12} {'wall s':>8}")
    for label, r in rows:
        print(f"{label:<32} {r['peak_rss_gb']:>12.2f} {r['seconds']:>8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
