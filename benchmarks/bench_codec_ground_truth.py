"""Ground truth for CODEC: do the modes find each ON-OFF cell's ON and OFF pathways, and are they causal?

For the shipped sample (seed 0, ``retinacodec/data/sample_model.pt``) and fresh simulations with other
seeds (the sample's parameters: 1200 s of 20×20 white noise, 5 test repeats; each model
fitted here with preset ``"sample"`` for ``--epochs`` epochs, or read from ``--cache``), the
script prints, per preset of :func:`retinacodec.codec.decompose`:

- the modes kept per layer, R² both ways, and the median completeness error;
- for every ON-OFF cell, the Pearson r over the test frames of the best mode's loading with
  the true ON-pathway drive and of a *different* mode's loading with the true OFF-pathway
  drive (target: both >= 0.8 with our best preset). Per-cell loadings come from
  ``target="cell"``; the paper preset's population loadings (one time course per mode) are
  correlated with each cell's drives directly;
- the ablation test: the share of the cell's ON-event response (top 10 % of the true ON
  drive with the OFF drive below its median) removed by ablating the top 10 % channels
  (ranked by the atom's signed weight, as the official code) of its ON mode, against the
  largest share removed by any other intervention of the layer (modes that ablate the very
  same channels as the ON mode are one intervention, listed) and by its OFF mode;
- the ON mode's selectivity (ON events vs OFF events, areas under the whole ablation and
  preservation curves, units ranked per cell with ``--granularity unit``) for contribution
  modes and for activation modes.

Usage: python benchmarks/bench_codec_ground_truth.py [--seeds 0 1 2] [--cache DIR] [--epochs 40] [--sae-seed 0]
       [--presets paper cells local] [--granularity unit]
(a fresh fit takes ~5-10 min on 2 idle CPU cores; seed 0 uses the shipped model)
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import xarray as xr

import retinacodec as rc
from retinacodec.codec import analyses, decompose
from retinacodec.codec.interventions import ablate_each_mode, intervention_curves


def model_and_data(seed: int, epochs: int, cache: Path | None) -> tuple:
    """The sample and its shipped model for seed 0; a fresh simulation and fit (or its cached fit) otherwise."""
    if seed == 0:
        rec, truth = rc.load_sample()
        return rc.load_sample_model(), rec, truth
    rec, truth = rc.simulate_retina(train_seconds=1200, seed=seed)
    path = cache / f"seed{seed}.pt" if cache is not None else None
    if path is not None and path.exists():
        return rc.load_model(path), rec, truth
    t0 = time.perf_counter()
    model = rc.fit(rec, preset="sample", seed=0, epochs=epochs, checkpoint=path)
    print(f"seed {seed}: fitted in {time.perf_counter() - t0:.0f} s")
    return model, rec, truth


def drives(truth: xr.Dataset, frames: np.ndarray) -> xr.DataArray:
    pathway = xr.DataArray(["on", "off"], dims="pathway")
    return xr.concat([truth["on_drive"], truth["off_drive"]], dim=pathway).sel(frame=frames)


def events(truth: xr.Dataset, cell: int, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ON events (top 10 % ON drive, OFF drive below its median) and OFF events, the other way round."""
    on = truth["on_drive"].sel(cell=cell, frame=frames).values
    off = truth["off_drive"].sel(cell=cell, frame=frames).values
    return (frames[(on >= np.quantile(on, 0.9)) & (off <= np.median(off))],
            frames[(off >= np.quantile(off, 0.9)) & (on <= np.median(on))])


def summary(name: str, ds: xr.Dataset, seconds: float) -> None:
    parts = []
    for i, sae in enumerate(ds["sae"].values):
        text = (f"{sae}: {int(ds['n_modes'][i])} modes, R2 {float(ds['r2'][i]):.3f} / grand "
                f"{float(ds['r2_grand'][i]):.3f}")
        if "completeness_median" in ds:
            text += f", completeness {float(ds['completeness_median'].sel(hooked_layer=sae.split('+')[0])):.1e}"
        parts.append(text)
    print(f"  {name} ({seconds:.0f} s): " + "; ".join(parts))


def pathways(name: str, ds: xr.Dataset, truth: xr.Dataset, layer: str = "layer1") -> xr.Dataset | None:
    """Print per ON-OFF cell the best ON and OFF modes of ``layer``; return the match."""
    modes = ds.sel(mode=ds["mode_layer"] == layer)
    if modes.sizes["mode"] < 2:
        print(f"    {name}: {layer} kept {modes.sizes['mode']} mode(s): no pathway to match")
        return None
    match = analyses.match_pathways(modes["loadings"], drives(truth, ds["frame"].values))
    for cell in truth["cell"].values[truth["cell_type"].values == "ON-OFF"]:
        b = match.sel(cell=cell)
        print(f"    {name} cell {int(cell)}: ON mode {int(b['best_mode'].sel(pathway='on')):>3} "
              f"r {float(b['best_r'].sel(pathway='on')):.3f}   OFF mode {int(b['best_mode'].sel(pathway='off')):>3} "
              f"r {float(b['best_r'].sel(pathway='off')):.3f}")
    return match


