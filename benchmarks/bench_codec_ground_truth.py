"""Ground truth for CODEC: do the modes find each ON-OFF cell's ON and OFF pathways, robustly, and are they causal?

Datasets (``--datasets``): ``sample`` (the shipped recording and ``retinacodec/data/sample_model.pt``), ``seed1``,
``seed2`` (fresh simulations with the sample's parameters: 1200 s of 20×20 white noise, 5 test repeats),
``fullfield`` (:func:`retinacodec.sim.simulate.simulate_run_freeze`, a 1×1 run/freeze recording) and
``sim50`` (a 50×50 white-noise simulation, 600 s). Models other than the sample's are fitted here as the
shipped sample model was (``fit``'s default architecture with the weight average ``ema_decay=0.99``, seed 0,
at most ``--fit-epochs`` epochs and ``--fit-minutes`` minutes) or read from ``--cache``.

Per dataset and preset of :func:`retinacodec.codec.decompose` the script prints:

- the time of the whole ``decompose`` call, modes kept per layer, R² (about the grand mean, on
  held-out samples where the SAE holds some out), the median completeness error, and the share of
  (frame, cell) samples with 0, 1, 2 ... active layer-1 modes;
- with the simulator's drives (20×20 datasets): for every ON-OFF cell, the Pearson r over the test
  frames of the best layer-1 mode's loading with the true ON drive and of a *different* mode's with
  the true OFF drive (the paper preset's population loadings are correlated with each cell's
  drives directly), and the same for each SAE seed of ``--sae-seeds`` (contributions computed once,
  :func:`retinacodec.codec.decompose.seed_sweep`) with the share of modes each seed reproduces
  (:func:`retinacodec.codec.stability.mode_stability`, cosine ≥ 0.9);
- the ablation test: the share of the cell's ON-event response removed by ablating the top 10 %
  channels of its ON mode (ranked by the atom's signed weight, as the official code), against the
  largest share removed by any other intervention of the layer;
- full field: the layer-1 mode each cell loads on most, by cell type.

Usage: python benchmarks/bench_codec_ground_truth.py [--datasets sample seed1 seed2 fullfield sim50]
       [--presets codec paper_open] [--sae-seeds 0 1 2 3 4] [--cache DIR] [--threads 2]
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
from retinacodec.codec import analyses
from retinacodec.codec.decompose import seed_sweep
from retinacodec.codec.interventions import ablate_each_mode
from retinacodec.codec.stability import mode_stability
from retinacodec.sim.simulate import simulate_run_freeze

SIMULATIONS = {
    "seed1": lambda: rc.simulate_retina(train_seconds=1200, seed=1),
    "seed2": lambda: rc.simulate_retina(train_seconds=1200, seed=2),
    "fullfield": lambda: simulate_run_freeze(seed=0),
    "sim50": lambda: rc.simulate_retina(size=(50, 50), train_seconds=600, seed=3),
}


def model_and_data(name: str, epochs: int, minutes: float | None, cache: Path | None) -> tuple:
    """The sample and its shipped model; a simulation and its fit (or cached fit) otherwise."""
    if name == "sample":
        rec, truth = rc.load_sample()
        return rc.load_sample_model(), rec, truth
    rec, truth = SIMULATIONS[name]()
    path = cache / f"{name}.pt" if cache is not None else None
    if path is not None and path.exists():
        return rc.load_model(path), rec, truth
    t0 = time.perf_counter()
    model = rc.fit(rec, seed=0, epochs=epochs, max_minutes=minutes, ema_decay=0.99, checkpoint=path, progress=False)
    score = rc.evaluate(model, rec, truth).attrs.get("median_r_truth", float("nan"))
    print(f"{name}: fitted in {time.perf_counter() - t0:.0f} s ({len(model.metadata['fit_log'])} epochs), "
          f"median r with the true rate {score:.3f}")
    return model, rec, truth


def drives(truth: xr.Dataset, frames: np.ndarray) -> xr.DataArray:
    pathway = xr.DataArray(["on", "off"], dims="pathway")
    return xr.concat([truth["on_drive"], truth["off_drive"]], dim=pathway).sel(frame=frames)


def on_off_cells(truth: xr.Dataset) -> np.ndarray:
    return truth["cell"].values[truth["cell_type"].values == "ON-OFF"]


def events(truth: xr.Dataset, cell: int, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ON events (top 10 % ON drive, OFF drive below its median) and OFF events, the other way round."""
    on = truth["on_drive"].sel(cell=cell, frame=frames).values
    off = truth["off_drive"].sel(cell=cell, frame=frames).values
    return (frames[(on >= np.quantile(on, 0.9)) & (off <= np.median(off))],
            frames[(off >= np.quantile(off, 0.9)) & (on <= np.median(on))])


def layer1(ds: xr.Dataset) -> xr.Dataset:
    return ds.sel(mode=ds["mode_layer"] == "layer1")


def summary(name: str, ds: xr.Dataset, seconds: float) -> None:
    parts = []
    for i, sae in enumerate(ds["sae"].values):
        text = f"{sae}: {int(ds['n_modes'][i])} modes, R2 {float(ds['r2_grand'][i]):.3f}"
        if "completeness_median" in ds:
            text += f", completeness {float(ds['completeness_median'].sel(hooked_layer=sae.split('+')[0])):.1e}"
        parts.append(text)
    active = (layer1(ds)["loadings"] > 0).sum("mode").values.ravel()
    shares = np.bincount(active, minlength=6)[:6] / active.size
    print(f"  {name} ({seconds:.0f} s, R2 on {ds.attrs['metrics_on']}): " + "; ".join(parts))
    print(f"    layer-1 modes active per sample, share of samples with 0/1/2/3/4/5: "
          f"{' / '.join(f'{s:.2f}' for s in shares)}")


