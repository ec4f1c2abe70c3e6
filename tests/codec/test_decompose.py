"""CODEC step 2: decomposition into modes, analyses, interventions, CLI, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from retinacodec import analyses
from retinacodec.codec import decompose, fit_modes, pre_nonlinearity, save_modes
from retinacodec.interventions import PERCENTS, intervention_curves, masked
from retinacodec.models import BNCNN, preset_config
from retinacodec.recording import make_recording
from retinacodec.sample import sample_paths
from retinacodec.windows import Normalization

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny():
    """A random 2-cell model on 8×8 frames and a short recording with a train and a test block."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n_train, n_test, ny = 400, 120, 8
    stim = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(n_train + n_test, ny, ny))
    block = np.r_[np.full(n_train, "train"), np.full(n_test, "test")]
    repeat = np.r_[np.full(n_train, -1), np.zeros(n_test, dtype=int)]
    rec = make_recording(stim, rng.poisson(0.2, size=(n_train + n_test, 2)), np.arange(n_train + n_test) / 100.0,
                         block=block, repeat=repeat, frame_rate_hz=100.0, pixel_size_um=50.0)
    model = BNCNN(preset_config("sample", n_cells=2, input_size=(ny, ny), history=10, kernel_sizes=(3, 3),
                                channels=(4, 4))).eval()
    model.normalization = Normalization(0.0, 1.0)
    return model, rec


def _features(n_frames: int = 300, n_cells: int = 2, seed: int = 0) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    values = np.abs(rng.normal(size=(n_frames, n_cells, 8))).astype(np.float32)
    values[..., 4:] *= -1
    return xr.DataArray(values, dims=("frame", "cell", "feature"), name="contributions",
                        coords={"frame": np.arange(n_frames), "cell": np.arange(n_cells),
                                "layer": ("feature", ["layer1"] * 4 + ["layer1"] * 4),
                                "sign": ("feature", ["pos"] * 4 + ["neg"] * 4),
                                "channel": ("feature", [0, 1, 2, 3] * 2)})


def test_decompose_layout_and_netcdf(tiny, tmp_path):
    model, rec = tiny
    ds = decompose(model, rec, ["layer1", "layer2"], k=2, n_fit_frames=300, progress=False, max_epochs=5)
    n_frames = 120 - 9
    assert ds["loadings"].dims == ("frame", "cell", "mode")
    assert ds["loadings"].shape[:2] == (n_frames, 2)
    assert ds.sizes["feature"] == 2 * (2 * 4)
    assert list(ds["sae"].values) == ["layer1", "layer2"]
    assert set(ds["mode_layer"].values) == {"layer1", "layer2"}
    # atoms are zero outside their own layer
    l1 = ds["modes"].where(ds["mode_layer"] == "layer1", drop=True)
    assert np.all(l1.where(l1["layer"] == "layer2", drop=True).values == 0)
    assert (ds["loadings"] >= 0).all()
    path = save_modes(ds, tmp_path / "modes.nc")
    back = xr.load_dataset(path)
    xr.testing.assert_allclose(back["loadings"], ds["loadings"])
    assert back.attrs["sae_kind"] == "topk" and back.attrs["output"] == "generator"


def test_activation_modes_read_before_the_relu(tiny):
    model, rec = tiny
    assert pre_nonlinearity(model, "layer1") == "layer1.noise"
    ds = decompose(model, rec, ["layer1"], source="activations", k=2, n_fit_frames=300, progress=False,
                   max_epochs=5)
    assert ds["loadings"].dims == ("frame", "mode")
    assert (ds["activations"].where(ds["sign"] == "neg", drop=True) < 0).any()  # pre-ReLU: negative parts exist


def test_concatenated_layers_make_one_sae(tiny):
    model, rec = tiny
    ds = decompose(model, rec, ["layer1+layer2"], k=2, n_fit_frames=300, progress=False, max_epochs=5)
    assert list(ds["sae"].values) == ["layer1+layer2"]
    assert (ds["modes"].where(ds["layer"] == "layer2", drop=True) != 0).any()


