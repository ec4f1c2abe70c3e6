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
4. Your own recording: from a lab's NWB file to a fitted, evaluated model
=========================================================================

This tutorial takes an NWB file as a lab writes it — not as retinacodec writes it —
inspects how retinacodec reads it, fixes the labels where the automatic reading is wrong,
fits the CNN and evaluates it on the repeated stimulus.

The experiment is a common one: **full-field flicker with a run/freeze design**. Each
trial shows a stretch of fresh random flicker ("running" noise, new in every trial) and
then a "frozen" stretch that is identical in every trial. The running noise is for
fitting; the frozen repeats measure how reliable each cell is and how well the model
predicts it.

We do not have a real retina here, so the spikes come from retinacodec's simulated
retina (which also lets us check the model against the true firing rate). Everything
else — the file layout, the frame timing with dropped frames — is how a lab's file looks.
Each step has a command-line equivalent, given in the text.
"""

# %%
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO, NWBFile
from pynwb.image import ImageSeries

import retinacodec as rc
from retinacodec.io import inspect_nwb
from retinacodec.sim.simulate import simulate_run_freeze

QUICK = os.environ.get("RETINACODEC_QUICK") == "1"  # the test suite runs a shorter fit

# %% [markdown]
# The experiment
# --------------
#
# 8 ganglion cells, 20 trials of 900 running + 300 frozen frames at 75 Hz, with a few
# dropped frames (the monitor showed the previous frame for two refreshes). The stimulus is
# one luminance per frame: a 1×1-pixel "movie".

# %%
rec_sim, truth = simulate_run_freeze(n_cells=8, n_trials=20, run_frames=900, freeze_frames=300, seed=3)
times = rec_sim["time"].values                  # measured frame onsets (s)
luminance = rec_sim["stimulus"].values          # (frames, 1, 1), contrast -1 / +1
print(f"{times.size} frames; frame intervals {np.diff(times).min() * 1e3:.2f}-{np.diff(times).max() * 1e3:.2f} ms")

# %% [markdown]
# The lab's NWB file
# ------------------
#
# Written with pynwb the way a lab would: a ``Units`` table of spike times with the cell type
# as an extra column, the stimulus as an ``ImageSeries`` with one measured timestamp per
# frame, and a ``trials`` table with one row per segment. This lab names its columns
# ``protocol`` ("running" / "frozen") and ``sweep`` (the trial number).

# %%
edges = np.append(times, times[-1] + np.median(np.diff(times)))
rng = np.random.default_rng(0)
nwb = NWBFile(session_description="full-field flicker, run/freeze", identifier="retina-2024-05-02",
              session_start_time=datetime(2024, 5, 2, 10, 0, tzinfo=timezone.utc), session_id="retina-2024-05-02")
nwb.add_stimulus(ImageSeries(name="flicker", data=luminance, unit="contrast", timestamps=times,
                             description="binary full-field flicker"))
nwb.add_unit_column(name="cell_type", description="functional type from the flash response")
for c, cell_id in enumerate(rec_sim["cell"].values):
    frame = np.repeat(np.arange(times.size), rec_sim["spikes"].values[:, c])  # spikes drawn inside their frame
    spike_times = np.sort(edges[frame] + rng.uniform(size=frame.size) * np.diff(edges)[frame])
    nwb.add_unit(id=int(cell_id), spike_times=spike_times, cell_type=str(rec_sim["cell_type"].values[c]))
nwb.add_trial_column(name="protocol", description="running (fresh) or frozen (repeated) noise")
nwb.add_trial_column(name="sweep", description="trial number")
run_frames, freeze_frames = 900, 300
for trial in range(20):
    first = trial * (run_frames + freeze_frames)
    nwb.add_trial(start_time=edges[first], stop_time=edges[first + run_frames], protocol="running", sweep=trial)
    nwb.add_trial(start_time=edges[first + run_frames], stop_time=edges[first + run_frames + freeze_frames],
                  protocol="frozen", sweep=trial)
path = Path("lab_recording.nwb")
with NWBHDF5IO(str(path), "w") as io:
    io.write(nwb)

# %% [markdown]
# Inspect it
# ----------
#
# ``inspect_nwb`` reads the file like ``read_nwb`` and also says how it labelled the frames
# (``retinacodec info lab_recording.nwb`` prints the same). The reader warns about the
# dropped frames — and bins the spikes on the measured frame times, so nothing is lost.

# %%
rec, labelling = inspect_nwb(path)
print(np.unique(rec["block"].values, return_counts=True), labelling)

# %% [markdown]
# The automatic reading is **wrong** here: the reader recognises block columns named like
# ``block``, ``condition``, ``stimulus_type``, ``stimulus_name`` and repeat columns like ``repeat``
# or ``trial``, but not ``protocol`` and ``sweep``. So it used no intervals table, and every frame
# became training data: a model fitted now would train on the frozen repeats and could
# only be scored on single trials.
#
# Tell it which columns to use (``--block-column protocol --repeat-column sweep`` on the
# command line). The values "running" and "frozen" are not train/test words, so the reader
# looks for the stimulus that is *identical* in all its intervals — the frozen noise —
# and makes it the test block, one repeat per trial.

# %%
rec, labelling = inspect_nwb(path, block_column="protocol", repeat_column="sweep")
print(labelling.blocks)
print(labelling.rule)
reps = rc.repeated_responses(rec)
print(f"{reps.sizes['repeat']} test repeats of {reps.sizes['frame']} frames; cell types:",
      rec["cell_type"].to_series().value_counts().to_dict())
assert reps.sizes["repeat"] == 20

# %% [markdown]
# When the reader cannot decide — say two stimuli are both repeated identically — it stops
# and asks for ``test_block=`` (``--test-block frozen``), which overrides every other rule.
# The same flags exist on every command that reads a recording (``info``, ``fit``,
# ``evaluate``, ``contributions``, ``decompose``).

# %%
same = rc.read_nwb(path, block_column="protocol", test_block="frozen")
assert (same["block"].values == rec["block"].values).all()

# %% [markdown]
# Fit
# ---
#
# The stimulus is 1×1 pixel, so the model's spatial kernels are 1×1: a temporal-only
# model, chosen automatically from the stimulus size (``retinacodec fit lab_recording.nwb
# --block-column protocol --repeat-column sweep --out model.pt`` prints the choice). Small
# fields get smaller kernels and 40×40 pixels or more the published 15 and 11
# (``--kernels``, ``--channels``, ``--history`` override them). At 75 Hz the 40-frame history
# spans 533 ms.

# %%
model = rc.fit(rec, seed=0, epochs=5 if QUICK else 40)
print(model.config.kernel_sizes, model.config.channels, model.config.history)
print(f"{len(model.metadata['fit_log'])} epochs, best validation r "
      f"{max(e['val_r'] for e in model.metadata['fit_log']):.3f}")

# %% [markdown]
# Evaluate, beside a classic LN model
# -----------------------------------
#
# ``evaluate`` predicts the frozen stimulus and compares the prediction with the trial
# average (``r``) and with the split-half noise ceiling (``feve``); with the simulator's truth
# also with the true rate (``r_truth``).
#
# Does the CNN earn its complexity? ``rc.fit_ln`` fits the classic linear-nonlinear model
# (pyret's recipe: the spike-triggered average as the filter, the mean rate in bins of the
# filtered stimulus as the static nonlinearity) on the same training frames; passed as
# ``baseline=``, it is scored on the same frames (``ln_r``, ``ln_feve``; on the command line
# ``retinacodec evaluate model.pt lab_recording.nwb --baseline ln``).

# %%
ln = rc.fit_ln(rec, history=model.config.history)
scores = rc.evaluate(model, rec, truth, baseline=ln)
print(f"median r {scores.attrs['median_r']:.3f} (LN model {scores.attrs['ln_median_r']:.3f}), median FEVE "
      f"{scores.attrs['median_feve']:.3f}, median r with the true rate {scores.attrs['median_r_truth']:.3f}")
scores.to_dataframe().round(3)

# %% [markdown]
# The trial average of the test repeats carries the recording's frame numbers of the first
# repeat, so it lines up with the model's prediction frame by frame.

# %%
h = model.config.history
frames = reps["frame"].values[h - 1 :]
pred = rc.predict(model, rec, frames)
recorded = reps.mean("repeat").sel(frame=frames) * rec.attrs["frame_rate_hz"]
fig = rc.figures.plot_prediction(pred, recorded, scores, truth["rate"].sel(frame=frames), cells=[0, 3, 6])
fig.savefig("prediction.png", dpi=80)

# %% [markdown]
# Receptive fields: temporal filters
# ----------------------------------
#
# A full-field stimulus has no space, so a receptive field here is a **temporal filter**. The
# recording's spike-triggered average (``rc.rf.sta``) and the model's instantaneous receptive
# fields (``rc.rf.instantaneous_rf``, the gradient of the rate with respect to the stimulus
# window at each frozen frame; ``retinacodec rf model.pt lab_recording.nwb --out rf.nc``)
# are split into a spatial and a temporal part by ``rc.rf.rank1``. For one pixel the spatial
# part is +1 and the temporal filter carries the polarity: an ON cell's filter has a
# positive main lobe, an OFF cell's a negative one, in every frame. ``rc.rf.mean_irf``
# averages the IRFs (the gradients, not their unit-norm temporal parts, which would weigh a
# frame where the cell is silent as much as one where it fires) for comparison with the STA:
# for white noise the frame-averaged gradient of a good model is the STA up to a scale.

# %%
sta = rc.rf.sta(rec, model.config.history)
irf = rc.rf.instantaneous_rf(model, rec, rank1=True)
sta_parts = rc.rf.rank1(sta["sta"])
mean_irf = rc.rf.rank1(rc.rf.mean_irf(irf))
for cell in rec["cell"].values:
    a = (sta_parts["temporal"] * sta_parts["spatial"].squeeze()).sel(cell=cell)
    r = np.corrcoef(a, (mean_irf["temporal"] * mean_irf["spatial"].squeeze()).sel(cell=cell))[0, 1]
    print(f"cell {cell} ({rec['cell_type'].sel(cell=cell).item():>6}): mean IRF vs STA temporal filter r = {r:.3f}")
fig = rc.figures.plot_rf_pairs({"STA": sta_parts, "mean IRF": mean_irf}, cell_types=rec["cell_type"])
fig.savefig("rf_sta_vs_irf.png", dpi=80)

# %% [markdown]
# Contribution modes and the figures
# ----------------------------------
#
# ``rc.decompose`` computes how much each interneuron channel contributes to the output at
# every frozen frame and decomposes the contributions into modes (CODEC;
# ``retinacodec decompose model.pt lab_recording.nwb --out modes.nc``). The figures draw
# from the saved results alone (``retinacodec figures modes.nc --irf rf.nc --recording
# lab_recording.nwb --out figs/``); for a full-field recording they show the stimulus as a
# trace and the IRFs as temporal filters.

# %%
modes = rc.decompose(model, rec)
print(f"{modes.sizes['mode']} modes")
fig = rc.figures.plot_recording(rec)
fig.savefig("recording.png", dpi=80)
if modes.sizes["mode"] and "rate" in modes and "contributions" in modes:
    fig = rc.figures.plot_retina_figure(modes, irf)
    fig.savefig("retina_figure.png", dpi=80)

# %% [markdown]
# Other recordings
# ----------------
#
# * **Different frame rates or bin widths**: ``read_nwb(path, bin_ms=10)`` (``--bin-ms 10``)
#   resamples the stimulus to 10-ms bins (the frame on screen at each bin onset) and bins
#   the spikes on them.
# * **Large checkerboards**: ``crop=(top, left, height, width)`` and ``downsample=2``
#   (``--crop``, ``--downsample``). These options are stored in the model, and ``retinacodec
#   evaluate`` reads the recording the same way unless told otherwise.
# * **Stimulus stored ``[frame][row][column]``** instead of NWB's ``[frame][x][y]``:
#   ``stimulus_axes="yx"``.
