"""Receptive fields against the simulator's ground truth: the shipped sample and one fresh simulation.

For each recording and its fitted model this prints, per cell:
  * the centres of the ellipses fitted to the rank-1 spatial maps of the STA (training block)
    and of the mean IRF (model, test repeat 0) against the true RF centre (target: every
    cell within one pixel, one bipolar subunit);
  * the correlation of the rank-1 spatial maps of the mean IRF and of the STA (target >= 0.9
    per cell on the sample) over the whole frame: raw; divided by the STA's own noise ceiling
    (``rf.sta_reliability``: the correlation of the STAs of the two halves of the training
    block, Spearman-Brown corrected to the full block, square-rooted: the expected correlation
    of the full STA with a noise-free map); with both maps smoothed by a Gaussian of σ 0.5 px
    (half a bipolar subunit, ``rf.map_correlation(smooth_px=0.5)``) beside the smoothed STA's
    ceiling; and raw over the 10×10 pixels around the STA's ellipse centre;
  * for ON-OFF cells, at the frames where one pathway's true drive dominates (top 10 % of one
    drive, the other below its median, among the test frames), the share of frames whose
    IRF centre polarity matches that pathway (target >= 90 %): read at the cell's centre
    (``centre_polarity``, weighted by the mean IRF's Gaussian) and, for comparison, at the
    strongest pixel of the rank-1 spatial map.
The fresh simulation (``simulate_retina(train_seconds=1200, seed=1)``) needs a fitted model:
``--fresh-model PATH`` is loaded if it exists, otherwise fitted there first
(``fit(rec, preset="sample", seed=0)``, ~5-10 min on 2 cores).

Usage: python benchmarks/bench_rf_ground_truth.py [--fresh-model PATH] [--fresh-seed 1] [--skip-fresh]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

import retinacodec as rc
from retinacodec.rf import (
    centre_polarity,
    fit_ellipse,
    instantaneous_rf,
    map_correlation,
    polarity_and_latency,
    rank1,
    sta,
    sta_reliability,
)


def mean_irf(model: rc.BNCNN, rec: xr.Dataset) -> xr.DataArray:
    """The IRF averaged over the frames of test repeat 0, (cell, lag, y, x), accumulated chunk by chunk."""
    mask = (rec["block"].values == "test") & (rec["repeat"].values == 0)
    frames = np.flatnonzero(mask)[model.config.history:]
    total = None
    for start in range(0, frames.size, 128):
        part = instantaneous_rf(model, rec, frames=frames[start:start + 128])["irf"].sum("frame")
        total = part if total is None else total + part
    return (total / frames.size).assign_attrs(pixel_size_um=float(rec.attrs["pixel_size_um"]))


SMOOTH_PX = 0.5  # σ of the Gaussian applied to both maps (pixels): half a bipolar subunit


def crop_corr(a: np.ndarray, b: np.ndarray, cy: float, cx: float, size: int = 10) -> float:
    """Correlation of two maps over the ``size``×``size`` pixels around (cy, cx), kept inside the frame."""
    y0 = int(np.clip(round(cy) - size // 2, 0, a.shape[0] - size))
    x0 = int(np.clip(round(cx) - size // 2, 0, a.shape[1] - size))
    win = (slice(y0, y0 + size), slice(x0, x0 + size))
    return float(np.corrcoef(a[win].ravel(), b[win].ravel())[0, 1])


def pathway_polarity(model: rc.BNCNN, rec: xr.Dataset, truth: xr.Dataset, ellipses: xr.Dataset) -> list[str]:
    """Per ON-OFF cell, the share of ON- and OFF-dominated test frames whose IRF polarity matches.

    Two readings of an IRF's polarity: at the cell's centre (Gaussian-weighted with the mean
    IRF's ellipse, :func:`retinacodec.rf.centre_polarity`) and at the strongest pixel of its rank-1
    spatial map (:func:`retinacodec.rf.polarity_and_latency`).
    """
    lines = []
    onoff = [c for c, t in zip(truth["cell"].values, truth["cell_type"].values, strict=True) if t == "ON-OFF"]
    mask = (rec["block"].values == "test") & (rec["repeat"].values == 0)
    frames = np.flatnonzero(mask)[model.config.history:]
    irf = instantaneous_rf(model, rec, frames=frames, cells=onoff)["irf"]
    readings = {"centre": centre_polarity(irf, ellipses)}
    comps = rank1(irf)
    readings["rank-1 peak"] = polarity_and_latency(comps["spatial"], comps["temporal"])["polarity"]
    for cell in onoff:
        on = truth["on_drive"].sel(cell=cell, frame=frames).values
        off = truth["off_drive"].sel(cell=cell, frame=frames).values
        on_dom = (on >= np.quantile(on, 0.9)) & (off < np.median(off))
        off_dom = (off >= np.quantile(off, 0.9)) & (on < np.median(on))
        parts = []
        for name, pol in readings.items():
            p = pol.sel(cell=cell).values
            on_ok, off_ok = (p[on_dom] == 1).mean(), (p[off_dom] == -1).mean()
            parts.append(f"{name}: ON-polar {100 * on_ok:5.1f} %, OFF-polar {100 * off_ok:5.1f} % "
                         f"{'ok' if min(on_ok, off_ok) >= 0.9 else 'MISSED'}")
        head = f"  cell {cell}: {on_dom.sum():3d} ON- / {off_dom.sum():3d} OFF-dominated frames; "
        lines.append(head + "; ".join(parts))
    return lines


def report(label: str, model: rc.BNCNN, rec: xr.Dataset, truth: xr.Dataset) -> None:
    t0 = time.perf_counter()
    s = sta(rec, model.config.history)
    t_sta = time.perf_counter() - t0
    t0 = time.perf_counter()
    m = mean_irf(model, rec)
    t_irf = time.perf_counter() - t0
    r_sta, r_irf = rank1(s["sta"]), rank1(m)
    e_sta = fit_ellipse(r_sta["spatial"], float(rec.attrs["pixel_size_um"]))
    e_irf = fit_ellipse(r_irf["spatial"], float(rec.attrs["pixel_size_um"]))
    p_sta = polarity_and_latency(r_sta["spatial"], r_sta["temporal"])
    p_irf = polarity_and_latency(r_irf["spatial"], r_irf["temporal"])
    ceiling = sta_reliability(rec, model.config.history).values
    r_raw = map_correlation(r_sta["spatial"], r_irf["spatial"]).values
    r_smooth = map_correlation(r_sta["spatial"], r_irf["spatial"], smooth_px=SMOOTH_PX).values
    ceiling_smooth = sta_reliability(rec, model.config.history, smooth_px=SMOOTH_PX).values
    print(f"\n== {label}: {rec.sizes['cell']} cells, {rec.sizes['y']}x{rec.sizes['x']} px "
          f"({rec.attrs['pixel_size_um']:g} um), STA {t_sta:.1f} s, mean IRF of test repeat 0 {t_irf:.1f} s")
    print(f"  {'cell':>4} {'type':>7} {'true (y, x)':>14} {'STA (y, x)':>14} {'err':>5} {'IRF (y, x)':>14} {'err':>5} "
          f"{'r(STA,IRF)':>10} {'ceiling':>7} {'r/ceil':>6} {'r σ.5':>6} {'ceil σ.5':>8} {'r 10x10':>7} "
          f"{'pol STA/IRF':>11} {'lat ms STA/IRF':>14} "
          f"{'2σ axes IRF um':>15}")
    worst, corrs, crops = 0.0, [], []
    for i, cell in enumerate(truth["cell"].values):
        ty, tx = float(truth["position_y"][i]), float(truth["position_x"][i])
        sy, sx = float(e_sta["centre_y"][i]), float(e_sta["centre_x"][i])
        iy, ix = float(e_irf["centre_y"][i]), float(e_irf["centre_x"][i])
        err_s, err_i = np.hypot(sy - ty, sx - tx), np.hypot(iy - ty, ix - tx)
        worst = max(worst, err_s, err_i)
        r = float(r_raw[i])
        corrs.append(r)
        crops.append(crop_corr(r_sta["spatial"][i].values, r_irf["spatial"][i].values, sy, sx))
        print(f"  {cell:>4} {truth['cell_type'].values[i]:>7} ({ty:5.2f},{tx:5.2f}) ({sy:5.2f},{sx:5.2f}) {err_s:5.2f} "
              f"({iy:5.2f},{ix:5.2f}) {err_i:5.2f} {r:10.3f} {ceiling[i]:7.3f} {r / ceiling[i]:6.3f} "
              f"{r_smooth[i]:6.3f} {ceiling_smooth[i]:8.3f} {crops[-1]:7.3f} "
              f"{p_sta['polarity_label'].values[i]:>5}/"
              f"{p_irf['polarity_label'].values[i]:<5} {1e3 * float(p_sta['peak_latency'][i]):6.0f}/"
              f"{1e3 * float(p_irf['peak_latency'][i]):<6.0f} {float(e_irf['width_um'][i]):6.0f}x"
              f"{float(e_irf['height_um'][i]):<6.0f}")
    print(f"  worst centre error {worst:.2f} px (target <= 1: {'ok' if worst <= 1 else 'MISSED'}); "
          f"min r(STA, mean IRF) whole frame {min(corrs):.3f} raw, {np.min(r_smooth):.3f} with both maps smoothed "
          f"(σ {SMOOTH_PX} px), {np.min(r_raw / ceiling):.3f} noise-corrected (r / STA reliability), "
          f"{min(crops):.3f} raw over 10x10 px (target >= 0.9: raw {'ok' if min(corrs) >= 0.9 else 'MISSED'}, "
          f"smoothed {'ok' if np.min(r_smooth) >= 0.9 else 'MISSED'})")
    print("  ON-OFF cells, IRF centre polarity where one pathway's true drive dominates:")
    for line in pathway_polarity(model, rec, truth, e_irf):
        print(line)


def fresh(seed: int, path: Path) -> tuple[rc.BNCNN, xr.Dataset, xr.Dataset]:
    rec, truth = rc.simulate_retina(train_seconds=1200, seed=seed)
    if path.exists():
        model = rc.load_model(path)
    else:
        print(f"fitting the fresh simulation (seed {seed}) to {path} ...", flush=True)
        model = rc.fit(rec, preset="sample", seed=0, checkpoint=path)
    return model, rec, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fresh-model", type=Path, default=Path(tempfile.gettempdir()) / "retinacodec_rf_fresh.pt")
    parser.add_argument("--fresh-seed", type=int, default=1)
    parser.add_argument("--skip-fresh", action="store_true")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", 1)))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rec, truth = rc.load_sample()
    report("shipped sample (retinacodec/data/sample.nwb, sample_model.pt)", rc.load_sample_model(), rec, truth)
    if not args.skip_fresh:
        model, rec, truth = fresh(args.fresh_seed, args.fresh_model)
        report(f"fresh simulation seed {args.fresh_seed} (model {args.fresh_model})", model, rec, truth)


if __name__ == "__main__":
    main()
