"""Encoded absences (retinacodec.absence): attribution from a reference, the non-target variant,
feature visualisation both ways and the absence test, on models whose answers are known."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

import retinacodec as rc
from retinacodec.absence import (
    absence_attribution,
    absence_test,
    extreme_inputs,
    extreme_mode_windows,
    extreme_patches,
    extreme_windows,
    mode_projection,
    nontarget_attribution,
    omitted_flash_attribution,
    optimize_input,
    recording_windows,
    unit_activations,
)
from retinacodec.absence.plots import plot_absence_test, plot_extreme_windows, plot_omitted_flash
from retinacodec.absence.units import activation_map, unit_module

HISTORY, SIDE, DELAY = 12, 4, 3  # the detector's window; it looks DELAY frames back


class AbsenceDetector(nn.Module):
    """A hand-built window model whose output rises when frame ``lag = DELAY`` is not bright.

    ``layer1`` channel 0 is ``1 − mean(x at lag DELAY)`` (an absence unit: a bright flash there
    lowers it), channel 1 the mean over all frames and pixels (a presence unit); the output is
    ``relu(ch0) + 0.5 relu(ch1)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.config = SimpleNamespace(history=HISTORY, input_size=(SIDE, SIDE))
        self.normalization = SimpleNamespace(apply=lambda s: np.asarray(s, dtype=np.float32))
        conv = nn.Conv2d(HISTORY, 2, SIDE)
        with torch.no_grad():
            conv.weight.zero_()
            conv.weight[0, HISTORY - 1 - DELAY] = -1.0 / SIDE**2
            conv.weight[1] = 1.0 / (HISTORY * SIDE**2)
            conv.bias.copy_(torch.tensor([1.0, 0.0]))
        self.layer1 = nn.Sequential()
        self.layer1.add_module("conv", conv)
        self.layer1.add_module("relu", nn.ReLU())
        self.readout = nn.Linear(2, 1)
        with torch.no_grad():
            self.readout.weight.copy_(torch.tensor([[1.0, 0.5]]))
            self.readout.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.layer1(x).flatten(1))


class SmoothNet(nn.Module):
    """A small smooth image model (Softplus), where integrated gradients converge as 1/S²."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Softplus())
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 6 * 6, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x))


@pytest.fixture(scope="session")
def sample_model() -> nn.Module:
    torch.manual_seed(0)
    return rc.load_sample_model()


def test_plots_never_import_torch() -> None:
    import ast
    from pathlib import Path

    import retinacodec.absence.plots as plots

    tree = ast.parse(Path(plots.__file__).read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in names if m.split(".")[0] == "torch"]


def test_completeness_from_a_reference_on_a_smooth_model() -> None:
    """Σ attributions = F(x) − F(x_ref) for the input and a hidden layer, to the quadrature's error."""
    model = SmoothNet()
    gen = torch.Generator().manual_seed(1)
    x, ref = torch.randn(3, 3, 8, 8, generator=gen), torch.randn(3, 3, 8, 8, generator=gen)
    ds = absence_attribution(model, x, ref, "all", layers="conv.1", steps=50)
    with torch.no_grad():
        diff = (model(x) - model(ref)).numpy()
    np.testing.assert_allclose(ds["output_difference"].values, diff, rtol=1e-5, atol=1e-6)
    total = ds["input"].sum(("sign", "channel", "y", "x")).values
    # trapezoid rule on a smooth path at 50 steps: relative error O(1/S²) ~ 1e-4
    np.testing.assert_allclose(total, diff, rtol=1e-3, atol=1e-4 * np.abs(diff).max())
    assert float(ds["completeness_relative"].max()) < 1e-3
    assert ds["input"].dims == ("sample", "target", "sign", "channel", "y", "x")
    assert (ds["input"].sel(sign="pos") >= 0).all() and (ds["input"].sel(sign="neg") <= 0).all()
    # fewer steps, larger error: the stated tolerance comes from the quadrature
    coarse = absence_attribution(model, x, ref, "all", steps=2)
    assert float(coarse["completeness_relative"].sel(layer="input").max()) > float(
        ds["completeness_relative"].sel(layer="input").max())


