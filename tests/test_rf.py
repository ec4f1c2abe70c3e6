"""Receptive fields: STA, IRFs, rank-1 parts, ellipses and RFs per mode (fast; small data, one thread)."""

import copy

import numpy as np
import pytest
import torch
import xarray as xr

import retinacodec as rc
from retinacodec.model.bncnn import BNCNN, BNCNNConfig
from retinacodec.model.windows import Normalization, WindowedData
from retinacodec.recording import make_recording
from retinacodec.rf import (
    active_combinations,
    centre_polarity,
    fit_ellipse,
    instantaneous_rf,
    map_correlation,
    mode_combination_irfs,
    mode_map,
    polarity_and_latency,
    rank1,
    select_spaced,
    sta,
    sta_reliability,
)
from retinacodec.rf.stem import StemTranspose
from retinacodec.rf.stimulus import window_batch

torch.set_num_threads(1)
H = 8  # history of the small models and recordings


@pytest.fixture(scope="session")
def sample():
    rec, truth = rc.load_sample()
    return rec, truth, rc.load_sample_model()


def ln_recording(n=6000, size=10, seed=0):
    """Two LN cells (ON at (3, 4), OFF at (6, 6)) on binary white noise, Poisson counts; test block at the end."""
    rng = np.random.default_rng(seed)
    stim = rng.choice([-1.0, 1.0], size=(n, size, size)).astype(np.float32)
    yy, xx = np.mgrid[:size, :size]
    kern_t = np.exp(-np.arange(H) / 1.5)
    rates = []
    for (cy, cx), sign in (((3, 4), 1), ((6, 6), -1)):
        sp = sign * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 2.0)
        drive = np.convolve(np.einsum("tyx,yx->t", stim, sp), kern_t)[:n]
        rates.append(np.log1p(np.exp(drive - 1.0)) * 0.5)
    rate = np.stack(rates, 1)
    block = np.array(["train"] * (n - 400) + ["test"] * 400)
    repeat = np.array([-1] * (n - 400) + [0] * 400)
    rec = make_recording(stim, rng.poisson(rate), np.arange(n) * 0.01, block=block, repeat=repeat,
                         frame_rate_hz=100.0, pixel_size_um=30.0)
    return rec, rate


def tiny_model(n_cells=2, size=10, seed=0, separable=0):
    torch.manual_seed(seed)
    model = BNCNN(BNCNNConfig(n_cells=n_cells, history=H, input_size=(size, size), channels=(3, 3),
                              kernel_sizes=(5, 3), separable=separable))
    with torch.no_grad():
        model.train()
        model(torch.randn(32, H, size, size))
    model.eval()
    model.normalization = Normalization(0.0, 1.0)
    return model


# ---------------------------------------------------------------- rank-1, ellipse, polarity

def test_rank1_recovers_a_separable_filter_and_matches_svd():
    rng = np.random.default_rng(0)
    t = np.sin(np.linspace(0, 3, 12))
    s = rng.standard_normal((5, 6))
    s -= s.mean()
    f = np.stack([np.einsum("l,yx->lyx", t, s), -2 * np.einsum("l,yx->lyx", t, s)])
    da = xr.DataArray(f, dims=("cell", "lag", "y", "x"), coords={"cell": [4, 9], "lag": np.arange(12) * 0.01},
                      attrs={"pixel_size_um": 10.0})
    r = rank1(da)
    assert r["spatial"].dims == ("cell", "y", "x") and r["temporal"].dims == ("cell", "lag")
    np.testing.assert_allclose(r["explained"], 1.0, atol=1e-6)
    for c in range(2):
        sp, tp = r["spatial"][c].values, r["temporal"][c].values
        recon = r["singular_value"][c].values * np.einsum("l,yx->lyx", tp, sp)
        np.testing.assert_allclose(recon, f[c], atol=1e-8)
        peak = f[c][np.abs(f[c]).max(axis=(1, 2)).argmax()]
        assert np.corrcoef(peak.ravel(), sp.ravel())[0, 1] > 0.99  # bscope's lowranksta sign
    # a random filter: same first pair and variance share as numpy's SVD
    g = rng.standard_normal((3, 7, 4, 4))
    r = rank1(xr.DataArray(g, dims=("frame", "lag", "y", "x")))
    m = g.reshape(3, 7, 16) - g.mean(axis=(1, 2, 3))[:, None, None]
    u, sv, vt = np.linalg.svd(m, full_matrices=False)
    np.testing.assert_allclose(np.abs(r["spatial"].values.reshape(3, 16)), np.abs(vt[:, 0]), atol=1e-8)
    np.testing.assert_allclose(r["explained"], sv[:, 0] ** 2 / (sv**2).sum(1), rtol=1e-8)
    with pytest.raises(ValueError, match="lag"):
        rank1(xr.DataArray(g[:, 0], dims=("frame", "y", "x")))


