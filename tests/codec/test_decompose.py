"""CODEC step 2: the decomposition into modes (presets, layout, NetCDF, completeness), its CLI and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from retinacodec.codec import (
    contribution_features,
    decompose,
    fit_modes,
    make_sae,
    pre_nonlinearity,
    reconstruct,
    save_modes,
)
from retinacodec.model.windows import WindowedData

torch.set_num_threads(1)


FAST_CELLS = {"preset": "cells", "k": 2, "n_fit_frames": 300, "progress": False, "max_epochs": 5}


def test_paper_preset_is_the_official_run(tiny, tmp_path):
    """preset='paper': IG (20 steps) on the surprisal of the rate, CODEC's SAE at 10x, fitted on the analysed frames."""
    model, rec = tiny
    ds = decompose(model, rec, ["layer1", "layer2"], preset="paper", progress=False, max_epochs=3)
    n_frames = 120 - 9
    assert ds["loadings"].dims == ("frame", "mode") and ds.sizes["frame"] == n_frames  # one time course per mode
    assert ds["contributions"].dims == ("frame", "feature")
    attrs = ds.attrs
    assert (attrs["preset"], attrs["target"], attrs["output"], attrs["method"], attrs["steps"]) == (
        "paper", "surprisal", "rate", "integrated_gradients", 20)
    assert attrs["sae_kind"] == "codec" and attrs["config_fit_on"] == "analysed" and attrs["n_fit_frames"] == n_frames
    assert list(ds["n_latents"].values) == [10 * 8, 10 * 8]  # 10 x (2 signs x 4 channels)
    assert attrs["metrics_on"] == "the training samples"
    # completeness is stored per layer, and the engine's exact output stage makes it tiny
    assert list(ds["hooked_layer"].values) == ["layer1", "layer2"]
    assert (ds["completeness_median"] <= 1e-4).all() and (ds["completeness_max"] >= ds["completeness_median"]).all()
    back = xr.load_dataset(save_modes(ds, tmp_path / "paper.nc"))
    assert back.attrs["config_expansion"] == "default"


def test_per_cell_preset_layout_and_netcdf(tiny, tmp_path):
    model, rec = tiny
    ds = decompose(model, rec, ["layer1", "layer2"], **FAST_CELLS)
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


def test_saved_file_reconstructs_with_the_topk_offset(tiny, tmp_path):
    """loadings @ modes + offset from the file alone equals the fitted SAE's reconstruction."""
    model, rec = tiny
    train = WindowedData(rec, 10, model.normalization).targets("train")
    ds = decompose(model, rec, ["layer1"], fit_frames=train, **FAST_CELLS)
    back = xr.load_dataset(save_modes(ds, tmp_path / "modes.nc"))
    assert float(abs(back["offset"]).max()) > 0  # TopK's learned pre-encoder bias b_pre is saved
    fit_x = contribution_features(model, rec, ["layer1"], train, target="all", output="generator", progress=False)
    sae = make_sae("topk", k=2, expansion=2.0, seed=0, progress=False, max_epochs=5).fit(fit_x.values.reshape(-1, 8))
    x = back["contributions"].values.reshape(-1, 8)
    np.testing.assert_allclose(reconstruct(back).sel(sae="layer1").values.reshape(-1, 8), sae.reconstruct(x),
                               rtol=1e-4, atol=1e-6)
    without = back["loadings"].values.reshape(-1, back.sizes["mode"]) @ back["modes"].values
    assert np.abs(without - sae.reconstruct(x)).max() > 1e-3  # the offset matters


def test_expansion_none_is_each_saes_default(make_features):
    f = make_features()
    assert int(fit_modes(f, f, ["layer1"], sae="topk", k=2, max_epochs=2)["n_latents"][0]) == 8 * 8
    assert int(fit_modes(f, f, ["layer1"], sae="codec", max_epochs=2)["n_latents"][0]) == 10 * 8
    assert int(fit_modes(f, f, ["layer1"], sae="relu", expansion=2.0, max_epochs=2)["n_latents"][0]) == 2 * 8


def test_activation_x_gradient_completeness_is_stored_and_warned(tiny):
    model, rec = tiny
    with pytest.warns(UserWarning, match="do not add up to the output change"):
        ds = decompose(model, rec, ["layer1"], method="activation_x_gradient", **FAST_CELLS)
    assert float(ds["completeness_median"].sel(hooked_layer="layer1")) > 1e-2
    assert ds.attrs["method"] == "activation_x_gradient"