def test_absence_detector_zero_baseline_is_blind_reference_is_not() -> None:
    """The omitted flash gets no attribution from zeros and all of it from the flash-present reference."""
    model = AbsenceDetector()
    ds = omitted_flash_attribution(model, period=5, n_flashes=2, duration=1, intensity=2.0, target=0, steps=50)
    # the response to the omission peaks where the omitted flash sits at the detector's lag
    assert ds.attrs["response_frame"] == DELAY
    assert ds["omitted"].sel(lag=DELAY)
    # the absence unit gains 1; the presence unit loses 0.5 × the flash's mean over the window
    expected = 1.0 - 0.5 * 2.0 / HISTORY
    assert float(ds["output_difference"].sel(baseline="reference")) == pytest.approx(expected, abs=1e-5)
    assert float(ds["mass_fraction"].sel(baseline="reference")) >= 0.5
    assert float(ds["mass_fraction"].sel(baseline="zero")) < 0.05
    # the zero baseline still attributes the present flashes (the presence unit), just not the missing one
    assert float(np.abs(ds["profile"].sel(baseline="zero")).sum()) > 0.05
    # the absence raises the output: the omitted frame's attribution is positive
    assert float(ds["profile"].sel(baseline="reference", lag=DELAY)) == pytest.approx(expected, abs=1e-3)
    assert float(ds["completeness_relative"].max()) < 1e-3
    fig = plot_omitted_flash(ds)
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) >= 2
    plt.close(fig)


def test_gradient_x_input_from_a_reference_and_hidden_layers() -> None:
    """Gradient × (x − x_ref) on the detector: the absence unit carries the difference, at the omitted frame."""
    model = AbsenceDetector()
    x = torch.zeros(1, HISTORY, SIDE, SIDE)
    ref = x.clone()
    ref[0, HISTORY - 1 - DELAY] = 2.0  # the flash present at the detector's lag
    ds = absence_attribution(model, x, ref, 0, layers="layer1", method="gradient_x_input")
    signed = ds["input"].sum("sign").isel(sample=0, target=0)
    assert float(signed.sel(lag=DELAY).sum()) > 0
    assert float(np.abs(signed.drop_sel(lag=DELAY)).sum()) < 1e-6
    layer = rc.layer_contributions(ds, "layer1").sum("sign").isel(sample=0, target=0)
    assert float(layer.isel(channel=0).sum()) > 0.9  # the absence unit
    assert abs(float(layer.isel(channel=1).sum())) < 0.2  # the presence unit barely moves


def test_omitted_flash_on_the_sample_model(sample_model: nn.Module) -> None:
    ds = omitted_flash_attribution(sample_model, period=10)
    assert ds["mass_fraction"].dims == ("baseline",)
    assert float(ds["mass_fraction"].sel(baseline="reference")) >= 0.5
    assert float(ds["mass_fraction"].sel(baseline="zero")) < 0.05
    assert float(ds["completeness_relative"].max()) < 2e-2
    assert int(ds["omitted"].sum()) == ds.attrs["duration"]
    with pytest.raises(ValueError, match="one scalar"):
        omitted_flash_attribution(sample_model, period=10, target="all")
    with pytest.raises(ValueError, match="duration < period"):
        omitted_flash_attribution(sample_model, period=2)


def test_bad_window_shape_is_named(sample_model: nn.Module) -> None:
    with pytest.raises(ValueError, match="history, ny, nx"):
        absence_attribution(sample_model, np.zeros((2, 30, 20, 20), np.float32), None)


