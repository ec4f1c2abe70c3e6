"""Fit a full-size (50×50) simulated recording within a time budget and score it against the true rate.

Ours only: the peer comparison on the same data is ``bench_fit_vs_openretina.py`` (``--datasets sim50
--sim-train-seconds 1800``), which needs openretina's environment. This script answers issue 23's
first question on this machine alone — how good a fit ``fit``'s defaults reach in a wall-clock
budget on a long 50×50 recording — and prints, per architecture preset, r with the true rate,
epochs, wall time, peak RSS and where each epoch's time went.

The recording is ``simulate_retina(size=(50, 50), train_seconds=T, test_seconds=10, n_repeats=5,
seed=S, stimulus=...)``, cached in ``--cache`` (NetCDF; a 30-min recording is 1.8 GB) so that
repeated runs time only the fit. Run it with nothing else on the machine.

Usage: python benchmarks/bench_fit_large.py [--stimulus white_noise|natural] [--train-seconds 1800]
       [--minutes 20] [--presets auto default] [--threads 2] [--cache DIR]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import warnings
from pathlib import Path

from sim_cache import cached_sim50


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stimulus", default="white_noise", choices=("white_noise", "natural"))
    p.add_argument("--train-seconds", type=float, default=1800.0, help="training stimulus (s); 1800 = 30 min")
    p.add_argument("--minutes", type=float, default=20.0, help="fit budget of each preset (minutes)")
    p.add_argument("--presets", nargs="+", default=["auto"],
                   help="architecture presets to fit: auto (fit's default; separable layer 1 at 50x50), default "
                        "(the published layer 1), separable, stacked")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", type=Path, default=Path("benchmarks/.cache"))
    args = p.parse_args()

    import torch

    import retinacodec as rc

    torch.set_num_threads(args.threads)
    rec, truth = cached_sim50(args.stimulus, args.train_seconds, args.seed, args.cache)
    print(f"{rec.sizes['frame']} frames of 50x50 px ({args.stimulus}), {rec.sizes['cell']} cells; "
          f"budget {args.minutes:g} min per preset, {args.threads} threads", flush=True)
    rows = []
    for preset in args.presets:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = rc.fit(rec, preset=preset, seed=args.seed, max_minutes=args.minutes, progress="log")
            scores = rc.evaluate(model, rec, truth)
        wall = time.perf_counter() - start
        log = model.metadata["fit_log"]
        spent = {k: sum(e["timings"][k] for e in log) for k in ("data", "forward", "backward", "validation")}
        rows.append((preset, float(scores.attrs["median_r_truth"]), float(scores.attrs["median_r"]), len(log),
                     wall, spent))
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux
    print(f"\n{'preset':<10} {'r_truth':>8} {'r_avg':>7} {'epochs':>6} {'wall s':>7}  time spent (s)")
    for preset, r_truth, r_avg, epochs, wall, spent in rows:
        parts = ", ".join(f"{k} {v:.0f}" for k, v in spent.items())
        print(f"{preset:<10} {r_truth:>8.3f} {r_avg:>7.3f} {epochs:>6d} {wall:>7.0f}  {parts}")
    print(f"peak RSS of the whole run {rss_gb:.1f} GB (the recording is held in memory)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
