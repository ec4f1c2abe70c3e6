"""Importers of lab layouts: torch-deep-retina h5 recordings and BNCNN checkpoints, openretina HDF5 folders.

The fixtures write small files in each layout from its documented structure (see the module
docstrings of retinacodec.io.tdr, retinacodec.io.openretina and retinacodec.model.tdr_checkpoint).
"""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from retinacodec.attribution import contributions, layer_contributions
from retinacodec.cli import main
from retinacodec.io import (
    RecordingError,
    RecordingWarning,
    read_nwb,
    read_openretina,
    read_recording,
    read_tdr,
    recording_format,
)
from retinacodec.model.bncnn import BNCNNConfig
from retinacodec.model.checkpoint import CheckpointError, load_model
from retinacodec.model.evaluation import evaluate
from retinacodec.model.tdr_checkpoint import load_tdr_model

torch.set_num_threads(1)

NY, NX, N_CELLS, T_TRAIN, T_TEST, N_REP, DT = 6, 5, 3, 300, 60, 4, 0.01


def _tdr_arrays(seed: int = 0) -> dict:
    """What a torch-deep-retina file holds: uint8 frames, float spike counts, 10 ms bins."""
    rng = np.random.default_rng(seed)
    return {
        "train_stim": rng.integers(0, 256, (T_TRAIN, NY, NX), dtype=np.uint8),
        "train_time": 12.5 + DT * np.arange(T_TRAIN),
        "train_binned": rng.poisson(0.6, (N_CELLS, T_TRAIN)).astype(np.float64),
        "test_stim": rng.integers(0, 256, (T_TEST, NY, NX), dtype=np.uint8),
        "test_time": DT * np.arange(T_TEST),
        "repeats": rng.poisson(0.6, (N_REP, N_CELLS, T_TEST)).astype(np.float64),
    }


def _smooth(binned: np.ndarray) -> np.ndarray:
    """A firing_rate_10ms-like dataset: counts smoothed by a 10 ms Gaussian, in Hz."""
    k = np.exp(-0.5 * (np.arange(-3, 4) / 1.0) ** 2)
    return np.stack([np.convolve(b, k / k.sum(), mode="same") for b in binned]) / DT


def write_tdr(path, a: dict, repeats: str = "cells", binned: bool = True) -> None:
    """Write the layout: <group>/stimulus (T, ny, nx), time, response/{binned, firing_rate_10ms} (cells, T)."""
    with h5py.File(path, "w") as f:
        for group, stim, time, resp in (("train", a["train_stim"], a["train_time"], a["train_binned"]),
                                        ("test", a["test_stim"], a["test_time"], a["repeats"].mean(0))):
            f[f"{group}/stimulus"] = stim
            f[f"{group}/time"] = time
            f[f"{group}/response/firing_rate_10ms"] = _smooth(resp)
            if binned:
                f[f"{group}/response/binned"] = resp if group == "train" else a["repeats"][0]
        f["train/stas/cell01"] = np.zeros((40, NY, NX))
        if repeats == "cells":
            for c in range(N_CELLS):
                f[f"test/repeats/cell{c + 1:02d}"] = a["repeats"][:, c, :]
        elif repeats == "stacked":
            f["test/repeats/binned"] = a["repeats"]


def _expected_times(a: dict, gap: float = 1.0) -> np.ndarray:
    out, start = [a["train_time"]], a["train_time"][-1] + DT + gap
    for _ in range(N_REP):
        out.append(start + a["test_time"] - a["test_time"][0])
        start = out[-1][-1] + DT + gap
    return np.concatenate(out)


