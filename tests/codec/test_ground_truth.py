"""CODEC against the simulator's ground truth on the shipped sample: completeness, pathways, causality.

The sample's ON-OFF cells pool an ON and an OFF bipolar pathway whose drives the simulator
records. Wrong implementations these tests catch: a mode matched to the wrong pathway or
cell (r with the true drive falls), an ablation ranking that ignores the atom (another
mode's channels remove as much as the ON mode's), masks at the wrong layer (no effect), a
quadrature that does not add up (completeness).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import xarray as xr

import retinacodec as rc
from retinacodec.codec import analyses, decompose
from retinacodec.codec.interventions import ablate_each_mode, intervention_curves

# one worker computes the module's fixtures once (make test runs pytest-xdist with --dist loadgroup)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("sample_ground_truth")]


@pytest.fixture(scope="session")
def sample():
    torch.set_num_threads(1)
    rec, truth = rc.load_sample()
    return rc.load_sample_model(), rec, truth


@pytest.fixture(scope="session")
def cell_modes(sample):
    """The default (preset 'codec') on layer 1."""
    model, rec, _ = sample
    return decompose(model, rec, ["layer1"], progress=False)


def _drives(truth: xr.Dataset, frames: np.ndarray) -> xr.DataArray:
    pathway = xr.DataArray(["on", "off"], dims="pathway")
    return xr.concat([truth["on_drive"], truth["off_drive"]], dim=pathway).sel(frame=frames)


def _on_off_cells(truth: xr.Dataset) -> np.ndarray:
    return truth["cell"].values[truth["cell_type"].values == "ON-OFF"]


def _events(truth: xr.Dataset, cell: int, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    on = truth["on_drive"].sel(cell=cell, frame=frames).values
    off = truth["off_drive"].sel(cell=cell, frame=frames).values
    return (frames[(on >= np.quantile(on, 0.9)) & (off <= np.median(off))],
            frames[(off >= np.quantile(off, 0.9)) & (on <= np.median(on))])


def _layer1(ds: xr.Dataset) -> xr.Dataset:
    return ds.sel(mode=ds["mode_layer"] == "layer1")


def test_paper_preset_contributions_add_up(sample):
    """The paper's run: integrated gradients to the surprisal, median completeness <= 1e-4."""
    model, rec, _ = sample
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the official SAE keeps no mode on the sample (its own test)
        ds = decompose(model, rec, preset="paper", progress=False, max_epochs=1)  # SAE training: not in completeness
    assert ds.attrs["target"] == "surprisal" and ds["loadings"].dims == ("frame", "mode")
    assert (ds["completeness_median"] <= 1e-4).all(), ds["completeness_median"].values


def test_default_keeps_modes_that_add_up_with_varying_sets(cell_modes):
    """Preset 'codec' on the sample: >= 8 modes, held-out R2 >= 0.9, completeness <= 1e-4, 0, 1, 2 ... active modes."""
    ds = cell_modes
    assert ds.attrs["preset"] == "codec" and ds.attrs["metrics_on"] == "held-out training samples"
    assert int(ds["n_modes"].sel(sae="layer1")) >= 8 and float(ds["r2_grand"].sel(sae="layer1")) >= 0.9
    assert float(ds["completeness_median"].sel(hooked_layer="layer1")) <= 1e-4
    counts = np.bincount((ds["loadings"] > 0).sum("mode").values.ravel())
    assert counts.size >= 4 and (counts[:4] > 0).all(), counts  # no fixed k: none, one, two, three ... modes


def test_modes_recover_on_and_off_pathways(sample, cell_modes):
    """Every ON-OFF cell: one layer-1 mode tracks its true ON drive, another its OFF drive (r >= 0.85, issue 20).

    The shipped model reaches 0.87-0.90 (worst over cells and pathways) for SAE seeds 0-4 (benchmarks/README.md); a
    mode matched to the wrong cell or pathway gives r below 0.5, and the published-layer model fitted without the
    weight average, shipped before, reached only 0.76."""
    _, _, truth = sample
    modes = _layer1(cell_modes)
    match = analyses.match_pathways(modes["loadings"], _drives(truth, modes["frame"].values))
    best = match.sel(cell=_on_off_cells(truth))
    assert (best["best_r"] >= 0.85).all(), best["best_r"].values
    assert (best["best_mode"].sel(pathway="on") != best["best_mode"].sel(pathway="off")).all()


def test_ablating_the_on_mode_beats_every_other_mode(sample, cell_modes):
    """Top 10 % channels (official ranking): the ON mode removes more ON-event response than any other intervention.

    10 % of layer 1's 8 channels is one channel, so every mode that ranks the ON mode's top channel first is the
    very same intervention (the ``intervention`` coord) and ties by construction; every mode that ablates any
    other channel set — the OFF mode among them — must remove strictly less, by a margin of 0.05.
    """
    model, rec, truth = sample
    frames = cell_modes["frame"].values
    modes = _layer1(cell_modes)
    match = analyses.match_pathways(modes["loadings"], _drives(truth, frames))
    for cell in _on_off_cells(truth):
        on_events, off_events = _events(truth, int(cell), frames)
        each = ablate_each_mode(model, rec, cell_modes, int(cell), on_events, off_events, percent=10)
        removed = each["removed"].sel(frames="target")
        on_mode = int(match["best_mode"].sel(cell=cell, pathway="on"))
        off_mode = int(match["best_mode"].sel(cell=cell, pathway="off"))
        same = each["intervention"] == each["intervention"].sel(mode=on_mode)
        others = removed.where(~same, drop=True)
        assert others.size > 0 and bool(same.sel(mode=off_mode)) is False
        assert float(removed.sel(mode=on_mode)) > float(others.max()) + 0.05, removed.values
        assert float(each["selectivity"].sel(mode=on_mode)) > 0  # ON events lose more than OFF events


def test_contribution_modes_are_more_selective_than_activation_modes(sample, cell_modes):
    """Whole ablation and preservation curves, units ranked per cell: ON events vs OFF events, every ON-OFF cell."""
    model, rec, truth = sample
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        act = decompose(model, rec, ["layer1"], source="activations", progress=False)
    frames = cell_modes["frame"].values
    contribution = analyses.match_pathways(_layer1(cell_modes)["loadings"], _drives(truth, frames))
    activation = analyses.match_pathways(act["loadings"], _drives(truth, frames))
    for cell in _on_off_cells(truth):
        on_events, off_events = _events(truth, int(cell), frames)
        sel = []
        for ds, match in ((cell_modes, contribution), (act, activation)):
            mode = int(match["best_mode"].sel(cell=cell, pathway="on"))
            curves = intervention_curves(model, rec, ds, mode, int(cell), target_frames=on_events,
                                         off_target_frames=off_events, granularity="unit")
            sel.append(curves["selectivity"].values)
        assert (sel[0] > sel[1]).all() and (sel[0] > 0).all(), sel
