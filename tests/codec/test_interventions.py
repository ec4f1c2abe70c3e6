"""Causal tests of modes: masks, channel ranking by the atom's signed weight, selectivity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from retinacodec.codec import decompose
from retinacodec.codec.interventions import (
    PERCENTS,
    _mask_layers,
    _top_masks,
    ablate_each_mode,
    channel_scores,
    intervention_curves,
    masked,
    selectivity,
)

torch.set_num_threads(1)


def _atom_modes(pos: list[float], neg: list[float], source: str = "contributions") -> xr.Dataset:
    """A one-mode result whose atom on layer1's 4 channels is given."""
    feature = {"layer": ("feature", ["layer1"] * 8), "sign": ("feature", ["pos"] * 4 + ["neg"] * 4),
               "channel": ("feature", [0, 1, 2, 3] * 2)}
    return xr.Dataset({"modes": (("mode", "feature"), [pos + neg])},
                      coords={"mode": [0], "mode_layer": ("mode", ["layer1"]), **feature}, attrs={"source": source})


def test_channels_ranked_by_the_atoms_signed_net_weight():
    """Official: bic.top_n(atom) ranks by signed value; a channel's net weight is pos + neg part."""
    modes = _atom_modes([0.1, 0.5, 0.0, 0.0], [0.0, -0.9, 0.0, 0.3])  # net: 0.1, -0.4, 0, 0.3
    scores = channel_scores(modes, 0)["layer1"]
    np.testing.assert_allclose(scores.ravel(), [0.1, -0.4, 0.0, 0.3])
    ablate = _top_masks({"layer1": scores}, 25, "ablate")["layer1"].ravel()
    np.testing.assert_array_equal(ablate.numpy(), [1, 1, 1, 0])  # channel 3 (0.3) goes first, not 1 (|-0.4|)
    np.testing.assert_array_equal(_top_masks({"layer1": scores}, 50, "preserve")["layer1"].ravel().numpy(),
                                  [1, 0, 0, 1])
    # at least one channel: the official int(4 * 10 / 100) would ablate none
    assert _top_masks({"layer1": scores}, 10, "ablate")["layer1"].sum() == 3


def test_masks_act_where_the_modes_were_measured(tiny):
    model, _ = tiny
    mask = {"layer1": torch.ones(4, 1, 1)}
    assert list(_mask_layers(model, _atom_modes([0] * 4, [0] * 4), mask)) == ["layer1"]
    assert list(_mask_layers(model, _atom_modes([0] * 4, [0] * 4, "activations"), mask)) == ["layer1.noise"]


def test_selectivity_is_bounded_and_defined_for_zero_and_negative_areas():
    np.testing.assert_allclose(selectivity([0.3, 1.0, 0.0, -0.2, 0.5], [0.1, 0.0, 0.0, 0.2, -0.5]),
                               [0.5, 1.0, 0.0, -1.0, 1.0])


def test_masked_hook_zeroes_units(tiny):
    model, rec = tiny
    x = torch.randn(3, 10, 8, 8)
    with torch.no_grad():
        full = model(x)
        with masked(model, {"layer2": torch.zeros(4, 4, 4)}):
            none = model(x)
        again = model(x)
    torch.testing.assert_close(again, full)  # the hook is gone
    bias_only = model.readout(torch.zeros(3, 4, 4, 4))
    torch.testing.assert_close(none, bias_only)


def test_intervention_curves_layout(tiny):
    model, rec = tiny
    ds = decompose(model, rec, ["layer1"], preset="cells", k=2, n_fit_frames=300, progress=False, max_epochs=5)
    mode = int(ds["loadings"].sel(cell=0).max("frame").argmax("mode"))
    for granularity in ("channel", "unit"):
        curves = intervention_curves(model, rec, ds, mode, 0, granularity=granularity)
        assert curves["removed"].shape == (2, 2, len(PERCENTS)) and curves.attrs["granularity"] == granularity
        assert np.isfinite(curves["selectivity"]).all() and (abs(curves["selectivity"]) <= 1).all()
        # preserving 99 % keeps nearly everything; ablating 99 % of layer1 leaves little
        assert abs(float(curves["removed"].sel(kind="preserve", percent=99, frames="target"))) < 0.5
    with pytest.raises(ValueError, match="granularity"):
        intervention_curves(model, rec, ds, mode, 0, granularity="pixel")
    with pytest.raises(ValueError, match="unknown cell"):
        intervention_curves(model, rec, ds, mode, 99)


def test_ablate_each_mode_compares_every_mode_of_a_layer(tiny):
    model, rec = tiny
    ds = decompose(model, rec, ["layer1", "layer2"], preset="cells", k=2, n_fit_frames=300, progress=False,
                   max_epochs=5)
    frames = ds["frame"].values
    each = ablate_each_mode(model, rec, ds, 0, frames[:40], frames[40:80], layer="layer2", granularity="unit")
    assert list(each["mode"].values) == list(ds["mode"].values[ds["mode_layer"].values == "layer2"])
    assert each["removed"].dims == ("mode", "frames") and (abs(each["selectivity"]) <= 1).all()
    # the same number as intervention_curves for one of them
    mode = int(each["mode"][0])
    one = intervention_curves(model, rec, ds, mode, 0, target_frames=frames[:40], off_target_frames=frames[40:80],
                              percents=[10], kinds=["ablate"], granularity="unit")
    np.testing.assert_allclose(each["removed"].sel(mode=mode).values, one["removed"].values.ravel(), rtol=1e-6)
    # channel ranking: 10 % of 4 channels is one, so modes with the same top channel are one intervention
    chan = ablate_each_mode(model, rec, ds, 0, frames[:40], frames[40:80], layer="layer2", percent=10)
    top = {int(m): int(np.argmax(channel_scores(ds, int(m))["layer2"].ravel())) for m in chan["mode"].values}
    for m in chan["mode"].values:
        first = next(n for n in chan["mode"].values if top[int(n)] == top[int(m)])
        assert int(chan["intervention"].sel(mode=m)) == int(first)
        # a tied mode's effect is copied from the first: it equals the mode's own intervention, measured alone
        alone = intervention_curves(model, rec, ds, int(m), 0, target_frames=frames[:40],
                                    off_target_frames=frames[40:80], percents=[10], kinds=["ablate"])
        np.testing.assert_allclose(chan["removed"].sel(mode=m).values, alone["removed"].values.ravel(), rtol=1e-6)
    with pytest.raises(ValueError, match="no mode belongs to 'layer3'"):
        ablate_each_mode(model, rec, ds, 0, frames[:40], frames[40:80], layer="layer3")
