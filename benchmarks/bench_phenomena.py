"""Retinal phenomena on a model fitted to a simulated retina that has them, beside the simulator (issue 12).

The ground truth is ``RetinaCircuit.phenomena(n_cells_per_type=1, size=(12, 12), seed=0)``: the
omitted-stimulus resonance and contrast adaptation switched on. Its recording mixes white noise
with full-field dark flash trains (30 % of the training block), as the OSR is rarely seen in white
noise alone::

    circuit = RetinaCircuit.phenomena(n_cells_per_type=1, size=(12, 12), seed=0)
    rec, truth = simulate_retina(circuit=circuit, size=(12, 12), train_seconds=TRAIN, test_seconds=10,
                                 n_repeats=3, seed=0, flash_train_fraction=0.3)
    model = fit(rec, seed=0, epochs=EPOCHS)

Then every experiment of :mod:`retinacodec.phenomena` runs on the model and on the circuit and
the table prints side by side. Issue 12's number: the OSR latency after the omitted flash changes
by less than one frame per frame of period over at least three periods (|slope| < 1), for the
simulator and for the model (the same measure).

Usage: python benchmarks/bench_phenomena.py [--train-seconds 600] [--epochs 20] [--out DIR] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from retinacodec.model import evaluate, fit, load_model, save_checkpoint
from retinacodec.phenomena import run_all
from retinacodec.sim import RetinaCircuit, simulate_retina


def fit_osr_model(train_seconds: float, epochs: int, out: Path) -> tuple:
    """Simulate the phenomena circuit's recording, fit a model to it (or load it from ``out``)."""
    circuit = RetinaCircuit.phenomena(n_cells_per_type=1, size=(12, 12), seed=0)
    rec, truth = simulate_retina(circuit=circuit, size=(12, 12), train_seconds=train_seconds, test_seconds=10.0,
                                 n_repeats=3, seed=0, flash_train_fraction=0.3)
    path = out / f"osr_model_{int(train_seconds)}s_{epochs}ep.pt"
    if path.exists():
        return circuit, rec, truth, load_model(path)
    t0 = time.perf_counter()
    model = fit(rec, seed=0, epochs=epochs, progress=False)
    print(f"fit: {time.perf_counter() - t0:.0f} s, {train_seconds:g} s of training, {epochs} epochs")
    save_checkpoint(path, model, model.normalization, metadata=model.metadata)
    print(f"model: {path}")
    return circuit, rec, truth, model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-seconds", type=float, default=600.0)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--out", default="bench_phenomena_out")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    circuit, rec, truth, model = fit_osr_model(args.train_seconds, args.epochs, out)
    scores = evaluate(model, rec, truth)
    print(f"median r with the true rate: {scores.attrs['median_r_truth']:.3f}")
    t0 = time.perf_counter()
    results, table = run_all(model, circuit, osr={"intervals": (6, 8, 10, 12, 14)})
    print(f"experiments: {time.perf_counter() - t0:.0f} s")
    with pd.option_context("display.width", 200, "display.max_columns", 5, "display.max_colwidth", 70,
                           "display.float_format", "{:.3g}".format):
        print(table)
    o = results["osr"]
    print("\nOSR latency after the omitted flash (ms), per period (frames) and cell:")
    print(o["latency_ms"].to_dataframe().unstack(["source", "cell"]).round(1))
    for src in ("model", "simulator"):
        s = o.sel(source=src)
        ok = s["has_osr"].values.astype(bool)
        slope = s["slope"].values[ok]
        print(f"{src}: cells with an OSR {ok.sum()}/{ok.size}; slope per cell {np.round(slope, 2)}; "
              f"|slope| < 1: {bool(np.all(np.abs(slope) < 1)) if ok.any() else 'no OSR'}")
    table.to_csv(out / "table.csv")


if __name__ == "__main__":
    main()