@pytest.fixture(scope="session")
def digits_classifier() -> tuple[nn.Module, np.ndarray, np.ndarray]:
    """A linear classifier of scikit-learn's digits 0 and 1 (8×8 images), trained in a second."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = digits.target < 2
    x = torch.from_numpy(digits.images[keep] / 16.0).float()[:, None]
    y = torch.from_numpy(digits.target[keep]).long()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    with torch.no_grad():
        assert (model(x).argmax(1) == y).float().mean() > 0.98
    return model, x.numpy(), y.numpy()


def test_nontarget_attribution_on_digits(digits_classifier: tuple) -> None:
    """Explaining '1' on images of 0: negative attributions lie on the 0's ring, absent from a 1."""
    model, x, y = digits_classifier
    zeros = x[y == 0][:20]
    ds = nontarget_attribution(model, zeros, np.zeros(len(zeros), int), steps=50)
    assert (ds["nontarget"] == 1).all()
    neg = ds["input"].sel(sign="neg")
    assert float(neg.sum()) < 0
    # the 0's concept: pixels brighter in 0s than in 1s
    concept = (x[y == 0].mean(0) - x[y == 1].mean(0))[0] > 0
    mass = np.abs(neg.values).sum(axis=(0, 1))
    assert mass[concept].sum() / mass.sum() > 0.7
    with torch.no_grad():
        logit = model(torch.from_numpy(zeros))[:, 1] - model(torch.zeros(1, 1, 8, 8))[:, 1]
    np.testing.assert_allclose(ds["output_difference"].values, logit.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ds["input"].sum(("sign", "channel", "y", "x")).values, logit.numpy(), rtol=1e-3,
                               atol=1e-4)
    with pytest.raises(ValueError, match="differ from the input's label"):
        nontarget_attribution(model, zeros, np.zeros(len(zeros), int), nontarget=0)


def test_nontarget_defaults_to_the_strongest_other_class() -> None:
    """With more than two classes the default non-target is the highest logit other than the label."""
    model = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(3, 4))
    x = torch.tensor([[5.0, 1.0, 2.0, 0.0], [1.0, 5.0, 0.5, 0.0], [3.0, 1.0, 2.0, 9.0]])
    ds = nontarget_attribution(model, x, [0, 1, 2], method="gradient_x_input")
    np.testing.assert_array_equal(ds["nontarget"].values, [2, 0, 0])
    signed = ds["input"].sum("sign").values  # a linear model: weight row of the non-target × input
    np.testing.assert_allclose(signed, model.weight.detach().numpy()[[2, 0, 0]] * x.numpy(), atol=1e-6)
    assert ds["input"].dims == ("sample", "sign", "feature")


