"""Contributions of hidden units of the full-size retina model: retinacodec vs captum, side by side.

Prints, in one run, on the full-size BNCNN (preset "default": 50×50 px, 40 frames, 8 channels,
16 cells; random weights, BatchNorm running statistics set on white noise; CPU):
  1. equality: our left rule vs captum ``LayerConductance`` (riemann_trapezoid = linspace(0, 1, S+1)),
     and activation × gradient vs ``LayerGradientXActivation``, float64, every unit and cell;
  2. completeness |Σ contributions − (F(x) − F(x₀))| / |F(x) − F(x₀)| at 20 steps: ours (trapezoid
     with and without the ReLU kink correction, left, right) vs captum's conductance and captum's
     ``IntegratedGradients`` (Gauss–Legendre, 10 steps, on the input), float64;
  2b. per unit: every layer1 unit's error at 10-100 steps against a 600-step reference,
     kink-corrected vs plain trapezoid, float64;
  3. speed and peak memory of all units of a layer to all 16 cells, 20 steps, 64 frames, float32:
     ours (one call) vs captum ``LayerConductance`` looped over cells. Captum is timed on a few
     cells and extrapolated linearly to 16 (it costs the same for every cell). Each measurement
     runs in its own subprocess; peak memory is the growth of the peak resident set (VmHWM, reset
     before the measurement through /proc/self/clear_refs; Linux).
Targets (issue #4): completeness <= 1e-4 at 20 steps (trapezoid); speed >= 10x captum.

Usage: python benchmarks/bench_contributions.py [--frames 64] [--captum-cells 2] [--only SECTION]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
import torch

from retinacodec.attribution import contributions
from retinacodec.model.bncnn import BNCNN, preset_config

N_CELLS, SIZE, HISTORY, STEPS = 16, 50, 40, 20


def full_model(dtype: torch.dtype = torch.float32) -> BNCNN:
    """The full-size model, random weights, BatchNorm statistics from white-noise batches, eval mode."""
    torch.manual_seed(0)
    model = BNCNN(preset_config("default", N_CELLS, (SIZE, SIZE)))
    with torch.no_grad():
        model.train()
        for _ in range(3):
            model(torch.randn(64, HISTORY, SIZE, SIZE))
    return model.to(dtype).eval()


def frames(n: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(n, HISTORY, SIZE, SIZE, generator=torch.Generator().manual_seed(1)).to(dtype)


def captum_conductance(model: BNCNN, layer: str, x: torch.Tensor, cell: int) -> np.ndarray:
    from captum.attr import LayerConductance

    lc = LayerConductance(model, getattr(model, layer))
    out = lc.attribute(x, baselines=torch.zeros_like(x), target=cell, n_steps=STEPS, method="riemann_trapezoid")
    return out.detach().numpy()


def rel_error(ours: np.ndarray, ref: np.ndarray) -> float:
    """Largest |ours − ref| relative to the largest |ref| of that cell."""
    return float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))


def equality() -> None:
    from captum.attr import LayerGradientXActivation

    model, x = full_model(torch.float64), frames(2, torch.float64)
    ours = contributions(model, x, ["layer1", "layer2"], rule="left")
    axg = contributions(model, x, ["layer1", "layer2"], method="activation_x_gradient")
    print("1. equality with captum, float64, 2 frames, every unit of every cell (max |diff| / max |captum|)")
    for layer in ("layer1", "layer2"):
        lc = max(rel_error(ours[layer].values[:, c], captum_conductance(model, layer, x, c)) for c in range(N_CELLS))
        lga = LayerGradientXActivation(model, getattr(model, layer))
        ga = max(rel_error(axg[layer].values[:, c], lga.attribute(x, target=c).detach().numpy())
                 for c in range(N_CELLS))
        print(f"   {layer}: left rule vs LayerConductance {lc:.1e}; act x grad vs LayerGradientXActivation {ga:.1e}")


def completeness(n: int = 4) -> None:
    from captum.attr import IntegratedGradients

    model, x = full_model(torch.float64), frames(n, torch.float64)
    print(f"\n2. completeness error at {STEPS} steps, float64, {n} frames x {N_CELLS} cells "
          "(relative to |F(x) - F(x0)|: median / max)")
    rows = {}
    for rule, kwargs in (("trapezoid", {}), ("trapezoid, no kink corr.", {"kink_correction": False}),
                         ("left", {}), ("right", {})):
        ds = contributions(model, x, ["layer1", "layer2"], rule=rule.split(",")[0], **kwargs)
        for layer in ("layer1", "layer2"):
            rows[f"ours {rule} {layer}"] = ds["completeness_relative"].sel(layer=layer).values
    diff = ds["output_difference"].values
    for layer in ("layer1", "layer2"):
        err = np.stack([captum_conductance(model, layer, x, c).reshape(n, -1).sum(1) for c in range(N_CELLS)], 1)
        rows[f"captum LayerConductance {layer}"] = np.abs(err - diff) / np.abs(diff)
    ig = IntegratedGradients(model)
    err = np.stack([ig.attribute(x, baselines=torch.zeros_like(x), target=c, n_steps=10).detach().numpy()
                    .reshape(n, -1).sum(1) for c in range(N_CELLS)], 1)
    rows["captum IntegratedGradients (GL, 10 steps) input"] = np.abs(err - diff) / np.abs(diff)
    for name, r in rows.items():
        print(f"   {name:<48} {np.median(r):9.1e} {np.max(r):9.1e}")


def per_unit(ref_steps: int = 600) -> None:
    """Every unit's contribution, not just their sum: error against a fine-grid reference."""
    model, x = full_model(torch.float64), frames(1, torch.float64)
    ref = contributions(model, x, "layer1", steps=ref_steps)["layer1"].values
    plain_ref = contributions(model, x, "layer1", steps=ref_steps, kink_correction=False)["layer1"].values
    print(f"\n2b. layer1, every unit of every cell, float64, 1 frame: max |c - ref| / max |ref| per cell, worst cell; "
          f"ref = kink-corrected trapezoid at {ref_steps} steps (plain trapezoid at {ref_steps} steps differs from it "
          f"by {rel_error(plain_ref, ref):.1e})")
    print(f"   {'steps':>5} {'kink-corrected':>15} {'plain trapezoid':>16}")
    for steps in (10, 20, 40, 100):
        err = [max(rel_error(contributions(model, x, "layer1", steps=steps, kink_correction=kc)["layer1"].values[:, c],
                             ref[:, c]) for c in range(N_CELLS)) for kc in (True, False)]
        print(f"   {steps:>5} {err[0]:15.1e} {err[1]:16.1e}")