def test_fit_ellipse_and_polarity_on_known_gaussians():
    gy, gx = np.mgrid[0:16, 0:20].astype(float)
    maps, truth = [], [(5.3, 7.8, 2.5, 1.2, 0.4, 1.0), (10.2, 12.1, 1.5, 1.5, 0.0, -0.7)]
    for y0, x0, s1, s2, th, a in truth:
        u = (gx - x0) * np.cos(th) + (gy - y0) * np.sin(th)
        v = -(gx - x0) * np.sin(th) + (gy - y0) * np.cos(th)
        maps.append(a * np.exp(-0.5 * (u**2 / s1**2 + v**2 / s2**2)))
    spatial = xr.DataArray(np.stack(maps), dims=("cell", "y", "x"), coords={"cell": [1, 2]},
                           attrs={"pixel_size_um": 50.0})
    e = fit_ellipse(spatial)
    np.testing.assert_allclose(e["centre_y"], [5.3, 10.2], atol=1e-3)
    np.testing.assert_allclose(e["centre_x_um"], [7.8 * 50, 12.1 * 50], atol=0.1)
    np.testing.assert_allclose(e["sigma_major"], [2.5, 1.5], atol=1e-3)
    np.testing.assert_allclose(e["sigma_minor"], [1.2, 1.5], atol=1e-3)
    assert abs(float(e["angle"][0]) - 0.4) < 1e-3
    np.testing.assert_allclose(e["width_um"], 2 * 2 * 50 * np.array([2.5, 1.5]), rtol=1e-3)  # the 2σ contour
    # a crop placed back in the frame
    crop = spatial.isel(y=slice(2, 10), x=slice(3, 13)).assign_coords(y_origin=("cell", [2, 2]),
                                                                       x_origin=("cell", [3, 3]))
    assert abs(float(fit_ellipse(crop)["centre_x"][0]) - 7.8) < 1e-3
    lag = xr.DataArray(np.arange(10)[::-1] * 0.01, dims="lag")
    temporal = xr.DataArray(np.stack([np.eye(10)[7], -np.eye(10)[2]]), dims=("cell", "lag"),
                            coords={"lag": lag, "cell": [1, 2]})
    p = polarity_and_latency(spatial, temporal)
    # cell 1: positive centre × positive filter = ON at lag 0.02 s; cell 2: negative × negative = ON at 0.07 s
    assert list(p["polarity_label"].values) == ["ON", "ON"]
    np.testing.assert_allclose(p["peak_latency"], [0.02, 0.07])
    assert list(polarity_and_latency(-spatial, temporal)["polarity"].values) == [-1, -1]
    with pytest.raises(ValueError, match="pixel_size_um"):
        fit_ellipse(spatial.assign_attrs(pixel_size_um=None).drop_attrs())
    # centre polarity: one field with an OFF blob at cell 1's centre and a stronger ON blob at cell 2's
    full = -np.einsum("l,yx->lyx", np.eye(10)[7], maps[0]) - 3 * np.einsum("l,yx->lyx", np.eye(10)[5], maps[1])
    rf = xr.DataArray(np.stack([full, full])[None], dims=("frame", "cell", "lag", "y", "x"),
                      coords={"cell": [1, 2], "lag": lag})
    assert centre_polarity(rf, e).values.tolist() == [[-1, 1]]


# ---------------------------------------------------------------- STA

def test_sta_streams_the_brute_force_average_and_finds_ln_cells():
    rec, _ = ln_recording()
    ds = sta(rec, history=H, chunk_size=700, n_bins=8)
    data = WindowedData(rec, H)
    targets = data.targets("train")
    w = data.spikes[targets].double()
    win = data.windows[torch.as_tensor(targets) - H + 1].double()
    brute = torch.einsum("tc,tlyx->clyx", w, win) / w.sum(0)[:, None, None, None] - win.mean(0)
    np.testing.assert_allclose(ds["sta"].values, brute.numpy(), atol=1e-5)
    assert ds["sta"].dims == ("cell", "lag", "y", "x")
    np.testing.assert_allclose(ds["lag"], (H - 1 - np.arange(H)) * 0.01)
    r = rank1(ds["sta"])
    e = fit_ellipse(r["spatial"])
    np.testing.assert_allclose(e["centre_y"], [3, 6], atol=0.3)
    np.testing.assert_allclose(e["centre_x"], [4, 6], atol=0.3)
    assert list(polarity_and_latency(r["spatial"], r["temporal"])["polarity_label"].values) == ["ON", "OFF"]
    rate = ds["rate"].values  # the LN nonlinearity (softplus) rises with the generator signal
    assert np.all(np.diff(rate, axis=1)[:, 2:] > -0.5) and np.all(rate[:, -1] > 3 * rate[:, 0])
    assert rc.rf.rf_centres(rec, history=H) == [(3.0, 4.0), (6.0, 6.0)]
    with pytest.raises(ValueError, match="history"):
        sta(rec.isel(frame=slice(0, 5)), history=H)


