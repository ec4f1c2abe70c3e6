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
5. The omitted stimulus response: a model's response to something missing
=========================================================================

Show a salamander retina a periodic train of dark flashes and stop it: many ganglion cells
fire when the *next* flash should have come, about a fixed delay after the omitted flash,
whatever the period (Schwartz et al. 2007). This **omitted stimulus response** (OSR) is a
response to an absence. Standard attribution is blind to it: integrated gradients from a
grey baseline multiply by x − x₀, and where the flash is missing the stimulus *is* grey,
so the frames that cause the response get no attribution (Hesse et al. 2026, "What is
missing?").

We simulate a retina that has an OSR, fit a CNN to it, and ask:

1. does the model have the OSR, timed to the omitted flash as the simulator's is?
2. is its response driven by the missing flash — and what does attribution see from a
   reference that *contains* the flash versus the usual zero baseline?
3. which layer-1 channels and which CODEC modes carry it, and what stimuli drive the
   carrying unit most and least?
4. how many units of the model pass the absence test of Hesse et al.?

The simulator's OSR mechanism (``retinacodec.sim.OmittedStimulusResonance``) follows
Schwartz & Berry (2008) and Gao et al. (2009): bipolar terminals that resonate at the
rhythm of the flashes and predict the next one; a flash that comes as predicted cancels
the prediction, an omitted one does not, and the ganglion cell fires.
"""

# %%
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

import retinacodec as rc
from retinacodec.absence import (
    absence_attribution,
    absence_test,
    extreme_windows,
    mode_projection,
    omitted_flash_attribution,
    omitted_flash_windows,
    plot_absence_test,
    plot_extreme_windows,
    plot_omitted_flash,
    recording_windows,
)
from retinacodec.codec.features import attribution_model
from retinacodec.figures.phenomena import plot_osr
from retinacodec.phenomena import run_all
from retinacodec.sim import RetinaCircuit, simulate_retina

QUICK = os.environ.get("RETINACODEC_QUICK") == "1"  # the test suite runs a shorter version: less data, fewer epochs
torch.manual_seed(0)

# %% [markdown]
# A retina with an OSR, and a model of it
# ---------------------------------------
#
# ``RetinaCircuit.phenomena`` is the random circuit of the shipped sample (ON, OFF and ON-OFF
# cells) with the resonant terminals and a slow contrast gain control switched on; one cell
# per type on 12 × 12 pixels. White noise alone rarely drives the resonance (it needs a
# rhythm of several flashes), so 30 % of the training recording are trains of full-field dark
# flashes with random periods. The test block is white noise repeated, as in an experiment.

# %%
circuit = RetinaCircuit.phenomena(n_cells_per_type=1, size=(12, 12), seed=0)
if QUICK:
    recording = {"train_seconds": 120.0, "test_seconds": 2.0, "n_repeats": 1}
    epochs = 8
else:
    recording = {"train_seconds": 600.0, "test_seconds": 10.0, "n_repeats": 3}
    epochs = 20
rec, truth = simulate_retina(circuit=circuit, size=(12, 12), seed=0, flash_train_fraction=0.3, **recording)
model = rc.fit(rec, seed=0, epochs=epochs, progress=False)
scores = rc.evaluate(model, rec, truth)
print(f"{recording['train_seconds']:g} s of training, {epochs} epochs; "
      f"median r with the true rate on the test stimulus: {scores.attrs['median_r_truth']:.3f}")

# %% [markdown]
# 1. The OSR, in the simulator and in the model
# ---------------------------------------------
#
# Five dark flashes (2 frames = 20 ms, contrast −2), then one left out, for flash periods
# from 60 to 140 ms. If a cell fires at a fixed delay after the *omitted* flash, its peak
# latency (measured from the omitted flash's expected onset) does not change with the
# period: slope 0. If it merely responded to the *last* flash, the latency after the omitted
# one would shrink one frame per frame of period: slope −1.

# %%
results, table = run_all(model, circuit, experiments=["osr"], osr={"intervals": (6, 8, 10, 12, 14)})
o = results["osr"]
fig = plot_osr(o)
plt.show()  # draw it here (the figure functions set fonts in an rc_context)

# %%
o["latency_ms"].to_dataframe().unstack(["source", "cell"]).round(1)

# %%
osr_rows = []
for source in ("simulator", "model"):
    s = o.sel(source=source)
    has = s["has_osr"].values.astype(bool)
    osr_rows.append({"source": source, "cells with an OSR": f"{has.sum()}/{has.size}",
                     "latency slope per cell (frames per frame of period)": np.round(s["slope"].values[has], 2)})
pd.DataFrame(osr_rows)

# %%
for source in ("simulator", "model"):
    s = o.sel(source=source)
    has = s["has_osr"].values.astype(bool)
    assert has.any(), f"the {source} has no OSR"
    assert np.all(np.abs(s["slope"].values[has]) < 1.0), f"the {source}'s OSR tracks the last flash"

# %% [markdown]
# Both have an OSR whose latency after the omitted flash changes by less than a frame per
# frame of period (a response to the last flash would give −1): it is timed to the flash that
# did not come. The model's latencies scatter more than the simulator's, most in the quick
# version (2 minutes of recording, 8 epochs); the full version fits 10 minutes for 20 epochs.

# %% [markdown]
# 2. The response is driven by the missing flash
# ----------------------------------------------
#
# ``omitted_flash_attribution`` builds the model's input windows for a train with the last
# flash omitted (the actual input x) and with it present (the reference x_ref), finds the
# frame after the omission where the response to the omission exceeds the response to the
# flash most, and attributes the population rate there to the input twice, with integrated
# gradients (50 steps):
#
# * **from the reference**: F(x) − F(x_ref), the response the missing flash *causes*;
# * **from the zero baseline** (mean luminance): the usual attribution.
#
# The figure shows the responses (left) and, per frame of the window, the attribution
# summed over space (right; grey: the omitted flash's frames).

# %%
period = 10
flash = omitted_flash_attribution(model, period)
fig = plot_omitted_flash(flash)
plt.show()

# %%
shares = flash["mass_fraction"].to_pandas()
print(f"explained frame: {flash.attrs['response_frame']} frames after the omitted flash")
print(f"F(flash omitted) − F(flash present): {float(flash['output_difference'].sel(baseline='reference')):+.3f} "
      f"spikes/frame (population)")
print("share of |input attribution| on the omitted flash's frames:", shares.round(4).to_dict())
assert float(flash["output_difference"].sel(baseline="reference")) > 0  # the omission raises the response
assert shares["reference"] >= 0.5
assert shares["zero"] < 0.05

# %% [markdown]
# Read these numbers honestly. From the reference, the share on the omitted flash's frames is
# 1 **by construction**: x and x_ref differ only there, and integrated gradients multiply by
# x − x_ref, so every other frame gets exactly zero. That share does not show the model is
# clever; it shows the method *can* put attribution on an absence, where the zero baseline
# puts almost nothing there (grey differs from the zero baseline, the training mean, only
# slightly, because the dark flash trains pulled the mean a little below grey). The
# informative outputs of the reference-based attribution are its **sign and amount** — the
# missing flash raises the population rate by the difference printed above, and the
# attribution adds up to it (completeness) — and the **hidden units that carry it**, next.

# %%
flash[["output_difference", "completeness_relative"]].to_dataframe().round(4)

# %% [markdown]
# 3. Which units carry the absence
# --------------------------------
#
# The same attribution from the reference, taken at the hidden layers in the same pass: each
# layer-1 and layer-2 channel's share of F(x) − F(x_ref), summed over space and sign.

# %%
actual, reference, _, _ = omitted_flash_windows(model, period)
d = flash.attrs["response_frame"]
hidden = absence_attribution(model, actual[d:d + 1], reference[d:d + 1], "sum", layers=["layer1", "layer2"])
channels = {layer: rc.layer_contributions(hidden, layer).isel(sample=0, target=0).sum(("sign", "y", "x"))
            for layer in ("layer1", "layer2")}
pd.DataFrame({layer: c.to_pandas() for layer, c in channels.items()}).round(3)

# %%
total = float(hidden["output_difference"].isel(sample=0, target=0))
share = channels["layer1"].values  # per channel, in channel order
order = np.argsort(-share)
n_carriers = int(np.searchsorted(np.cumsum(share[order]), 0.5 * total)) + 1  # fewest channels with half of it
carriers = [int(c) for c in order[:n_carriers]]
for c in carriers:
    print(f"layer-1 channel {c} carries {share[c]:+.3f} of {total:+.3f} spikes/frame ({100 * share[c] / total:.0f} %)")
print("completeness error per layer:", hidden["completeness_relative"].isel(sample=0, target=0).to_pandas().round(4)
      .to_dict())
for layer, c in channels.items():  # each layer's channels add up to the output difference
    assert abs(float(c.sum()) - total) <= 0.05 * abs(total), layer
assert n_carriers <= 3  # a few of the 8 channels carry at least half of the absence

# %% [markdown]
# In terms of CODEC modes
# -----------------------
#
# Per-cell modes (``decompose(preset="cells")``: contributions to each cell's generator signal
# on training frames, one TopK SAE per layer) give a dictionary of the model's usual ways of
# driving a cell. ``mode_projection`` writes each cell's hidden-layer absence attribution
# (positive and negative part per channel, summed over space, as CODEC reduces
# contributions) as a non-negative combination of at most k modes, and reports how much of it
# that combination explains (R²).

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    modes = rc.decompose(model, rec, ["layer1", "layer2"], preset="cells", n_fit_frames=600 if QUICK else 1500,
                         progress=False, **({"max_epochs": 150} if QUICK else {}))
generator = attribution_model(model, "generator")
per_cell = absence_attribution(generator, actual[d:d + 1], reference[d:d + 1], "all", layers=["layer1", "layer2"])
proj = mode_projection(per_cell, modes)
rows = []
for cell in proj["target"].values:
    p = proj.sel(target=cell).isel(sample=0)
    for sae in proj["sae"].values:
        load = p["loading"].where(p["mode_layer"] == sae, -np.inf)
        top = int(load.argmax("mode"))
        atom = modes["modes"].sel(mode=top)
        j = int(np.argmax(np.abs(atom.values)))
        rows.append({"cell": int(cell), "type": str(truth["cell_type"].values[int(cell)]),
                     "F(x) − F(x_ref), generator": float(per_cell["output_difference"].sel(target=cell)[0]),
                     "SAE": sae, "top mode": top, "loading": float(p["loading"].sel(mode=top)),
                     "R²": float(p["r2"].sel(sae=sae)),
                     "atom's largest entry": f"{atom['layer'].values[j]} {atom['sign'].values[j]} "
                                             f"ch{int(atom['channel'].values[j])}"})
mode_table = pd.DataFrame(rows)
mode_table.round(3)

# %%
osr_cells = o.sel(source="model")["has_osr"].values.astype(bool)
layer1_rows = mode_table[(mode_table["SAE"] == "layer1") & osr_cells[mode_table["cell"].values]]
print("R² of the layer-1 projection, cells with an OSR:", layer1_rows["R²"].round(3).tolist())
print("their top mode's largest atom entry:", layer1_rows["atom's largest entry"].tolist(), "; carrying channels:",
      carriers)
assert (layer1_rows["R²"] > 0.5).all()
assert layer1_rows["atom's largest entry"].isin([f"layer1 pos ch{c}" for c in carriers]).all()
carrier = int(layer1_rows["atom's largest entry"].mode()[0].rsplit("ch", 1)[1])  # the carrying channel the modes use

# %% [markdown]
# In every cell with an OSR, the layer-1 mode that carries most of the absence is a mode whose
# atom is dominated by the positive part of one of the carrying channels found above (which
# one can change from fit to fit when two channels carry about the same share): the modes,
# learned on the training recording without any notion of flashes, have a direction for the
# missing flash, and it points at the units the direct read-out of the layer found.

# %% [markdown]
# The carrying unit's most and least preferred stimuli
# ----------------------------------------------------
#
# The carrying layer-1 channel that those modes weigh most (``carrier``), read at the centre of
# the map before its nonlinearity: the mean of its 9 highest- and 9 lowest-activating windows of the training
# recording (which holds white noise and flash trains).

# %%
extremes = extreme_windows(model, rec, "layer1", channels=[carrier], k=9, progress=False)
fig = plot_extreme_windows(extremes)
plt.show()

# %% [markdown]
# The spatial maps are flat: both ends are full-field. The time courses say what the unit
# wants. Per window, the full-field contrast (mean over pixels) gives the dark flashes it
# holds, their period, and the frames from the last flash's onset to the response frame:

# %%
def flash_train(profile: np.ndarray) -> dict:
    """Dark flashes in a window's full-field profile (oldest frame first; the last is the response frame)."""
    dark = profile < -1.0
    onsets = np.flatnonzero(dark[1:] & ~dark[:-1]) + 1
    period = float(np.median(np.diff(onsets))) if onsets.size > 1 else np.nan
    since = len(profile) - 1 - onsets[-1] if onsets.size else np.nan
    return {"flashes": onsets.size, "period (frames)": period, "frames since the last flash": since}


profiles = extremes["input"].isel(unit=0).mean(("y", "x")).transpose("end", "rank", "lag")  # lag 39 ... 0
trains = pd.DataFrame([{"end": end, "rank": int(r), **flash_train(profiles.sel(end=end, rank=r).values)}
                       for end in ("highest", "lowest") for r in profiles["rank"].values])
trains

# %%
stopped = (trains["flashes"] >= 3) & (trains["frames since the last flash"] > trains["period (frames)"])
share_stopped = trains.assign(stopped=stopped).groupby("end")["stopped"].mean()
print("share of windows where a train of ≥ 3 flashes stopped more than a period ago:", share_stopped.to_dict())
assert share_stopped["highest"] >= 0.5 > share_stopped["lowest"]

# %% [markdown]
# The windows that drive the carrying unit most are flash trains that **stopped**: several
# flashes at a steady period, then grey for longer than a period. Its lowest windows hold
# trains whose flashes are still coming. The unit is a detector of a missing flash, found here
# from the recording alone, and it is the unit the absence attribution pointed to.

# %% [markdown]
# 4. The absence test on the layers
# ---------------------------------
#
# Hesse et al.'s test for an encoded absence: for each unit (a channel, its pre-nonlinearity
# activation averaged over space), take its 100 top inputs, paste into them the unit's 4
# lowest-activating pieces or 4 random pieces, and compare the activations with a two-sample
# t-test. A unit whose activation drops significantly more with its lowest pieces responds to
# the *absence* of what those pieces show. Pieces in time: runs of frames over the whole
# frame, scored alone at their own lags and pasted back there (a flash is an event in time).

# %%
windows, _ = recording_windows(model, rec, n=800 if QUICK else 2000, seed=0)
tests = {layer: absence_test(model, windows, layer, pieces="time", seed=0, progress=False)
         for layer in ("layer1", "layer2")}
pd.DataFrame({layer: {key: r.attrs[key] for key in ("share_significant", "share_drop", "share_drop_bh")}
              for layer, r in tests.items()}).round(3)

# %% [markdown]
# Every unit that drops significantly is counted as encoding an absence, as the official code
# counts them. Read the share with care: a layer-1 unit before its nonlinearity is linear in
# the stimulus, so pasting its own least preferred frames into its top inputs lowers it more
# than random frames do for any unit with a clear preference; the test finds candidates, and
# the attribution from a reference (section 2–3) says which of them the OSR actually uses.

# %%
fig = plot_absence_test(tests["layer1"])
plt.show()

# %%
fig = plot_absence_test(tests["layer2"])
plt.show()