def child(kind: str, layers: list[str], n_frames: int, cells: int, budget: float) -> None:
    """One timed measurement; prints JSON with seconds and peak memory growth (MB)."""
    model, x = full_model(), frames(n_frames)
    start_rss = reset_peak_rss()
    t0 = time.perf_counter()
    if kind == "ours":
        ds = contributions(model, x, layers, max_memory_gb=budget)
        extra = {"vectorize": ds.attrs["vectorize"]}
    else:
        for cell in range(cells):
            for layer in layers:
                captum_conductance(model, layer, x, cell)
        extra = {}
    seconds = time.perf_counter() - t0
    peak = _status_kb("VmHWM") - start_rss
    print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024, **extra}))


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def reset_peak_rss() -> int:
    """Reset the peak resident set (Linux: /proc/self/clear_refs) and return the current one, kB."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_kb("VmRSS")


def measure(kind: str, layers: list[str], n_frames: int, cells: int = N_CELLS, budget: float = 2.0) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--layers", *layers, "--frames", str(n_frames),
           "--captum-cells", str(cells), "--budget", str(budget)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def speed(n_frames: int, captum_cells: int) -> None:
    print(f"\n3. speed, all units -> all {N_CELLS} cells, {STEPS} steps, {n_frames} frames, float32, CPU "
          f"({torch.get_num_threads()} threads); captum timed on {captum_cells} cells x {N_CELLS // captum_cells}")
    print(f"   {'layers':<15} {'ours s':>8} {'ours MB':>8} {'captum s':>9} {'captum MB':>9} {'speed-up':>9}")
    for layers in (["layer1"], ["layer2"], ["layer1", "layer2"]):
        ours = measure("ours", layers, n_frames)
        cap = measure("captum", layers, n_frames, captum_cells)
        cap_s = cap["seconds"] * N_CELLS / captum_cells
        print(f"   {'+'.join(layers):<15} {ours['seconds']:8.1f} {ours['peak_mb']:8.0f} {cap_s:9.1f} "
              f"{cap['peak_mb']:9.0f} {cap_s / ours['seconds']:8.1f}x   ({ours['vectorize']})")
    print("   memory budget (layer1+layer2; on the CPU a pass is capped at 0.25 GiB, which runs fastest):")
    for budget in (0.05, 0.1, 0.25, 1.0):
        ours = measure("ours", ["layer1", "layer2"], n_frames, budget=budget)
        print(f"     max_memory_gb={budget:<5} {ours['seconds']:6.1f} s  peak +{ours['peak_mb']:.0f} MB")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--captum-cells", type=int, default=2, help="cells to time captum on (extrapolated to 16)")
    p.add_argument("--only", choices=("equality", "completeness", "speed"), help="run one section")
    p.add_argument("--child", choices=("ours", "captum"), help=argparse.SUPPRESS)
    p.add_argument("--layers", nargs="+", default=["layer1"], help=argparse.SUPPRESS)
    p.add_argument("--budget", type=float, default=2.0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child, args.layers, args.frames, args.captum_cells, args.budget)
        return
    if args.only in (None, "equality"):
        equality()
    if args.only in (None, "completeness"):
        completeness()
        per_unit()
    if args.only in (None, "speed"):
        speed(args.frames, args.captum_cells)


if __name__ == "__main__":
    main()