@pytest.mark.parametrize("layout", ["cells", "stacked"])
def test_tdr_round_trip(tmp_path, layout):
    a = _tdr_arrays()
    path = tmp_path / "15-10-07" / "naturalscene.h5"
    path.parent.mkdir()
    write_tdr(path, a, repeats=layout)
    rec = read_tdr(path, pixel_size_um=50.0)
    stim = np.concatenate([a["train_stim"]] + [a["test_stim"]] * N_REP).astype(np.float32)
    spikes = np.concatenate([a["train_binned"].T] + [r.T for r in a["repeats"]])
    np.testing.assert_array_equal(rec["stimulus"].values, stim)
    np.testing.assert_array_equal(rec["spikes"].values, spikes)
    np.testing.assert_allclose(rec["time"].values, _expected_times(a), rtol=0, atol=1e-9)
    assert rec["block"].values.tolist() == ["train"] * T_TRAIN + ["test"] * (N_REP * T_TEST)
    expected_repeat = np.r_[np.full(T_TRAIN, -1), np.repeat(np.arange(N_REP), T_TEST)]
    np.testing.assert_array_equal(rec["repeat"].values, expected_repeat)
    np.testing.assert_array_equal(rec["cell"].values, np.arange(N_CELLS))
    assert rec.attrs["frame_rate_hz"] == pytest.approx(100.0)
    assert rec.attrs["pixel_size_um"] == 50.0
    assert (rec.attrs["session_id"], rec.attrs["stimulus_name"]) == ("15-10-07", "naturalscene")
    assert rec["spikes"].dtype == np.int32 and rec["stimulus"].dtype == np.float32


def test_tdr_without_repeats_reads_the_test_response_as_one_repeat(tmp_path):
    a = _tdr_arrays(1)
    write_tdr(tmp_path / "wn.h5", a, repeats="none")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RecordingWarning)
        with pytest.raises(RecordingWarning, match="pixel size"):
            read_tdr(tmp_path / "wn.h5")
    rec = read_tdr(tmp_path / "wn.h5", pixel_size_um=25.0)
    test = rec["block"].values == "test"
    assert test.sum() == T_TEST and set(rec["repeat"].values[test]) == {0}
    np.testing.assert_array_equal(rec["spikes"].values[test], a["repeats"][0].T)


def test_tdr_full_field_stimulus_reads_as_1x1_without_pixel_warning(tmp_path):
    a = _tdr_arrays(2)
    a["train_stim"], a["test_stim"] = a["train_stim"][:, 0, 0], a["test_stim"][:, 0, 0]
    write_tdr(tmp_path / "ff.h5", a)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RecordingWarning)
        rec = read_tdr(tmp_path / "ff.h5")
    assert rec["stimulus"].shape == (T_TRAIN + N_REP * T_TEST, 1, 1)