class PlantedUnits(nn.Module):
    """A bright-blob detector (layer1) read by a presence unit and an absence unit (layer2).

    ``layer2`` channel 0 is the spatial sum of the detector (a presence unit), channel 1 is
    ``1 − 0.2 × that sum`` (an absence unit: highest on images without a blob).
    """

    def __init__(self) -> None:
        super().__init__()
        conv1 = nn.Conv2d(1, 1, 3)
        conv2 = nn.Conv2d(1, 2, 1)
        with torch.no_grad():
            conv1.weight.fill_(1 / 9)
            conv1.bias.fill_(-0.5)
            conv2.weight.copy_(torch.tensor([1.0, -0.2]).view(2, 1, 1, 1))
            conv2.bias.copy_(torch.tensor([0.0, 1.0]))
        self.layer1 = nn.Sequential(conv1, nn.ReLU())
        self.layer2 = nn.Sequential(conv2, nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer2(self.layer1(x)).flatten(2).mean(2)


def blob_images(n: int = 600, side: int = 16, share: float = 0.1, seed: int = 0) -> torch.Tensor:
    """Gray noise (σ 0.3); a share of the images holds a bright 3×3 blob (value 2) at a random place."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.3, (n, 1, side, side)).astype(np.float32)
    for i in np.flatnonzero(rng.random(n) < share):
        y0, x0 = rng.integers(0, side - 3, 2)
        x[i, 0, y0:y0 + 3, x0:x0 + 3] = 2.0
    return torch.from_numpy(x)


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # the absence unit's random pastes tie exactly
def test_absence_test_flags_the_planted_absence_unit_only() -> None:
    model, x = PlantedUnits(), blob_images()
    res = absence_test(model, x, "layer2", n_top=100, seed=0)
    assert res.attrs["patch_size"] == 5 and res.attrs["stride"] == 1  # 64/224 and 16/224 of 16 pixels
    assert bool(res["drop"].sel(unit=1)) and bool(res["drop_bh"].sel(unit=1))
    assert not bool(res["drop"].sel(unit=0)) and not bool(res["drop_bh"].sel(unit=0))
    assert res.attrs["share_drop"] == pytest.approx(0.5)
    means = res["activation_mean"].sel(unit=1)
    assert float(means.sel(condition="lowest")) < float(means.sel(condition="random"))
    assert res["p_bh"].values.min() >= res["p"].values.min()
    with pytest.raises(ValueError, match="smaller patch_size"):
        absence_test(model, x, "layer2", patch_size=16, stride=1)
    fig = plot_absence_test(res)
    assert "50 %" in fig.axes[0].get_title()
    plt.close(fig)


class PlantedFlashUnits(nn.Module):
    """Windows version of :class:`PlantedUnits`: a detector of a bright full-field frame at lag DELAY,
    read by a presence unit (channel 0) and an absence unit (channel 1, ``1 − 0.2 × detector``)."""

    def __init__(self) -> None:
        super().__init__()
        self.config = SimpleNamespace(history=HISTORY, input_size=(SIDE, SIDE))
        conv1, conv2 = nn.Conv2d(HISTORY, 1, SIDE), nn.Conv2d(1, 2, 1)
        with torch.no_grad():
            conv1.weight.zero_()
            conv1.weight[0, HISTORY - 1 - DELAY] = 1.0 / SIDE**2
            conv1.bias.fill_(-0.5)
            conv2.weight.copy_(torch.tensor([1.0, -0.2]).view(2, 1, 1, 1))
            conv2.bias.copy_(torch.tensor([0.0, 1.0]))
        self.layer1 = nn.Sequential(conv1, nn.ReLU())
        self.layer2 = nn.Sequential(conv2, nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer2(self.layer1(x)).flatten(1)


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")
def test_absence_test_in_time_flags_the_missing_flash_unit_only() -> None:
    """Pieces in time: runs of frames pasted at their own lags; only the unit that a flash lowers is flagged."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.3, (600, HISTORY, SIDE, SIDE)).astype(np.float32)
    for i in np.flatnonzero(rng.random(600) < 0.1):
        x[i, rng.integers(0, HISTORY)] = 2.0  # a bright flash at a random frame
    model = PlantedFlashUnits()
    res = absence_test(model, torch.from_numpy(x), "layer2", pieces="time", seed=0)
    assert res.attrs["pieces"] == "time" and res.attrs["patch_size"] == 3 and res.attrs["patch_units"] == "frames"
    assert bool(res["drop_bh"].sel(unit=1)) and not bool(res["drop"].sel(unit=0))
    with pytest.raises(ValueError, match="pieces='space'"):
        absence_test(PlantedUnits(), blob_images(), "layer2", pieces="time")


def test_extreme_inputs_are_ordered_and_recomputable(sample_model: nn.Module) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 40, 20, 20, generator=gen)
    ds = extreme_inputs(sample_model, x, "layer1", channels=[0, 3], k=5)
    act = ds["activation"]
    assert (act.sel(end="highest").diff("rank") <= 0).all() and (act.sel(end="lowest").diff("rank") >= 0).all()
    assert (act.sel(end="highest").min("rank") >= act.sel(end="lowest").max("rank")).all()
    again = unit_activations(sample_model, ds["input"].sel(unit=3, end="highest").values, "layer1", [3])[:, 0]
    np.testing.assert_allclose(again, act.sel(unit=3, end="highest").values, rtol=1e-5, atol=1e-6)
    assert ds["input"].dims == ("unit", "end", "rank", "lag", "y", "x") and int(ds["lag"][-1]) == 0
    # a position instead of the spatial mean
    at = extreme_inputs(sample_model, x, "layer2", position=(2, 3), k=3)
    with torch.no_grad():
        direct = activation_map(sample_model.eval(), x[at["index"].values[1, 0]], "layer2")[:, 1, 2, 3].numpy()
    np.testing.assert_allclose(direct, at["activation"].values[1, 0], rtol=1e-5, atol=1e-6)
    fig = plot_extreme_windows(ds)
    assert len(fig.axes) == 2 * 3
    plt.close(fig)


