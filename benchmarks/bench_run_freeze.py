"""A full-field run/freeze recording, written as a lab would, through the command line with no options.

Issue 11's first number. The recording is simulated (:func:`retinacodec.sim.simulate.simulate_run_freeze`:
8 cells, ~75 Hz, 40 trials of 1800 running + 600 frozen frames of binary full-field flicker, 5 dropped
frames) and written with pynwb in a lab's layout (``tests/lab_nwb.py``: Units with ``cell_type``, an
ImageSeries (frames, 1, 1) with measured timestamps, a trials table with ``stimulus_type`` and
``trial`` columns). Then, as separate processes, exactly as a user types them:

    retinacodec info REC.nwb
    retinacodec fit REC.nwb --out m.pt
    retinacodec evaluate m.pt REC.nwb --json

Printed side by side with what the command line did before issue 11, reproduced with
``--no-intervals`` (every frame labelled train, the frozen repeats trained on, and evaluate scoring
held-out single trials): median r with the trial average (or single trials), median FEVE, median r
with the simulator's true rate, and wall times. Goal: the frozen segment found as 40 test repeats,
median r >= 0.8 with the trial average.

Usage: python benchmarks/bench_run_freeze.py [--trials 40] [--out DIR] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from lab_nwb import write_lab_nwb  # noqa: E402

from retinacodec.io import read_nwb  # noqa: E402
from retinacodec.model.checkpoint import load_model  # noqa: E402
from retinacodec.model.evaluation import predict  # noqa: E402
from retinacodec.model.metrics import pearson_per_cell  # noqa: E402
from retinacodec.recording import repeated_responses  # noqa: E402
from retinacodec.sim.simulate import simulate_run_freeze  # noqa: E402

CLI = [sys.executable, "-m", "retinacodec.cli"]


def run(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run one retinacodec command; its result and wall time (s)."""
    start = time.perf_counter()
    res = subprocess.run([*CLI, *args], capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"retinacodec {' '.join(args)} failed:\n{res.stderr}")
    return res, time.perf_counter() - start


def r_truth(model_path: Path, nwb: Path, truth_rate: np.ndarray, scores: dict, flags: list[str]) -> float:
    """Median r of the model's prediction with the true rate on the frames evaluate scored."""
    model = load_model(model_path)
    rec = read_nwb(nwb, intervals=False if "--no-intervals" in flags else None)
    h = model.config.history
    if "test" in scores["block"]:
        frames = repeated_responses(rec)["frame"].values[h - 1 :]
    else:
        frames = np.asarray(model.metadata["heldout_frames"])
    pred = predict(model, rec, frames).values
    return float(np.nanmedian(pearson_per_cell(pred, truth_rate[frames])))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=40, help="trials of running + frozen noise")
    p.add_argument("--out", help="folder for the files (default: a temporary one)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of this process")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out or tempfile.mkdtemp(prefix="run_freeze_"))
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rec, truth = simulate_run_freeze(n_trials=args.trials)
    nwb = write_lab_nwb(rec, out / "run_freeze.nwb")
    print(f"simulated and wrote {nwb} in {time.perf_counter() - start:.1f} s: {rec.sizes['cell']} cells, "
          f"{rec.sizes['frame']} frames at {rec.attrs['frame_rate_hz']:g} Hz, {args.trials} trials")
    info, t_info = run("info", str(nwb))
    print(f"\n$ retinacodec info {nwb.name}   ({t_info:.1f} s)\n{info.stdout}")
    rows = []
    for name, flags in (("no options (issue 11)", []), ("before: every frame train (--no-intervals)",
                                                          ["--no-intervals"])):
        model = out / f"m{len(rows)}.pt"
        model.unlink(missing_ok=True)
        fitted, t_fit = run("fit", str(nwb), "--out", str(model), *flags)
        epochs = len(re.findall(r"^fit: epoch", fitted.stderr, re.M))
        scored, t_eval = run("evaluate", str(model), str(nwb), "--json", *flags)
        scores = json.loads(scored.stdout)
        rows.append((name, scores["block"], scores["median_r"], scores["median_feve"],
                     r_truth(model, nwb, truth["rate"].values, scores, flags), epochs, t_fit, t_eval))
        if not flags:
            print(fitted.stdout.splitlines()[0])
            print("per cell r: " + " ".join(f"{v:.3f}" for v in scores["r"]))
            print("per cell FEVE: " + " ".join("-" if v is None else f"{v:.3f}" for v in scores["feve"]))
    print(f"\n{'command line':<44} {'evaluated on':<42} {'median r':>9} {'FEVE':>6} {'r(true)':>8} "
          f"{'epochs':>6} {'fit s':>6} {'eval s':>6}")
    for name, block, r, fv, rt, ep, tf, te in rows:
        fv_text = "-" if fv is None else f"{fv:.3f}"
        print(f"{name:<44} {block:<42} {r:>9.3f} {fv_text:>6} {rt:>8.3f} {ep:>6d} {tf:>6.1f} {te:>6.1f}")
    print("\nr: with the trial average of the test repeats (or with held-out single trials); r(true): with the "
          "simulator's noise-free rate on the same frames. Times include starting Python (each command is a process).")


if __name__ == "__main__":
    main()