def pathways(ds: xr.Dataset, truth: xr.Dataset) -> xr.Dataset | None:
    modes = layer1(ds)
    if modes.sizes["mode"] < 2:
        return None
    return analyses.match_pathways(modes["loadings"], drives(truth, ds["frame"].values)).sel(cell=on_off_cells(truth))


def print_pathways(name: str, match: xr.Dataset | None) -> None:
    if match is None:
        print(f"    {name}: layer 1 kept fewer than 2 modes: no pathway to match")
        return
    for cell in match["cell"].values:
        b = match.sel(cell=cell)
        print(f"    {name} cell {int(cell)}: ON mode {int(b['best_mode'].sel(pathway='on')):>3} "
              f"r {float(b['best_r'].sel(pathway='on')):.3f}   OFF mode {int(b['best_mode'].sel(pathway='off')):>3} "
              f"r {float(b['best_r'].sel(pathway='off')):.3f}")
    print(f"    {name}: worst r over ON-OFF cells and pathways {float(match['best_r'].min()):.3f}")


def ablation(name: str, model, rec: xr.Dataset, truth: xr.Dataset, ds: xr.Dataset, match: xr.Dataset) -> None:  # noqa: ANN001
    """Per ON-OFF cell: ON-event response removed by the ON mode's top 10 % channels vs every other intervention."""
    frames = ds["frame"].values
    for cell in match["cell"].values:
        on_events, off_events = events(truth, int(cell), frames)
        on_mode = int(match["best_mode"].sel(cell=cell, pathway="on"))
        each = ablate_each_mode(model, rec, ds, int(cell), on_events, off_events, layer="layer1")
        removed = each["removed"].sel(frames="target")
        same = each["intervention"] == each["intervention"].sel(mode=on_mode)
        others = removed.where(~same, drop=True)
        verdict = "beats" if float(removed.sel(mode=on_mode)) > float(others.max()) else "DOES NOT beat"
        print(f"    {name} cell {int(cell)}: ON mode {on_mode}'s top 10 % channels remove "
              f"{float(removed.sel(mode=on_mode)):.3f} of the ON-event response; the most any other intervention "
              f"removes: {float(others.max()):.3f} ({verdict} every other intervention)")


def full_field(name: str, ds: xr.Dataset, rec: xr.Dataset) -> None:
    """Which layer-1 mode each cell loads on most, by cell type."""
    top = layer1(ds)["loadings"].mean("frame").argmax("mode")
    modes = layer1(ds)["mode"].values[top.values]
    for kind in np.unique(rec["cell_type"].values):
        mine = rec["cell_type"].values == kind
        print(f"    {name}: {kind} cells load most on layer-1 modes {sorted(set(modes[mine].tolist()))}")


def report(name: str, args: argparse.Namespace) -> None:
    model, rec, truth = model_and_data(name, args.fit_epochs, args.fit_minutes, args.cache)
    print(f"\n=== {name}: {rec.sizes['y']}x{rec.sizes['x']} px, {rec.sizes['cell']} cells")
    spatial = truth is not None and "on_drive" in truth
    for preset in args.presets:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seeds = args.sae_seeds if spatial and preset == "codec" else args.sae_seeds[:1]
            runs = seed_sweep(model, rec, seeds, preset=preset)
        seconds = (time.perf_counter() - t0) / len(runs) if len(runs) == 1 else time.perf_counter() - t0
        ds = runs[0]
        summary(f"{preset} (seed {seeds[0]})", ds, seconds)
        if not spatial:
            full_field(preset, ds, rec)
            continue
        match = pathways(ds, truth)
        print_pathways(preset, match)
        if len(runs) > 1:
            worst = [float(m["best_r"].min()) if (m := pathways(r, truth)) is not None else float("nan")
                     for r in runs]
            stab = mode_stability(runs)
            print(f"    {preset}: worst pathway r per SAE seed {seeds}: {[round(w, 3) for w in worst]}; share of "
                  f"seed {seeds[0]}'s modes reproduced (cosine >= 0.9) per layer: "
                  + ", ".join(f"{s} {float(v):.2f}" for s, v in zip(stab['sae'].values, stab['reproduced_mean'].values,
                                                                   strict=True)))
        if match is not None and "cell" in ds["loadings"].dims and args.ablation:
            ablation(preset, model, rec, truth, ds, match)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["sample", "seed1", "seed2", "fullfield", "sim50"],
                   choices=["sample", *SIMULATIONS])
    p.add_argument("--presets", nargs="+", default=["codec", "paper_open"])
    p.add_argument("--sae-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--cache", type=Path, default=None, help="folder of fitted models <dataset>.pt (read or written)")
    p.add_argument("--fit-epochs", type=int, default=15, help="most epochs of each fit (15: as the sample model)")
    p.add_argument("--fit-minutes", type=float, default=None, help="wall budget of each fit (default: none)")
    p.add_argument("--no-ablation", dest="ablation", action="store_false")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.datasets:
        report(name, args)


if __name__ == "__main__":
    main()