def test_map_correlation_smoothing_and_sta_reliability():
    yy, xx = np.mgrid[:12, :12]
    true = np.exp(-((yy - 5) ** 2 + (xx - 6) ** 2) / 4.0)
    noisy = true + np.random.default_rng(0).normal(0, 0.15, (2, 12, 12))
    a = xr.DataArray(np.stack([true, true]), dims=("cell", "y", "x"), coords={"cell": [4, 9]})
    b = xr.DataArray(noisy, dims=("cell", "y", "x"), coords={"cell": [4, 9]})
    raw = map_correlation(a, b)
    assert raw.dims == ("cell",) and list(raw["cell"].values) == [4, 9]
    np.testing.assert_allclose(raw.values, [np.corrcoef(true.ravel(), n.ravel())[0, 1] for n in noisy])
    smooth = map_correlation(a, b, smooth_px=0.7)  # smoothing removes pixel noise, not the broad map
    assert np.all(smooth.values > raw.values) and smooth.attrs["smooth_px"] == 0.7
    with pytest.raises(ValueError, match="differ in shape"):
        map_correlation(a, b.isel(x=slice(0, 10)))
    with pytest.raises(ValueError, match="smooth_px"):
        map_correlation(a, b, smooth_px=-1)
    # the STA of an LN cell gets more reliable with more spikes
    rec, _ = ln_recording(n=6000)
    short = sta_reliability(rec.isel(frame=slice(3000, 6000)), history=H)
    long = sta_reliability(rec, history=H)
    assert long.dims == ("cell",) and np.all(long.values > short.values) and np.all(long.values <= 1)
    assert np.all(long.values > 0.9)
    with pytest.raises(ValueError, match="too few"):
        sta_reliability(rec.isel(frame=slice(0, 30)), history=H)


def test_sample_sta_and_mean_irf_agree_to_the_sta_noise_ceiling(sample):
    """Rank-1 maps of the STA and of the model's mean IRF (test repeat 0), every cell of the sample.

    The raw whole-frame correlation is bounded by the STA's noise (reliability 0.82-0.97); it
    reaches that ceiling (within 0.05), and with both maps smoothed by σ 0.5 px it is >= 0.9.
    """
    rec, _, model = sample
    s = rank1(sta(rec, 40, nonlinearity=False)["sta"])["spatial"]
    frames = np.flatnonzero((rec["block"].values == "test") & (rec["repeat"].values == 0))[40:]
    mean = sum(instantaneous_rf(model, rec, frames=frames[i:i + 300])["irf"].sum("frame")
               for i in range(0, frames.size, 300)) / frames.size
    m = rank1(mean)["spatial"]
    raw = map_correlation(s, m).values
    ceiling = sta_reliability(rec, 40).values
    assert np.all(raw >= ceiling - 0.05), (raw, ceiling)
    assert np.all(map_correlation(s, m, smooth_px=0.5).values >= 0.9)


# ---------------------------------------------------------------- IRFs

def test_stem_transpose_equals_autograd():
    torch.manual_seed(0)
    for pad in (0, 2):
        conv = torch.nn.Conv2d(6, 4, 5, padding=pad)
        g = torch.randn(3, 4, 12 + 2 * pad - 4, 11 + 2 * pad - 4)
        expected = torch.nn.grad.conv2d_input((3, 6, 12, 11), conv.weight, g, padding=pad)
        torch.testing.assert_close(StemTranspose(conv, (12, 11))(g), expected, atol=1e-5, rtol=1e-4)
    assert not StemTranspose.supports(torch.nn.Conv2d(6, 4, 5, stride=2))


