"""Contributions over a recording: chunking, NetCDF streaming, and the ``contributions`` subcommand."""

import numpy as np
import pytest
import xarray as xr

from retinacodec.attribution import contributions_for_recording
from retinacodec.cli import main
from retinacodec.io import write_nwb
from retinacodec.model.bncnn import BNCNNConfig
from retinacodec.model.training import fit
from retinacodec.recording import make_recording

HISTORY = 8


@pytest.fixture(scope="session")
def fitted(tmp_path_factory):
    """A tiny recording (10×10 px, 3 cells, 2 test repeats) and a model fitted on it for one epoch."""
    rng = np.random.default_rng(0)
    n_train, n_test = 600, 40
    test = rng.choice([-1.0, 1.0], size=(n_test, 10, 10))
    stim = np.concatenate([rng.choice([-1.0, 1.0], size=(n_train, 10, 10)), test, test])
    spikes = rng.poisson(0.3, size=(len(stim), 3))
    block = ["train"] * n_train + ["test"] * (2 * n_test)
    repeat = [-1] * n_train + [0] * n_test + [1] * n_test
    rec = make_recording(stim, spikes, np.arange(len(stim)) * 0.01, cell_ids=[5, 7, 9], block=block,
                         repeat=repeat, pixel_size_um=50.0)
    folder = tmp_path_factory.mktemp("fitted")
    config = BNCNNConfig(n_cells=3, history=HISTORY, input_size=(10, 10), channels=(3, 3), kernel_sizes=(5, 3))
    model = fit(rec, config=config, epochs=1, batch_size=128, checkpoint=folder / "model.pt", progress=False)
    write_nwb(rec, folder / "rec.nwb", overwrite=True)
    return model, rec, folder


def test_streamed_file_equals_in_memory_result(fitted, tmp_path):
    model, rec, _ = fitted
    memory = contributions_for_recording(model, rec, ["layer1", "layer2"], chunk_size=64, reduce="space",
                                         split_sign=True)
    test0 = np.flatnonzero((rec["block"].values == "test") & (rec["repeat"].values == 0))
    assert list(memory["frame"].values) == list(test0[HISTORY - 1:])
    assert list(memory["target"].values) == [5, 7, 9]
    np.testing.assert_allclose(memory["time"].values, rec["time"].values[memory["frame"].values])
    out = tmp_path / "contrib.nc"
    path = contributions_for_recording(model, rec, ["layer1", "layer2"], chunk_size=13, reduce="space",
                                       split_sign=True, out=out)
    assert path == out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contrib.nc"]
    with xr.open_dataset(out) as disk:
        disk = disk.load()
        # completeness errors are float32 rounding noise here, which depends on how frames are chunked
        noise = ["completeness_error", "completeness_relative"]
        xr.testing.assert_allclose(disk.drop_vars(noise), memory.drop_vars(noise))
        np.testing.assert_allclose(disk["completeness_error"], memory["completeness_error"],
                                   atol=1e-5 * float(abs(memory["output_difference"]).max()))
        assert disk.attrs["layers"] == ["layer1", "layer2"] or list(disk.attrs["layers"]) == ["layer1", "layer2"]


def test_explicit_frames_and_bad_frames(fitted):
    model, rec, _ = fitted
    ds = contributions_for_recording(model, rec, "layer2", frames=[HISTORY - 1, 100], target="sum")
    assert list(ds["frame"].values) == [HISTORY - 1, 100] and ds.sizes["target"] == 1
    with pytest.raises(ValueError, match="earlier frames"):
        contributions_for_recording(model, rec, "layer2", frames=[0])


def test_failed_run_leaves_no_file(fitted, tmp_path):
    model, rec, _ = fitted
    with pytest.raises(ValueError, match="unknown layer"):
        contributions_for_recording(model, rec, "layer7", out=tmp_path / "c.nc")
    assert list(tmp_path.iterdir()) == []


def test_cli_contributions(fitted, tmp_path, capsys):
    _, _, folder = fitted
    out = tmp_path / "c.nc"
    assert main(["contributions", str(folder / "model.pt"), str(folder / "rec.nwb"), "--layers", "layer1",
                 "layer2", "--out", str(out), "--steps", "8", "--chunk-size", "16"]) == 0
    assert "wrote" in capsys.readouterr().out
    with xr.open_dataset(out) as ds:
        assert ds["layer1"].dims == ("frame", "target", "layer1_channel", "layer1_y", "layer1_x")
        assert ds.attrs["steps"] == 8 and ds.attrs["kink_correction"] == "layer1: layer2.relu"
        assert ds.attrs["smooth_output"] == "readout.softplus"
        # With the kinks and the Softplus integrated exactly, what is left is float32 rounding of sums of ~1e3
        # unit contributions (~1e-6 of their scale; measured median 2e-7 on the sample model) and the linear
        # crossing points where several units switch within one step (second order). 1e-4 leaves a margin of
        # ~100x over both, and is taken relative to the largest output change: per frame, a frame whose output
        # barely changes would turn rounding into an arbitrarily large relative error.
        assert float(ds["completeness_relative"].median()) < 1e-4
        error = abs(ds["completeness_error"]).max()
        assert float(error / abs(ds["output_difference"]).max()) < 1e-4
    plain = tmp_path / "plain.nc"
    assert main(["contributions", str(folder / "model.pt"), str(folder / "rec.nwb"), "--layers", "layer1",
                 "--out", str(plain), "--steps", "8", "--chunk-size", "16", "--no-kink-correction"]) == 0
    with xr.open_dataset(plain) as ds:
        assert ds.attrs["kink_correction"] == "none"
    assert main(["contributions", str(folder / "model.pt"), str(folder / "rec.nwb"), "--layers", "layer5",
                 "--out", str(tmp_path / "bad.nc")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown layer(s) 'layer5'; valid names: layer1" in err[0]
    assert not (tmp_path / "bad.nc").exists()