def test_bad_input_nan_contributions():
    f = _features()
    f[3, 1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_modes(f, f, ["layer1"], max_epochs=2)


def test_bad_input_more_active_latents_than_atoms():
    f = _features()
    with pytest.raises(ValueError, match="k=20 active latents"):
        fit_modes(f, f, ["layer1"], k=20, expansion=1.0, max_epochs=2)


def test_bad_input_layer_without_contributions():
    f = _features()
    with pytest.raises(ValueError, match="layer2.*have no contributions"):
        fit_modes(f, f, ["layer2"], max_epochs=2)
    silent = f.copy(data=np.zeros_like(f.values))
    with pytest.raises(ValueError, match="has no contributions"):
        fit_modes(silent, silent, ["layer1"], max_epochs=2)


def test_bad_input_too_few_samples_for_a_validation_split():
    f = _features(n_frames=4, n_cells=1)
    with pytest.raises(ValueError, match="too few for a validation split"):
        fit_modes(f, f, ["layer1"], max_epochs=2)


def test_bad_input_unknown_layer_and_sae(tiny):
    model, rec = tiny
    with pytest.raises(ValueError, match="unknown layer"):
        decompose(model, rec, ["layer9"], progress=False)
    with pytest.raises(ValueError, match="unknown SAE kind"):
        fit_modes(_features(), _features(), ["layer1"], sae="pca")


def test_hoyer_and_dimensionality():
    x = xr.DataArray([[1.0, 0, 0, 0], [1, 1, 1, 1]], dims=("sample", "feature"))
    np.testing.assert_allclose(analyses.hoyer(x).values, [1.0, 0.0])
    rng = np.random.default_rng(0)
    low = rng.normal(size=(500, 2)) @ rng.normal(size=(2, 10))
    d = analyses.dimensionality(xr.DataArray(low, dims=("sample", "feature")))
    assert int(d["n_components"]) == 2 and 1 <= float(d["participation_ratio"]) <= 2


def test_sign_decorrelation_and_sparsity_by_layer():
    f = _features(n_frames=50)
    f[..., 4:] = -f[..., :4].values  # negative parts mirror positive parts: r = 1
    r = analyses.sign_decorrelation(f)
    assert r.dims == ("frame", "cell", "layer")
    np.testing.assert_allclose(r.values, 1.0, atol=1e-6)
    assert analyses.sparsity_by_layer(f).dims == ("frame", "cell", "layer")


def test_cell_mode_correlation_and_clustering():
    rng = np.random.default_rng(0)
    a, b = rng.random(200), rng.random(200)
    rates = xr.DataArray(np.stack([a, a + 0.01 * b, a, b, b + 0.01 * a, b], 1), dims=("frame", "cell"),
                         coords={"frame": np.arange(200), "cell": np.arange(6)})
    loadings = xr.DataArray(np.stack([a, b], 1), dims=("frame", "mode"), coords={"frame": np.arange(200)})
    corr = analyses.cell_mode_correlation(loadings, rates)
    assert corr.dims == ("cell", "mode") and corr.sel(cell=0, mode=0) > 0.99
    clusters = analyses.cluster_cells(corr)
    assert clusters.attrs["k"] == 2
    labels = clusters["cluster"].values
    assert len(set(labels[:3])) == 1 and len(set(labels[3:])) == 1 and labels[0] != labels[3]


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
    ds = decompose(model, rec, ["layer1"], k=2, n_fit_frames=300, progress=False, max_epochs=5)
    mode = int(ds["loadings"].sel(cell=0).max("frame").argmax("mode"))
    curves = intervention_curves(model, rec, ds, mode, 0)
    assert curves["removed"].shape == (2, 2, len(PERCENTS))
    assert np.isfinite(curves["selectivity"]).all()
    with pytest.raises(ValueError, match="unknown cell"):
        intervention_curves(model, rec, ds, mode, 99)


def test_cli_decompose(tiny, tmp_path, capsys):
    from retinacodec.checkpoint import save_checkpoint
    from retinacodec.cli import main
    from retinacodec.io import write_nwb

    model, rec = tiny
    ckpt = save_checkpoint(tmp_path / "m.pt", model, model.normalization)
    nwb = tmp_path / "r.nwb"
    write_nwb(rec, nwb)
    out = tmp_path / "modes.nc"
    assert main(["decompose", str(ckpt), str(nwb), "--out", str(out), "--layers", "layer1", "--k", "2",
                 "--fit-frames", "300"]) == 0
    assert xr.load_dataset(out).sizes["cell"] == 2
    assert main(["decompose", str(ckpt), str(nwb), "--out", str(out), "--layers", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("retinacodec: error: unknown layer") and err.count("\n") == 1


# --- the shipped sample: ground truth and the causal claim -------------------------------------------


@pytest.fixture(scope="module")
def sample_modes():
    import retinacodec as rc

    model_path = sample_paths()[0].with_name("sample_model.pt")
    if not model_path.exists():
        pytest.skip("data/sample_model.pt is not there")
    rec, truth = rc.load_sample()
    model = rc.load_model(model_path)
    return model, rec, truth, decompose(model, rec, progress=False)


def _drives(truth: xr.Dataset, frames: np.ndarray) -> xr.DataArray:
    pathway = xr.DataArray(["on", "off"], dims="pathway")
    return xr.concat([truth["on_drive"], truth["off_drive"]], dim=pathway).sel(frame=frames)


def test_sample_modes_recover_on_and_off_pathways(sample_modes):
    """Every ON-OFF cell: one mode tracks its true ON drive, another its OFF drive, r >= 0.8."""
    _, _, truth, ds = sample_modes
    match = analyses.match_pathways(ds["loadings"], _drives(truth, ds["frame"].values))
    on_off = truth["cell"].values[truth["cell_type"].values == "ON-OFF"]
    best = match.sel(cell=on_off)
    assert (best["best_r"] >= 0.8).all(), best["best_r"].values
    assert (best["best_mode"].sel(pathway="on") != best["best_mode"].sel(pathway="off")).all()


def test_sample_ablating_the_on_mode_is_selective(sample_modes):
    """Ablating the top 10 % units of a cell's ON mode lowers its ON-event responses more than OFF-event ones."""
    model, rec, truth, ds = sample_modes
    frames = ds["frame"].values
    match = analyses.match_pathways(ds["loadings"], _drives(truth, frames))
    for cell in truth["cell"].values[truth["cell_type"].values == "ON-OFF"]:
        on = truth["on_drive"].sel(cell=cell, frame=frames).values
        off = truth["off_drive"].sel(cell=cell, frame=frames).values
        on_events = frames[(on >= np.quantile(on, 0.9)) & (off <= np.median(off))]
        off_events = frames[(off >= np.quantile(off, 0.9)) & (on <= np.median(on))]
        mode = int(match["best_mode"].sel(cell=cell, pathway="on"))
        curves = intervention_curves(model, rec, ds, mode, int(cell), target_frames=on_events,
                                     off_target_frames=off_events, percents=[10], kinds=["ablate"])
        removed = curves["removed"].sel(kind="ablate", percent=10)
        assert removed.sel(frames="target") > removed.sel(frames="off_target"), removed.values