def test_extreme_patches_match_the_model_on_the_crop() -> None:
    model, x = PlantedUnits(), blob_images(200)
    ds = extreme_patches(model, x, "layer2", k=4)
    with torch.no_grad():
        again = activation_map(model, torch.from_numpy(ds["patch"].sel(unit=1).values.reshape(-1, 1, 5, 5)), "layer2")
    np.testing.assert_allclose(again[:, 1].mean((1, 2)).numpy().reshape(2, 4), ds["activation"].sel(unit=1).values,
                               rtol=1e-5, atol=1e-6)
    # the absence unit's lowest patches hold the blob; its highest are blank
    assert float(ds["patch"].sel(unit=1, end="lowest").max()) == pytest.approx(2.0)
    assert float(ds["patch"].sel(unit=1, end="highest").max()) < 2.0


@pytest.mark.parametrize("direction", ["max", "min"])
def test_optimized_input_moves_the_unit(sample_model: nn.Module, direction: str) -> None:
    """A 40-frame movie for a sample-model unit, and an image for the smooth net, beat random inputs."""
    sign = 1 if direction == "max" else -1
    movie = optimize_input(sample_model, "layer2", 1, position=(3, 3), direction=direction, steps=150, bound=1.0)
    assert movie.dims == ("lag", "y", "x") and float(np.abs(movie).max()) <= 1.0
    rand = torch.from_numpy(np.random.default_rng(0).choice([-1.0, 1.0], (256, 40, 20, 20)).astype(np.float32))
    with torch.no_grad():
        random_acts = activation_map(sample_model.eval(), rand, "layer2")[:, 1, 3, 3].numpy()
    assert sign * movie.attrs["activation"] > sign * movie.attrs["activation_start"]
    assert sign * movie.attrs["activation"] > np.max(sign * random_acts)
    image = optimize_input(SmoothNet(), "conv", 2, direction=direction, shape=(3, 8, 8), steps=100)
    assert image.dims == ("channel", "y", "x")
    assert sign * image.attrs["activation"] > sign * image.attrs["activation_start"] + 0.1
    if direction == "min":  # read before the Softplus, which is positive everywhere
        assert unit_module(SmoothNet(), "conv") == "conv.0" and image.attrs["activation"] < 0


def test_mode_projection_recovers_a_planted_mode(sample_model: nn.Module) -> None:
    gen = torch.Generator().manual_seed(0)
    x, ref = torch.randn(2, 40, 20, 20, generator=gen), torch.randn(2, 40, 20, 20, generator=gen)
    ds = absence_attribution(sample_model, x, ref, "sum", layers="layer1", steps=8)
    layer = ds["layer1"].isel(target=0).sum(("layer1_y", "layer1_x"))  # (sample, sign, channel)
    features = layer.transpose("sample", "sign", "layer1_channel").values.reshape(2, -1)
    rng = np.random.default_rng(0)
    atoms = np.stack([features[0] / np.linalg.norm(features[0]), np.abs(rng.normal(size=16))]).astype(np.float32)
    modes = xr.Dataset({"modes": (("mode", "feature"), atoms)},
                       coords={"mode": [0, 1], "mode_layer": ("mode", ["layer1", "layer1"]), "sae": ["layer1"],
                               "layer": ("feature", ["layer1"] * 16), "sign": ("feature", ["pos"] * 8 + ["neg"] * 8),
                               "channel": ("feature", list(range(8)) * 2)})
    proj = mode_projection(ds, modes)
    assert float(proj["r2"].isel(sample=0, target=0, sae=0)) == pytest.approx(1.0, abs=1e-4)
    assert float(proj["loading"].isel(sample=0, target=0, mode=0)) == pytest.approx(np.linalg.norm(features[0]),
                                                                                    rel=1e-3)
    assert float(proj["cosine"].isel(sample=0, target=0, mode=0)) == pytest.approx(1.0, abs=1e-5)
    # as sparse as a TopK SAE's codes: one mode, the planted one
    one = mode_projection(ds, modes.assign_attrs(sae_kind="topk", k=1))
    assert one.attrs["max_modes"] == 1
    assert float(one["loading"].isel(sample=0, target=0, mode=1)) == 0.0
    assert float(one["r2"].isel(sample=0, target=0, sae=0)) == pytest.approx(1.0, abs=1e-4)
    assert float(one["r2"].isel(sample=1, target=0, sae=0)) <= float(proj["r2"].isel(sample=1, target=0, sae=0))
    with pytest.raises(ValueError, match="layers="):
        mode_projection(absence_attribution(sample_model, x[:1], ref[:1], "sum", steps=2), modes)