def test_irf_equals_per_cell_autograd_on_the_sample(sample, tmp_path):
    rec, _, model = sample
    frames = np.flatnonzero((rec["block"].values == "test") & (rec["repeat"].values == 0))[60:66]
    ds = instantaneous_rf(model, rec, frames=frames, cells=[1, 7])
    assert ds["irf"].dims == ("frame", "cell", "lag", "y", "x") and list(ds["cell"].values) == [1, 7]
    x = torch.from_numpy(window_batch(rec["stimulus"], frames, 40, model.normalization)).requires_grad_()
    y = model.eval()(x)
    for k, c in enumerate((1, 7)):
        (g,) = torch.autograd.grad(y[:, c].sum(), x, retain_graph=True)
        np.testing.assert_allclose(ds["irf"].isel(cell=k).values, g.numpy(), atol=1e-6 * float(g.abs().max()) + 1e-9)
        np.testing.assert_allclose(ds["rate"].isel(cell=k).values, y[:, c].detach().numpy(), rtol=1e-5)
    assert ds.attrs["stem"].startswith("fourier")
    # reductions: rank-1 of a crop = crop of the full IRF, then rank-1; streamed file = in memory
    small = instantaneous_rf(model, rec, frames=frames, cells=[1, 7], crop=8, rank1=True, out=tmp_path / "irf.nc")
    with xr.open_dataset(small) as saved:
        y0, x0 = int(saved["y_origin"][0]), int(saved["x_origin"][0])
        full = ds["irf"].isel(cell=0, y=slice(y0, y0 + 8), x=slice(x0, x0 + 8))
        np.testing.assert_allclose(np.abs(saved["spatial"].isel(cell=0).values),
                                   np.abs(rank1(full)["spatial"].values), atol=1e-5)
        assert saved.sizes["frame"] == frames.size and saved.attrs["crop"] == 8
    with pytest.raises(ValueError, match="cell ids"):
        instantaneous_rf(model, rec, frames=frames, cells=[99])
    with pytest.raises(ValueError, match="frames"):
        instantaneous_rf(model, rec, frames=np.array([3]))


def test_irf_integrated_gradients_complete_and_fallback_without_stem():
    rec, _ = ln_recording(n=600)
    model = tiny_model()
    ig = instantaneous_rf(model, rec, method="integrated_gradients", steps=64)
    assert ig.sizes["frame"] == 400 - H + 1  # default: test repeat 0 with a full history
    rel = np.abs(ig["completeness_error"]) / (np.abs(ig["rate"]) + 1e-3)
    assert float(np.median(rel)) < 1e-2
    # the same gradients by autograd all the way down when the stem is not a stride-1 convolution
    plain = instantaneous_rf(model, rec, frames=np.arange(100, 104), max_memory_gb=1e-4)
    model.layer1.conv.stride = (1, 1)
    model.layer1.conv.padding_mode = "reflect"  # unsupported by StemTranspose (same output: padding is 0)
    other = instantaneous_rf(model, rec, frames=np.arange(100, 104))
    assert other.attrs["stem"] == "autograd"
    np.testing.assert_allclose(plain["irf"], other["irf"], atol=1e-6)


def test_separable_model_irfs_and_contributions_equal_its_collapsed_twins():
    rec, _ = ln_recording(n=600)
    model = tiny_model(separable=2)
    for p in model.layer1.conv.parameters():  # random factors and bias, not the initial zeros
        torch.nn.init.normal_(p, std=0.3)
    twin = copy.deepcopy(model).collapse()
    twin.normalization = model.normalization
    frames = np.arange(100, 110)
    a, b = (instantaneous_rf(m, rec, frames=frames, method="integrated_gradients", steps=32) for m in (model, twin))
    assert a.attrs["stem"] == b.attrs["stem"] and a.attrs["stem"].startswith("fourier")  # transposed as a conv
    np.testing.assert_allclose(a["irf"], b["irf"], atol=1e-5 * float(np.abs(b["irf"]).max()))
    c, d = (rc.contributions_for_recording(m, rec, ["layer1", "layer2"], frames=frames) for m in (model, twin))
    for name in ("layer1", "layer2"):
        np.testing.assert_allclose(c[name], d[name], atol=1e-5 * float(np.abs(d[name]).max()))
    assert float(np.abs(c["completeness_error"]).max()) < 1e-4


# ---------------------------------------------------------------- per mode