def test_activation_modes_read_before_the_relu(tiny):
    model, rec = tiny
    assert pre_nonlinearity(model, "layer1") == "layer1.noise"
    ds = decompose(model, rec, ["layer1"], source="activations", **FAST_CELLS)
    assert ds["loadings"].dims == ("frame", "mode")
    assert (ds["activations"].where(ds["sign"] == "neg", drop=True) < 0).any()  # pre-ReLU: negative parts exist
    assert "completeness_median" not in ds


def test_concatenated_layers_make_one_sae(tiny):
    model, rec = tiny
    ds = decompose(model, rec, ["layer1+layer2"], **FAST_CELLS)
    assert list(ds["sae"].values) == ["layer1+layer2"]
    assert (ds["modes"].where(ds["layer"] == "layer2", drop=True) != 0).any()


def test_bad_preset_and_options(tiny):
    model, rec = tiny
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        decompose(model, rec, preset="nope")
    with pytest.raises(ValueError, match="target must be one of"):
        decompose(model, rec, target="pixel")
    with pytest.raises(ValueError, match="see help\\(TopKSAE\\)"):
        make_sae("topk", threshold=0.5)


def test_bad_input_nan_contributions(make_features):
    f = make_features()
    f[3, 1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_modes(f, f, ["layer1"], max_epochs=2)


def test_bad_input_more_active_latents_than_atoms(make_features):
    f = make_features()
    with pytest.raises(ValueError, match="k=20 active latents"):
        fit_modes(f, f, ["layer1"], sae="topk", k=20, expansion=1.0, max_epochs=2)


def test_bad_input_layer_without_contributions(make_features):
    f = make_features()
    with pytest.raises(ValueError, match="layer2.*have no contributions"):
        fit_modes(f, f, ["layer2"], max_epochs=2)
    silent = f.copy(data=np.zeros_like(f.values))
    with pytest.raises(ValueError, match="has no contributions"):
        fit_modes(silent, silent, ["layer1"], max_epochs=2)


def test_bad_input_too_few_samples_for_a_validation_split(make_features):
    f = make_features(n_frames=4, n_cells=1)
    with pytest.raises(ValueError, match="too few for a validation split"):
        fit_modes(f, f, ["layer1"], sae="topk", max_epochs=2)
    with pytest.raises(ValueError, match="4 samples are too few to train on"):
        fit_modes(f, f, ["layer1"], sae="codec", max_epochs=2)


def test_bad_input_unknown_layer_and_sae(tiny, make_features):
    model, rec = tiny
    with pytest.raises(ValueError, match="unknown layer"):
        decompose(model, rec, ["layer9"], progress=False)
    with pytest.raises(ValueError, match="unknown SAE kind"):
        fit_modes(make_features(), make_features(), ["layer1"], sae="pca")


def test_cli_decompose(tiny, tmp_path, capsys):
    from retinacodec.cli import main
    from retinacodec.io import write_nwb
    from retinacodec.model.checkpoint import save_checkpoint

    model, rec = tiny
    ckpt = save_checkpoint(tmp_path / "m.pt", model, model.normalization)
    nwb = tmp_path / "r.nwb"
    write_nwb(rec, nwb)
    out = tmp_path / "modes.nc"
    assert main(["decompose", str(ckpt), str(nwb), "--out", str(out), "--layers", "layer1", "--preset", "cells",
                 "--k", "2", "--n-fit-frames", "300", "--max-epochs", "5"]) == 0
    assert xr.load_dataset(out).sizes["cell"] == 2
    printed = capsys.readouterr().out
    assert "preset 'cells'" in printed and "median relative completeness error" in printed
    assert main(["decompose", str(ckpt), str(nwb), "--out", str(out), "--overwrite", "--layers", "layer1",
                 "--target", "sum", "--sae", "topk", "--k", "2", "--expansion", "default", "--max-epochs", "5"]) == 0
    back = xr.load_dataset(out)
    assert back["loadings"].dims == ("frame", "mode") and back.attrs["config_target"] == "sum"
    capsys.readouterr()  # the runs above logged their stages on stderr
    assert main(["decompose", str(ckpt), str(nwb), "--out", str(out), "--overwrite", "--layers", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("retinacodec: error: unknown layer") and err.count("\n") == 1
