# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
"""
3. Dynamic receptive fields
===========================

A ganglion cell's classic receptive field is the spike-triggered average (STA) of the
stimulus: one linear filter for the whole recording. A CNN fitted to the cell has, at every
moment, its own local linear filter — the **instantaneous receptive field** (IRF), the
gradient of the cell's predicted rate with respect to the last 40 stimulus frames. Where
the circuit is nonlinear, the IRF changes from moment to moment, and the CODEC modes say
which interneurons were at work when it did.

We use the shipped sample, its fitted model, and the simulator's truth (true RF positions,
cell types, and the drive of each bipolar pathway).
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

import retinacodec as rc
from retinacodec.model import WindowedData
from retinacodec.rf import fit_ellipse, instantaneous_rf, mode_combination_irfs, polarity_and_latency, rank1, sta

QUICK = os.environ.get("RETINACODEC_QUICK") == "1"  # the test suite runs a shorter version
rec, truth = rc.load_sample()
model = rc.load_sample_model()
px = float(rec.attrs["pixel_size_um"])

# %% [markdown]
# The STA and the model's mean IRF
# --------------------------------
#
# ``sta`` streams over the training frames once (no copy of the stimulus windows). Its rank-1
# part is a spatial map and a temporal filter; a 2-D Gaussian fit gives the RF's centre and
# size in µm. The model's IRFs at every test frame, averaged, should agree with it.

# %%
data_sta = sta(rec, model.config.history)
frames = WindowedData(rec, model.config.history, model.normalization).targets("test", repeat=0)
frames = frames[::4] if QUICK else frames[::2]
irf = instantaneous_rf(model, rec, frames)
parts = {"STA": rank1(data_sta["sta"]), "mean IRF": rank1(irf["irf"].mean("frame"))}
ellipses = {name: xr.merge([fit_ellipse(p["spatial"], px), polarity_and_latency(p["spatial"], p["temporal"])])
            for name, p in parts.items()}
table = pd.DataFrame({
    "type": truth["cell_type"].values,
    "true y, x (px)": [f"{y:.1f}, {x:.1f}" for y, x in zip(truth["position_y"].values, truth["position_x"].values,
                                                            strict=True)],
    **{f"{n} y, x (px)": [f"{y:.1f}, {x:.1f}" for y, x in zip(e["centre_y"].values, e["centre_x"].values,
                                                             strict=True)] for n, e in ellipses.items()},
    "map r (STA, IRF)": [float(np.corrcoef(parts["STA"]["spatial"].sel(cell=c).values.ravel(),
                                           parts["mean IRF"]["spatial"].sel(cell=c).values.ravel())[0, 1])
                         for c in rec["cell"].values],
}, index=rec["cell"].values)
table.round(3)

# %%
for name, e in ellipses.items():
    error = np.hypot(e["centre_y"].values - truth["position_y"].values,
                     e["centre_x"].values - truth["position_x"].values)
    print(f"{name}: centres {error.max():.2f} px at most from the true ones")
    assert (error < 1).all()  # within one pixel (one bipolar subunit) of the truth
fig = rc.figures.plot_rf_mosaic(ellipses["STA"], (rec.sizes["y"], rec.sizes["x"]), truth)

# %%
fig = rc.figures.plot_rf_pairs(parts, cell_types=truth["cell_type"])

# %% [markdown]
# How an ON-OFF cell's IRF changes over time
# ------------------------------------------
#
# The ON-OFF cells pool an ON and an OFF bipolar pathway. When the ON pathway's true drive
# dominates, the cell's local filter should be ON-centred, and OFF-centred when the OFF
# pathway does. The rank-1 IRF's centre polarity at each frame tells.

# %%
cell = int(truth["cell"].values[truth["cell_type"].values == "ON-OFF"][0])
one = rank1(irf["irf"].sel(cell=cell))
polarity = polarity_and_latency(one["spatial"], one["temporal"])["polarity"]
on = truth["on_drive"].sel(cell=cell, frame=irf["frame"]).values
off = truth["off_drive"].sel(cell=cell, frame=irf["frame"]).values
on_dominant = (on >= np.quantile(on, 0.9)) & (off <= np.median(off))
off_dominant = (off >= np.quantile(off, 0.9)) & (on <= np.median(on))
print(f"cell {cell}: ON-centred IRF at {np.mean(polarity.values[on_dominant] > 0):.0%} of ON-dominated frames, "
      f"OFF-centred at {np.mean(polarity.values[off_dominant] < 0):.0%} of OFF-dominated frames")

# %%
t = irf["time"].values
fig, axes = plt.subplots(2, 1, figsize=(7, 3.2), sharex=True, height_ratios=[1, 2])
axes[0].plot(t, polarity.values, ".", ms=3, color="0.3")
axes[0].set_yticks([-1, 1], ["OFF", "ON"])
axes[0].set_ylabel("IRF centre")
axes[1].plot(t, on, color="#D55E00", label="true ON drive")
axes[1].plot(t, off, color="#0072B2", label="true OFF drive")
axes[1].set_xlabel("time (s)")
axes[1].legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
axes[0].set_title(f"cell {cell} (ON-OFF): the sign of its instantaneous receptive field follows the pathway at work",
                  fontsize=8)
fig.tight_layout()

# %% [markdown]
# Which modes give which receptive field
# --------------------------------------
#
# With per-cell contribution modes (tutorial 2; the default preset ``"codec"``: a BatchTopK
# SAE, so that a cell uses one, two, three or more modes at a frame), group the frames by the
# exact set of layer-1 modes active for the cell (loading above 0.01, as the official
# analysis) and look at the IRFs of each set. For each ON-OFF cell, the mode that best follows
# its true ON drive is its ON mode and the one that best follows the OFF drive its OFF mode
# (``match_pathways``); at frames where the ON mode is active alone, the cell's IRF should be
# ON-centred, and OFF-centred where the OFF mode is.

# %%
modes = rc.decompose(model, rec, ["layer1"], frames=irf["frame"].values, progress=False,
                     **({"n_fit_frames": 1500} if QUICK else {}))
drives = xr.concat([truth["on_drive"], truth["off_drive"]], dim=xr.DataArray(["on", "off"], dims="pathway"))
match = rc.analyses.match_pathways(modes["loadings"], drives.sel(frame=modes["frame"].values))
combos = mode_combination_irfs(modes["loadings"], irf, top=60)
print("modes active per (frame, cell):", {n: int(c) for n, c in enumerate(np.bincount(
    (modes["loadings"] > 0.01).sum("mode").values.ravel())) if c})
print("the sets found hold", sorted(set(combos["n_modes"].values.tolist())), "modes")

# %%
onoff = [int(c) for c in truth["cell"].values[truth["cell_type"].values == "ON-OFF"]]
rows = []
for c in onoff:
    for pathway in ("on", "off"):
        mode = int(match["best_mode"].sel(cell=c, pathway=pathway))
        alone = np.flatnonzero(combos["members"].sel(mode=mode).values & (combos["n_modes"].values == 1))
        n = int(combos["n_frames"].isel(combination=alone[0]).sel(cell=c)) if alone.size else 0
        pol = np.nan
        if n:
            sub = combos.isel(combination=alone[0]).sel(cell=c)
            pol = float(polarity_and_latency(sub["mean_spatial"], sub["mean_temporal"])["polarity"])
        rows.append({"cell": c, "pathway": pathway.upper(), "mode": mode,
                     "r with the drive": round(float(match["best_r"].sel(cell=c, pathway=pathway)), 2),
                     "frames with the mode alone": n,
                     "mean IRF there": {1.0: "ON-centred", -1.0: "OFF-centred"}.get(pol, "no frame")})
single = pd.DataFrame(rows)
single

# %%
shown = single[single["frames with the mode alone"] >= 5]
expected = np.where(shown["pathway"] == "ON", "ON-centred", "OFF-centred")
print(f"{(shown['mean IRF there'] == expected).sum()} of {len(shown)} (cell, mode) pairs with at least 5 frames "
      "have the IRF polarity of their pathway")
assert len(shown) >= 2 and (shown["mean IRF there"] == expected).mean() >= 0.75

# %% [markdown]
# Wherever an ON-OFF cell's ON mode is active alone (on at least 5 frames), its mean IRF is
# ON-centred, and wherever its OFF mode is, OFF-centred (a cell whose modes rarely act alone
# has too few frames to tell, "no frame" above): the modes, learned from contributions alone, split the
# frames by the pathway at work, and the receptive field follows. The grid below shows the
# mean rank-1 map of each ON-OFF cell (rows) for the sets its ON and OFF modes appear in
# (columns, most frequent first; n in each corner is the frames averaged, faded below 5).

# %%
wanted = {int(m) for m in match["best_mode"].sel(cell=onoff).values.ravel()}
columns = [i for i in range(combos.sizes["combination"])
           if wanted & set(np.flatnonzero(combos["members"].isel(combination=i).values).tolist())
           and int(combos["n_frames"].isel(combination=i).sel(cell=onoff).sum()) > 0][:10]
fig = rc.figures.plot_mode_irf_grid(combos, cells=onoff, combinations=columns, cell_types=truth["cell_type"])