def test_select_spaced_is_greedy_max_min_by_strength():
    times = np.array([0, 1, 2, 10, 11, 30, 31])
    strength = np.array([5, 9, 1, 2, 8, 3, 7])
    picked = select_spaced(times, strength, 3)
    assert list(times[picked]) == [1, 31, 11]  # strongest, then farthest, then farthest from both
    assert len(select_spaced(times, strength, 10)) == 7
    sets, counts = active_combinations(np.array([[0.5, 0, 0.2], [0.5, 0, 0], [0, 0, 0], [0.02, 0.005, 0]]))
    assert list(sets) == [(0, 2), (0,), (), (0,)] and counts.most_common(1) == [((0,), 2)]


def test_mode_irfs_on_the_sample_follow_the_true_pathway(sample):
    """Loadings made of each cell's true ON and OFF drive: IRFs grouped by the ON mode are ON-polar, OFF by OFF."""
    rec, truth, model = sample
    frames = np.flatnonzero((rec["block"].values == "test") & (rec["repeat"].values == 0))[40:400]
    irf = instantaneous_rf(model, rec, frames=frames, rank1=True)

    def above_median(d):
        d = d.sel(frame=frames) - d.sel(frame=frames).median("frame")
        return d.clip(min=0) / d.max("frame")

    load = xr.concat([above_median(truth["on_drive"]), above_median(truth["off_drive"])], dim="mode")
    load = load.assign_coords(mode=["on", "off"]).transpose("frame", "cell", "mode")
    combos = mode_combination_irfs(load, irf, frames_per_cell=4)
    assert list(combos["label"].values[:2]) in (["on", "off"], ["off", "on"]) and combos.attrs["loadings"] == "per cell"
    pol = polarity_and_latency(combos["mean_spatial"], combos["mean_temporal"])["polarity"]
    for cell, kind in zip(truth["cell"].values, truth["cell_type"].values, strict=True):
        if kind in ("ON", "ON-OFF"):
            assert int(pol.sel(cell=cell)[list(combos["label"].values).index("on")]) == 1
        if kind in ("OFF", "ON-OFF"):
            assert int(pol.sel(cell=cell)[list(combos["label"].values).index("off")]) == -1
    ex = combos["example_frame"].values
    assert np.isin(ex[ex >= 0], frames).all()
    rates = combos["example_rate_hz"].values
    assert np.all(rates[np.isfinite(rates)] > 1.0)  # only frames where the model rate exceeds 1 Hz
    # population loadings (frame, mode) are shared by all cells
    pop = mode_combination_irfs(load.isel(cell=0).drop_vars("cell"), irf, top=2)
    assert pop.attrs["loadings"] == "population" and pop.sizes["combination"] <= 2


def test_mode_map_matches_brute_force_and_is_linear_in_the_atom():
    rec, _ = ln_recording(n=600)
    model = tiny_model()
    frames = np.array([150, 200])
    feature = xr.DataArray(np.zeros(6), dims="feature",
                           coords={"layer": ("feature", ["layer1"] * 6), "sign": ("feature", ["pos"] * 3 + ["neg"] * 3),
                                   "channel": ("feature", [0, 1, 2] * 2)})
    a = feature.copy(data=[1.0, 0, 0.5, 0, 0, 0])
    b = feature.copy(data=[0, 0, 0, 0.3, 1.0, 0])
    kw = dict(method="activation_x_gradient", units_per_pass=7)
    ma, mb, mab = (mode_map(model, rec, frames, atom, cell=1, **kw) for atom in (a, b, a + b))
    assert ma.dims == ("frame", "lag", "y", "x")
    np.testing.assert_allclose(mab, ma + mb, atol=1e-6)
    # brute force for one frame: every unit's input gradient, one at a time
    x = torch.from_numpy(window_batch(rec["stimulus"], frames[:1], H, model.normalization)).requires_grad_()
    act = model.layer1(x)
    c = rc.contributions(model, x.detach(), "layer1", target=[1], method="activation_x_gradient")["layer1"]
    c = c.isel(sample=0, target=0).values
    c = c / np.abs(c).max()
    expected = np.zeros(x.shape[1:])
    for ch, y, xx in zip(*np.nonzero(c), strict=True):
        w = {0: 1.0, 2: 0.5}.get(int(ch), 0.0) if c[ch, y, xx] > 0 else 0.0
        if w == 0:
            continue
        (g,) = torch.autograd.grad(act[0, ch, y, xx], x, retain_graph=True)
        expected += w * c[ch, y, xx] * g[0].numpy() / np.linalg.norm(g.numpy())
    np.testing.assert_allclose(ma.isel(frame=0).values, expected, atol=1e-5)
    with pytest.raises(ValueError, match="atom"):
        mode_map(model, rec, frames, feature, cell=1)