def test_extreme_mode_windows_rank_frames_by_the_atom(sample_model: nn.Module) -> None:
    """A planted feature series: the frames projecting most and least on a mode's atom, with their windows."""
    rng = np.random.default_rng(0)
    n_frames = 120
    stimulus = rng.choice([-1.0, 1.0], (n_frames, 20, 20)).astype(np.float32)
    rec = xr.Dataset({"stimulus": (("frame", "y", "x"), stimulus)},
                     coords={"frame": np.arange(n_frames), "block": ("frame", ["train"] * n_frames)})
    frames = np.arange(40, 100)
    features = rng.normal(size=(frames.size, 4)).astype(np.float32)
    atom = np.array([1.0, -1.0, 0.0, 0.0], dtype=np.float32)
    modes = xr.Dataset({"modes": (("mode", "feature"), atom[None]), "contributions": (("frame", "feature"), features)},
                       coords={"mode": [0], "mode_layer": ("mode", ["layer1"]), "frame": frames},
                       attrs={"source": "contributions"})
    ds = extreme_mode_windows(sample_model, rec, modes, 0, k=3)
    score = (features[:, 0] - features[:, 1]) / np.sqrt(2)
    np.testing.assert_array_equal(ds["frame"].sel(end="highest").values, frames[np.argsort(score)[::-1][:3]])
    np.testing.assert_array_equal(ds["frame"].sel(end="lowest").values, frames[np.argsort(score)[:3]])
    np.testing.assert_allclose(ds["score"].sel(end="lowest").values, np.sort(score)[:3], rtol=1e-5)
    f = int(ds["frame"].sel(end="highest", rank=0))
    expected = sample_model.normalization.apply(stimulus[f - 39:f + 1])
    np.testing.assert_allclose(ds["input"].sel(end="highest", rank=0).values, expected)
    with pytest.raises(ValueError, match="mode 5"):
        extreme_mode_windows(sample_model, rec, modes, 5)
    # a whole recording in chunks: the same extremes as extreme_inputs on all its windows at once
    everything, frames_all = recording_windows(sample_model, rec)
    whole = extreme_windows(sample_model, rec, "layer1", [2], position=(6, 6), k=4, chunk_size=25)
    direct = extreme_inputs(sample_model, everything, "layer1", [2], position=(6, 6), k=4, frames=frames_all)
    np.testing.assert_array_equal(whole["frame"].values, direct["frame"].values)
    np.testing.assert_allclose(whole["input"].values, direct["input"].values)
    windows, kept = recording_windows(sample_model, rec, n=10, seed=1)
    assert windows.shape == (10, 40, 20, 20) and kept.min() >= 39 and np.all(np.diff(kept) > 0)
    with pytest.raises(ValueError, match="history before each"):
        recording_windows(sample_model, rec, np.array([10]))
