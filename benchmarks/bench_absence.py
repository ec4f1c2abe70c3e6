"""Encoded absences on the shipped sample model (issue 12, part B).

Section ``test``: the absence test (official what-is-missing ``image_quantitative.py``,
:func:`retinacodec.absence.absence_test`) on every channel of layer 1 and layer 2 of
``rc.load_sample_model()``. The inputs are ``--inputs`` stimulus windows drawn at random
(seeded) from the sample's training block; each unit's top 100 windows get its 4
lowest-activating pieces, or 4 random pieces, pasted in. Pieces in space (the official
procedure): a square region over the whole 40-frame history pasted at a random corner, default
size the layer's receptive field, 9 and 15 pixels, stride 1 (the official 64/16 on 224 pixels
scaled to 20 pixels, then raised to the receptive field). Pieces in time: 11 consecutive frames
over the whole frame (stride 3), scored alone and pasted back at their own lags. Printed per
layer: the share of units with a significant change (p <= 0.05, two-sided, uncorrected: the
official count), with a significant drop, and with a significant drop after Benjamini–Hochberg;
``--seeds`` repeats with other seeds of the random pieces and pasting.

Section ``flash``: :func:`retinacodec.absence.omitted_flash_attribution` on the sample model
(target: the population rate) for several flash periods: the share of the absolute input
attribution on the omitted flash's frames from the flash-present reference and from the zero
baseline (integrated gradients, 50 steps; and gradient × input), with the response frame and
completeness; and the layer-1 / layer-2 channels that carry the reference-based attribution.

Section ``modes``: per-cell CODEC modes of the sample model (``decompose(preset="cells")`` on
``--fit-frames`` training frames, contributions to each cell's generator signal), then the
layer-1 and layer-2 absence attributions of each cell's generator after the omitted flash,
projected on those modes (:func:`retinacodec.absence.mode_projection`): the mode carrying most
of it per cell, its NNLS loading and the R² of the projection.

``--model PATH`` runs the ``flash`` section on another fitted model instead (e.g. one fitted to
the simulator's omitted-stimulus circuit, ``benchmarks/bench_phenomena.py``).

Usage: python benchmarks/bench_absence.py [--only test|flash|modes] [--inputs 2000] [--seeds 0 1 2]
       [--periods 6 8 10 12 15] [--fit-frames 1500] [--threads 1] [--model PATH]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import retinacodec as rc
from retinacodec.absence import (
    absence_attribution,
    absence_test,
    mode_projection,
    omitted_flash_attribution,
    omitted_flash_windows,
    recording_windows,
)
from retinacodec.codec.features import attribution_model


def section_test(model: torch.nn.Module, rec, n_inputs: int, seeds: list[int]) -> None:
    windows, _ = recording_windows(model, rec, n=n_inputs, seed=0)
    print(f"\n## Absence test: sample model, {windows.shape[0]} training windows, top 100, 4 patches")
    print("| layer | pieces | units | patch | stride | seed | significant change (official) | significant drop | "
          "drop, BH | s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    details = []
    for pieces in ("space", "time"):
        for layer in ("layer1", "layer2"):
            for seed in seeds:
                t0 = time.perf_counter()
                res = absence_test(model, windows, layer, pieces=pieces, seed=seed, progress=False)
                a = res.attrs
                print(f"| {layer} | {pieces} | {res.sizes['unit']} | {a['patch_size']} {a['patch_units']} | "
                      f"{a['stride']} | {seed} | {a['share_significant']:.3f} | {a['share_drop']:.3f} | "
                      f"{a['share_drop_bh']:.3f} | {time.perf_counter() - t0:.1f} |")
                if seed == seeds[0]:
                    m = res["activation_mean"]
                    details.append(f"{layer}, {pieces}: " + "; ".join(
                        f"{int(u)}: t {float(res['t'].sel(unit=u)):.1f}, p {float(res['p'].sel(unit=u)):.1e}, "
                        + " / ".join(f"{float(m.sel(unit=u, condition=c)):.2f}" for c in ("lowest", "random",
                                                                                           "highest"))
                        for u in res["unit"].values))
    print("\nPer unit (first seed): t, p, mean activation of the top inputs with lowest / random / highest pieces")
    for line in details:
        print("  " + line)


def section_flash(model: torch.nn.Module, periods: list[int]) -> None:
    print("\n## Omitted flash: share of |input attribution| on the omitted flash's frames (population rate)")
    print("| period | method | response frame (after the omitted flash) | F(actual) - F(reference) | reference | "
          "zero | completeness (ref, zero) |")
    print("|---|---|---|---|---|---|---|")
    for period in periods:
        for method in ("integrated_gradients", "gradient_x_input"):
            ds = omitted_flash_attribution(model, period, method=method)
            mf, ce = ds["mass_fraction"], ds["completeness_relative"]
            print(f"| {period} | {method} | {ds.attrs['response_frame']} | "
                  f"{float(ds['output_difference'].sel(baseline='reference')):.3f} | "
                  f"{float(mf.sel(baseline='reference')):.3f} | {float(mf.sel(baseline='zero')):.2e} | "
                  f"{float(ce.sel(baseline='reference')):.1e}, {float(ce.sel(baseline='zero')):.1e} |")
    print("\nEach cell as the target (integrated gradients): share on the omitted flash, min-max over cells")
    print("| period | reference | zero | F(actual) - F(reference), per cell |")
    print("|---|---|---|---|")
    for period in periods:
        per_cell = [omitted_flash_attribution(model, period, target=c) for c in range(model.config.n_cells)]
        mf = np.array([ds["mass_fraction"].values for ds in per_cell])
        diff = [float(ds["output_difference"].sel(baseline="reference")) for ds in per_cell]
        print(f"| {period} | {mf[:, 0].min():.3f}-{mf[:, 0].max():.3f} | {mf[:, 1].min():.2e}-{mf[:, 1].max():.2e} | "
              f"{', '.join(f'{v:+.2f}' for v in diff)} |")
    print("\nChannels carrying the reference-based attribution (integrated gradients, signed sums over space):")
    for period in periods:
        ds = omitted_flash_attribution(model, period)
        actual, reference, _, _ = omitted_flash_windows(model, period)
        d = ds.attrs["response_frame"]
        hidden = absence_attribution(model, actual[d:d + 1], reference[d:d + 1], "sum", layers=["layer1", "layer2"])
        parts = []
        for layer in ("layer1", "layer2"):
            c = rc.layer_contributions(hidden, layer).isel(sample=0, target=0).sum(("sign", "y", "x")).values
            parts.append(f"{layer} [{', '.join(f'{v:+.2f}' for v in c)}]")
        err = hidden["completeness_relative"].isel(sample=0, target=0).values
        print(f"  period {period}: " + "; ".join(parts) + f"; completeness {', '.join(f'{e:.1e}' for e in err)}")


def _atom_summary(modes, mode: int, n: int = 3) -> str:
    """The mode's ``n`` largest atom entries as layer/sign/channel: weight."""
    atom = modes["modes"].sel(mode=mode)
    top = np.argsort(-np.abs(atom.values))[:n]
    return ", ".join(f"{atom['layer'].values[j]}/{atom['sign'].values[j]}/ch{int(atom['channel'].values[j])}: "
                     f"{float(atom.values[j]):+.2f}" for j in top)