def test_tdr_malformed_files_raise_clear_errors(tmp_path):
    a = _tdr_arrays(3)
    write_tdr(tmp_path / "rates.h5", a, binned=False)
    with pytest.raises(RecordingError, match=r"no train/response/binned.*firing_rate_10ms"):
        read_tdr(tmp_path / "rates.h5", pixel_size_um=1)
    bad = dict(a, train_binned=a["train_binned"] + 0.5)
    write_tdr(tmp_path / "frac.h5", bad)
    with pytest.raises(RecordingError, match="non-integer values"):
        read_tdr(tmp_path / "frac.h5", pixel_size_um=1)
    write_tdr(tmp_path / "few.h5", a)
    with h5py.File(tmp_path / "few.h5", "a") as f:
        del f["test/repeats/cell02"]
    with pytest.raises(RecordingError, match="2 cell datasets but train/response/binned has 3 cells"):
        read_tdr(tmp_path / "few.h5", pixel_size_um=1)
    with h5py.File(tmp_path / "notrain.h5", "w") as f:
        f["stimulus"] = np.zeros(3)
    with pytest.raises(RecordingError, match="no 'train' group"):
        read_tdr(tmp_path / "notrain.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(RecordingError, match="not an HDF5 file"):
        read_tdr(tmp_path / "text.h5")
    with pytest.raises(FileNotFoundError):
        read_tdr(tmp_path / "missing.h5")


# ---------------------------------------------------------------- openretina


def write_openretina(folder, seed: int = 0, counts: bool = True, channels: int = 1) -> dict:
    """Write the layout: stimuli/<name>.npy (C, T, ny, nx); session_<i>.hdf5 with responses_<name> (n, T)."""
    rng = np.random.default_rng(seed)
    lengths = {"natural_train_a": 120, "natural_train_b": 90, "repeat_0": 50, "repeat_1": 50}
    movies = {n: rng.normal(size=(channels, t, NY, NX)).astype(np.float32) for n, t in lengths.items()}
    movies["repeat_1"] = movies["repeat_0"].copy()
    (folder / "stimuli").mkdir(parents=True)
    for n in ("natural_train_a", "repeat_0", "repeat_1"):
        np.save(folder / "stimuli" / f"{n}.npy", movies[n])
    responses = {n: rng.poisson(1.0, (N_CELLS, t)).astype(np.float32) for n, t in lengths.items()}
    if not counts:
        responses["repeat_0"] = responses["repeat_0"] * 0.37
    with h5py.File(folder / "session_0.hdf5", "w") as f:
        for n, r in responses.items():
            f[f"responses_{n}"] = r
        f["stimulus_natural_train_b"] = movies["natural_train_b"]  # a session's own copy
        f["session_info/celltypes"] = np.array([3, 7, 12])
        f["session_info/roi_mask"] = np.zeros((4, 4))
        f["session_info/quality"] = np.array([0.9, 0.5, 0.7])
    return {"movies": movies, "responses": responses, "order": sorted(lengths)}


def test_openretina_round_trip(tmp_path):
    w = write_openretina(tmp_path / "data")
    rec = read_openretina(tmp_path / "data", frame_rate_hz=30.0, test_stimuli=["repeat_1", "repeat_0"],
                          pixel_size_um=40.0)
    order = w["order"]  # natural_train_a, natural_train_b, repeat_0, repeat_1
    np.testing.assert_array_equal(rec["stimulus"].values, np.concatenate([w["movies"][n][0] for n in order]))
    np.testing.assert_array_equal(rec["spikes"].values, np.concatenate([w["responses"][n].T for n in order]))
    lengths = [w["responses"][n].shape[1] for n in order]
    assert rec["block"].values.tolist() == sum(([b] * t for b, t in zip(["train", "train", "test", "test"], lengths,
                                                                           strict=True)), [])
    np.testing.assert_array_equal(rec["repeat"].values, np.repeat([-1, -1, 0, 1], lengths))
    t = rec["time"].values
    starts = np.cumsum([0] + lengths[:-1])
    np.testing.assert_allclose(np.diff(t)[np.setdiff1d(np.arange(len(t) - 1), starts[1:] - 1)], 1 / 30.0)
    np.testing.assert_allclose(t[starts[1:]] - t[starts[1:] - 1], 1 / 30.0 + 1.0)  # a 1 s pause between segments
    np.testing.assert_array_equal(rec["celltypes"].values, [3, 7, 12])
    np.testing.assert_array_equal(rec["cell_quality"].values, [0.9, 0.5, 0.7])
    assert "cell_roi_mask" not in rec.coords and "roi_mask" not in rec.coords
    assert rec.attrs["frame_rate_hz"] == 30.0 and rec.attrs["session_id"] == "session_0"
    same = read_openretina(tmp_path / "data" / "session_0.hdf5", frame_rate_hz=30.0,
                           test_stimuli=["repeat_0", "repeat_1"], pixel_size_um=40.0)
    np.testing.assert_array_equal(same["spikes"].values, rec["spikes"].values)
    assert recording_format(tmp_path / "data") == "openretina"
    assert recording_format(tmp_path / "data" / "session_0.hdf5") == "openretina"


def test_openretina_malformed_raise_clear_errors(tmp_path):
    write_openretina(tmp_path / "d")
    with pytest.raises(RecordingError, match="frame_rate_hz must be > 0"):
        read_openretina(tmp_path / "d", frame_rate_hz=0)
    with pytest.raises(RecordingError, match="show different movies"):
        read_openretina(tmp_path / "d", frame_rate_hz=30, test_stimuli=["natural_train_a", "repeat_0"],
                        pixel_size_um=1)
    with pytest.raises(RecordingError, match=r"test stimuli \['nope'\] have no responses"):
        read_openretina(tmp_path / "d", frame_rate_hz=30, test_stimuli=["nope"])
    (tmp_path / "d" / "session_1.h5").write_bytes((tmp_path / "d" / "session_0.hdf5").read_bytes())
    with pytest.raises(RecordingError, match=r"2 sessions \['session_0', 'session_1'\]; choose one with session="):
        read_openretina(tmp_path / "d", frame_rate_hz=30)
    (tmp_path / "d" / "stimuli" / "repeat_1.npy").unlink()
    with pytest.raises(RecordingError, match="stimulus 'repeat_1' has responses but no movie"):
        read_openretina(tmp_path / "d", session="session_1", frame_rate_hz=30)
    write_openretina(tmp_path / "rates", counts=False)
    with pytest.raises(RecordingError, match="responses_repeat_0 holds non-integer values"):
        read_openretina(tmp_path / "rates", frame_rate_hz=30, pixel_size_um=1)
    write_openretina(tmp_path / "rgb", channels=2)
    with pytest.raises(RecordingError, match="2 colour channels.*channel="):
        read_openretina(tmp_path / "rgb", frame_rate_hz=30)
    rec = read_openretina(tmp_path / "rgb", frame_rate_hz=30, channel=1, pixel_size_um=1)
    assert rec["stimulus"].shape[1:] == (NY, NX)


# ---------------------------------------------------------------- torch-deep-retina checkpoints

HIST, SIZE, CHANS, KS, N_UNITS = 10, 12, (4, 3), (5, 3), 3


def _tdr_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights and BatchNorm statistics with the shapes of torch-deep-retina's BNCNN ``sequential``."""
    g = torch.Generator().manual_seed(seed)
    h1, h2 = SIZE - KS[0] + 1, SIZE - KS[0] - KS[1] + 2
    n1, n2 = CHANS[0] * h1 * h1, CHANS[1] * h2 * h2

    def bn(n: int) -> dict[str, torch.Tensor]:
        return {"weight": 1 + 0.3 * torch.randn(n, generator=g), "bias": 0.2 * torch.randn(n, generator=g),
                "running_mean": 0.5 * torch.randn(n, generator=g), "running_var": 0.5 + torch.rand(n, generator=g),
                "num_batches_tracked": torch.tensor(100)}

    sd = {"sequential.0.weight": 0.1 * torch.randn(CHANS[0], HIST, KS[0], KS[0], generator=g),
          "sequential.0.bias": 0.1 * torch.randn(CHANS[0], generator=g),
          "sequential.6.weight": 0.3 * torch.randn(CHANS[1], CHANS[0], KS[1], KS[1], generator=g),
          "sequential.6.bias": 0.1 * torch.randn(CHANS[1], generator=g),
          "sequential.11.weight": 0.2 * torch.randn(N_UNITS, n2, generator=g)}  # linear_bias=None: no bias
    for i, n in ((2, n1), (8, n2), (12, N_UNITS)):
        sd.update({f"sequential.{i}.{k}": v for k, v in bn(n).items()})
    return sd


def _reference_forward(sd: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """torch-deep-retina's BNCNN in eval mode, written from its documented architecture."""

    def bn(z: torch.Tensor, i: int) -> torch.Tensor:
        p = {k: sd[f"sequential.{i}.{k}"] for k in ("running_mean", "running_var", "weight", "bias")}
        return F.batch_norm(z, p["running_mean"], p["running_var"], p["weight"], p["bias"], False, 0.0, 1e-3)

    z = F.conv2d(x, sd["sequential.0.weight"], sd["sequential.0.bias"])
    shape = z.shape
    z = F.relu(bn(z.flatten(1), 2)).reshape(shape)
    z = F.conv2d(z, sd["sequential.6.weight"], sd["sequential.6.bias"])
    z = F.relu(bn(z.flatten(1), 8))
    return F.softplus(bn(F.linear(z, sd["sequential.11.weight"]), 12))


def write_tdr_checkpoint(path, seed: int = 0, **extra) -> dict[str, torch.Tensor]:
    sd = _tdr_state_dict(seed)
    torch.save({"model_type": "BNCNN", "model_state_dict": sd, "epoch": 7,
                "model_hyps": {"n_units": N_UNITS, "chans": list(CHANS), "img_shape": (HIST, SIZE, SIZE),
                               "ksizes": list(KS), "noise": 0.05, "bn_moment": 0.01, "linear_bias": None,
                               "softplus": True, "lr": 1e-3},
                "norm_stats": {"mean": np.float32(127.5), "std": np.float32(40.0)}, **extra}, path)
    return sd


def test_tdr_checkpoint_matches_reference_forward(tmp_path):
    sd = write_tdr_checkpoint(tmp_path / "tdr.pt")
    model = load_tdr_model(tmp_path / "tdr.pt")
    assert model.config.batchnorm == "unit" and model.config.batchnorm_momentum == 0.01
    assert (model.config.kernel_sizes, model.config.channels, model.config.input_size) == (KS, CHANS, (SIZE, SIZE))
    assert (model.normalization.mean, model.normalization.std) == (127.5, 40.0)
    x = torch.randn(16, HIST, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, ref = model(x), _reference_forward(sd, x)
    assert torch.max(torch.abs(ours - ref)).item() <= 1e-5
    assert torch.std(ref).item() > 0.05  # the outputs vary: the check could fail


def test_imported_checkpoint_goes_through_the_contribution_engine(tmp_path):
    """Layer contributions of the imported model (per-unit BatchNorm) sum to F(x) - F(0), as for our own."""
    write_tdr_checkpoint(tmp_path / "tdr.pt", seed=3)
    model = load_tdr_model(tmp_path / "tdr.pt")
    x = torch.randn(3, HIST, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    ds = contributions(model, x, ["layer1", "layer2"], steps=16)
    with torch.no_grad():
        delta = (model(x) - model(torch.zeros_like(x))).numpy()
    for layer in ("layer1", "layer2"):
        c = layer_contributions(ds, layer)
        total = c.sum([d for d in c.dims if d not in ("sample", "target")]).transpose("sample", "target").values
        np.testing.assert_allclose(total, delta, rtol=1e-2, atol=1e-3)  # trapezoid error at 16 steps
    assert np.abs(delta).max() > 0.05


def test_tdr_checkpoint_without_hyps_infers_the_architecture(tmp_path):
    sd = _tdr_state_dict(2)
    torch.save({"model_state_dict": {f"module.{k}": v for k, v in sd.items()}, "norm_stats": [0.0, 1.0]},
               tmp_path / "bare.pt")
    model = load_tdr_model(tmp_path / "bare.pt")
    x = torch.randn(4, HIST, SIZE, SIZE)
    with torch.no_grad():
        assert torch.allclose(model(x), _reference_forward(sd, x), atol=1e-5)


def test_tdr_checkpoint_errors(tmp_path):
    torch.save({"model_type": "SkipAmacRNN", "model_state_dict": {}}, tmp_path / "rnn.pt")
    with pytest.raises(CheckpointError, match="only BNCNN models import"):
        load_tdr_model(tmp_path / "rnn.pt")
    write_tdr_checkpoint(tmp_path / "nostats.pt", norm_stats=None)
    with pytest.raises(CheckpointError, match="no norm_stats; pass normalization="):
        load_tdr_model(tmp_path / "nostats.pt")
    assert load_tdr_model(tmp_path / "nostats.pt", normalization=(1.0, 2.0)).normalization.std == 2.0
    with pytest.raises(ValueError, match="batchnorm must be 'channel' or 'unit'"):
        BNCNNConfig(n_cells=2, input_size=(20, 20), kernel_sizes=(9, 7), batchnorm="layer")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a readable torch-deep-retina checkpoint"):
        load_tdr_model(tmp_path / "junk.pt")


@pytest.mark.filterwarnings("ignore:.*split-half reliability:UserWarning")
def test_imported_model_is_evaluated_on_an_imported_recording(tmp_path):
    """An imported model and recording go through evaluate like our own: full-field flicker, 1x1 kernels."""
    rng = np.random.default_rng(5)
    stim = rng.normal(size=T_TRAIN + T_TEST)
    a = _tdr_arrays(5)
    a["train_stim"], a["test_stim"] = stim[:T_TRAIN, None, None], stim[T_TRAIN:, None, None]
    write_tdr(tmp_path / "ff.h5", a)
    rec = read_tdr(tmp_path / "ff.h5")
    g = torch.Generator().manual_seed(0)
    sd = {"sequential.0.weight": torch.randn(2, 40, 1, 1, generator=g), "sequential.0.bias": torch.zeros(2),
          "sequential.6.weight": torch.tensor([[1.0, 0.5], [0.5, 1.0]]).reshape(2, 2, 1, 1),
          "sequential.6.bias": torch.zeros(2), "sequential.11.weight": torch.randn(N_CELLS, 2, generator=g)}
    for i, n in ((2, 2), (8, 2), (12, N_CELLS)):
        sd.update({f"sequential.{i}.weight": torch.ones(n), f"sequential.{i}.bias": torch.zeros(n),
                   f"sequential.{i}.running_mean": torch.zeros(n), f"sequential.{i}.running_var": torch.ones(n)})
    torch.save({"model_type": "BNCNN", "model_state_dict": sd, "norm_stats": {"mean": 0.0, "std": 1.0}},
               tmp_path / "ff.pt")
    scores = evaluate(load_tdr_model(tmp_path / "ff.pt"), rec)
    assert scores.sizes["cell"] == N_CELLS and np.all(np.isfinite(scores["r"].values))


# ---------------------------------------------------------------- retinacodec convert


def test_convert_tdr_to_nwb_reads_back_the_same_recording(tmp_path, capsys):
    a = _tdr_arrays(6)
    write_tdr(tmp_path / "ns.h5", a)
    out = tmp_path / "ns.nwb"
    assert main(["convert", str(tmp_path / "ns.h5"), str(out), "--pixel-size-um", "50"]) == 0
    assert "wrote" in capsys.readouterr().out
    src = read_tdr(tmp_path / "ns.h5", pixel_size_um=50.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordingWarning)  # the pauses between segments read as dropped frames
        back = read_nwb(out)
    for name in ("stimulus", "spikes", "block", "repeat"):
        np.testing.assert_array_equal(back[name].values, src[name].values)
    np.testing.assert_allclose(back["time"].values, src["time"].values, atol=1e-9)
    assert back.attrs["pixel_size_um"] == 50.0
    assert main(["convert", str(tmp_path / "ns.h5"), str(out)]) == 2  # exists, no --overwrite
    assert "already exists" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "ns.h5"), str(out), "--overwrite", "--pixel-size-um", "50"]) == 0


def test_convert_openretina_and_errors(tmp_path, capsys):
    write_openretina(tmp_path / "d")
    out = tmp_path / "s.nwb"
    assert main(["convert", str(tmp_path / "d"), str(out), "--frame-rate", "30", "--test-stimuli", "repeat_0",
                 "repeat_1", "--pixel-size-um", "40"]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordingWarning)
        back = read_nwb(out)
    assert set(back["repeat"].values[back["block"].values == "test"]) == {0, 1}
    assert main(["convert", str(tmp_path / "d"), str(tmp_path / "x.nwb")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--frame-rate" in err and "Traceback" not in err
    (tmp_path / "bad.h5").write_bytes(b"nope")
    assert main(["convert", str(tmp_path / "bad.h5"), str(tmp_path / "y.nwb")]) == 2
    assert "not an HDF5 file" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "missing.h5"), str(tmp_path / "z.nwb")]) == 2
    assert not (tmp_path / "x.nwb").exists() and not (tmp_path / "y.nwb").exists()