def ablation(name: str, model, rec: xr.Dataset, truth: xr.Dataset, ds: xr.Dataset, match: xr.Dataset,  # noqa: ANN001
             granularity: str, layer: str = "layer1") -> None:
    """Per ON-OFF cell: ON-event response removed by the ON mode's top 10 % vs every other mode of the layer."""
    frames = ds["frame"].values
    for cell in truth["cell"].values[truth["cell_type"].values == "ON-OFF"]:
        on_events, off_events = events(truth, int(cell), frames)
        on_mode = int(match["best_mode"].sel(cell=cell, pathway="on"))
        off_mode = int(match["best_mode"].sel(cell=cell, pathway="off"))
        each = ablate_each_mode(model, rec, ds, int(cell), on_events, off_events, layer=layer, granularity=granularity)
        removed = each["removed"].sel(frames="target")
        same = each["intervention"] == each["intervention"].sel(mode=on_mode)
        shared = [int(m) for m in each["mode"].values[same.values] if m != on_mode]
        others = removed.where(~same, drop=True)
        print(f"    {name} cell {int(cell)}: 10 % of the {granularity}s of ON mode {on_mode} remove "
              f"{float(removed.sel(mode=on_mode)):.3f} of the ON-event response (the same intervention as modes "
              f"{shared or 'none'}); the most any other intervention removes: {float(others.max()):.3f}; "
              f"the OFF mode {off_mode}: {float(removed.sel(mode=off_mode)):.3f}")


def selectivities(model, rec: xr.Dataset, truth: xr.Dataset, ds: xr.Dataset, match: xr.Dataset,  # noqa: ANN001
                  granularity: str) -> np.ndarray:
    """Per ON-OFF cell, the ON mode's (ablate, preserve) selectivity, ON events vs OFF events, whole curves."""
    frames = ds["frame"].values
    out = []
    for cell in truth["cell"].values[truth["cell_type"].values == "ON-OFF"]:
        on_events, off_events = events(truth, int(cell), frames)
        mode = int(match["best_mode"].sel(cell=cell, pathway="on"))
        curves = intervention_curves(model, rec, ds, mode, int(cell), target_frames=on_events,
                                     off_target_frames=off_events, granularity=granularity)
        out.append(curves["selectivity"].values)
    return np.round(out, 3)


def report(seed: int, args: argparse.Namespace) -> None:
    model, rec, truth = model_and_data(seed, args.epochs, args.cache)
    print(f"\n=== seed {seed}")
    for preset in args.presets:
        variants = [("", {})]
        if preset == "paper" and args.paper_per_cell:
            variants.append((" per cell", {"target": "cell"}))
        for label, extra in variants:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = decompose(model, rec, preset=preset, seed=args.sae_seed, **extra)
            summary(f"{preset}{label}", ds, time.perf_counter() - t0)
            match = pathways(f"{preset}{label}", ds, truth)
            if match is None or preset == "paper":
                continue
            ablation(f"{preset}{label}", model, rec, truth, ds, match, "channel")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                act = decompose(model, rec, ["layer1"], preset=preset, source="activations", seed=args.sae_seed)
            act_match = pathways(f"{preset} activation modes", act, truth)
            if act_match is None:
                continue
            contribution = selectivities(model, rec, truth, ds, match, args.granularity)
            activation = selectivities(model, rec, truth, act, act_match, args.granularity)
            print(f"    {preset} ON-mode selectivity (ablate, preserve; {args.granularity}s, whole curves) per ON-OFF "
                  f"cell, contribution vs activation modes: {contribution.tolist()} vs {activation.tolist()}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--presets", nargs="+", default=["paper", "cells", "local"])
    p.add_argument("--granularity", choices=("unit", "channel"), default="unit")
    p.add_argument("--no-paper-per-cell", dest="paper_per_cell", action="store_false",
                   help="skip the paper preset with target='cell' (its SAE trains on 9x the samples: slow)")
    p.add_argument("--cache", type=Path, default=None, help="folder of fitted models seed<N>.pt (read or written)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--sae-seed", type=int, default=0, help="seed of the SAEs (decompose's seed=)")
    p.add_argument("--epochs", type=int, default=40)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    for seed in args.seeds:
        report(seed, args)


if __name__ == "__main__":
    main()