def section_modes(model: torch.nn.Module, rec, truth, fit_frames: int) -> None:
    print(f"\n## Which per-cell modes carry the omitted-flash attribution (decompose preset 'cells', "
          f"{fit_frames} fit frames)")
    t0 = time.perf_counter()
    modes = rc.decompose(model, rec, ["layer1", "layer2"], preset="cells", n_fit_frames=fit_frames, progress=False)
    print(f"decompose: {time.perf_counter() - t0:.0f} s, modes per SAE {modes['n_modes'].values.tolist()}, "
          f"r2 {np.round(modes['r2'].values, 3).tolist()}")
    generator = attribution_model(model, "generator")
    period = 10
    ds = omitted_flash_attribution(model, period)
    actual, reference, _, _ = omitted_flash_windows(model, period)
    d = ds.attrs["response_frame"]
    hidden = absence_attribution(generator, actual[d:d + 1], reference[d:d + 1], "all", layers=["layer1", "layer2"])
    proj = mode_projection(hidden, modes)
    types = truth["cell_type"].values if truth is not None else ["?"] * proj.sizes["target"]
    print(f"projection on at most {proj.attrs['max_modes']} modes per SAE")
    print("| cell | type | F(actual) - F(ref), generator | SAE | top mode | loading | cosine | R² |")
    print("|---|---|---|---|---|---|---|---|")
    tops = []
    for cell in proj["target"].values:
        for sae in proj["sae"].values:
            p = proj.sel(target=cell).isel(sample=0)
            mine = p["mode_layer"] == sae
            load = p["loading"].where(mine, -np.inf)
            top = int(load.argmax("mode"))
            tops.append(top)
            diff = float(hidden["output_difference"].sel(target=cell)[0])
            print(f"| {cell} | {types[int(cell)]} | {diff:+.3f} | {sae} | {top} | "
                  f"{float(p['loading'].isel(mode=top)):.3f} | {float(p['cosine'].isel(mode=top)):+.2f} | "
                  f"{float(p['r2'].sel(sae=sae)):.2f} |")
    for mode in sorted(set(tops)):
        print(f"  mode {mode} ({tops.count(mode)}×): {_atom_summary(modes, mode)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["test", "flash", "modes"])
    parser.add_argument("--inputs", type=int, default=2000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--periods", type=int, nargs="+", default=[6, 8, 10, 12, 15])
    parser.add_argument("--fit-frames", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", help="a model checkpoint for the 'flash' section (default: the sample model)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rec, truth = rc.load_sample()
    model = rc.load_sample_model()
    if args.only in (None, "test"):
        section_test(model, rec, args.inputs, args.seeds)
    if args.only in (None, "flash"):
        section_flash(rc.load_model(args.model) if args.model else model, args.periods)
    if args.only in (None, "modes"):
        section_modes(model, rec, truth, args.fit_frames)


if __name__ == "__main__":
    main()