def test_convert_tdr_checkpoint_to_a_retinacodec_checkpoint(tmp_path, capsys):
    sd = write_tdr_checkpoint(tmp_path / "tdr.pt")
    assert main(["convert", str(tmp_path / "tdr.pt"), str(tmp_path / "ours.pt")]) == 0
    model = load_model(tmp_path / "ours.pt")
    x = torch.randn(8, HIST, SIZE, SIZE)
    with torch.no_grad():
        assert torch.max(torch.abs(model(x) - _reference_forward(sd, x))).item() <= 1e-5
    assert model.metadata["source_format"] == "torch-deep-retina"
    assert main(["convert", str(tmp_path / "tdr.pt"), str(tmp_path / "ours.nwb")]) == 2
    assert "checkpoint" in capsys.readouterr().err


def test_read_recording_dispatches_on_the_layout(tmp_path):
    a = _tdr_arrays(7)
    write_tdr(tmp_path / "x.h5", a)
    assert recording_format(tmp_path / "x.h5") == "tdr"
    rec = read_recording(tmp_path / "x.h5", pixel_size_um=2.0)
    assert rec.attrs["source_format"] == "torch-deep-retina"
    with pytest.raises(RecordingError, match="unknown recording format"):
        read_recording(tmp_path / "x.h5", format="matlab")
