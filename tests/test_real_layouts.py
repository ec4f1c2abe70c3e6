"""Real lab layouts: a full-field run/freeze recording written with pynwb as a lab would, read and fitted."""

import json
import warnings

import numpy as np
import pytest
import xarray as xr
from lab_nwb import write_lab_nwb

from retinacodec.cli import main
from retinacodec.io import RecordingError, RecordingWarning, inspect_nwb, read_nwb
from retinacodec.io.blocks import label_frames
from retinacodec.model.evaluation import predict
from retinacodec.recording import repeated_responses
from retinacodec.sim.simulate import simulate_run_freeze

N_TRIALS, RUN, FREEZE = 8, 600, 150


@pytest.fixture(scope="session")
def run_freeze(tmp_path_factory):
    """A small run/freeze recording (4 cells, 8 trials at 75 Hz, 2 dropped frames) and its lab NWB file."""
    rec, truth = simulate_run_freeze(n_cells=4, n_trials=N_TRIALS, run_frames=RUN, freeze_frames=FREEZE,
                                     dropped_frames=2, seed=1)
    return rec, write_lab_nwb(rec, tmp_path_factory.mktemp("lab") / "run_freeze.nwb")


def _read_quietly(path, **options):
    """read_nwb, failing on any warning but the (true) dropped-frame one."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RecordingWarning)
        warnings.filterwarnings("ignore", "stimulus .* frame interval", RecordingWarning)
        return inspect_nwb(path, **options)


def test_simulated_run_freeze_is_a_full_field_recording_with_dropped_frames(run_freeze):
    rec, _ = run_freeze
    assert rec.sizes["y"] == rec.sizes["x"] == 1 and rec.sizes["cell"] == 4
    dt = np.diff(rec["time"].values)
    assert np.sum(dt > 1.5 * np.median(dt)) == 2 and rec.attrs["frame_rate_hz"] == 75.0
    frozen = repeated_responses(rec, "stimulus").values[:, :, 0, 0]
    assert frozen.shape == (N_TRIALS, FREEZE) and np.all(frozen == frozen[0])


def test_run_freeze_trials_are_recognised_without_options(run_freeze):
    """The frozen segment (identical in every trial) is the test block, one repeat per trial; no pixel warning."""
    rec, path = run_freeze
    read, labelling = _read_quietly(path)
    np.testing.assert_array_equal(read["block"].values, rec["block"].values)
    np.testing.assert_array_equal(read["repeat"].values, rec["repeat"].values)
    np.testing.assert_array_equal(read["spikes"].values, rec["spikes"].values)
    assert read["cell_type"].values.tolist() == rec["cell_type"].values.tolist()
    assert labelling.label_column == "stimulus_type" and labelling.repeat_column == "trial"
    assert labelling.blocks == {"running_noise": "train", "frozen_noise": "test"}
    assert labelling.identical == ["frozen_noise"]


@pytest.mark.parametrize("options", [{"repeat_column": "trial"}, {"block_column": "stimulus_type"},
                                     {"test_block": "frozen_noise"}])
def test_run_freeze_options_give_the_same_labels(run_freeze, options):
    """Once: repeat_column='trial' raised 'several repeated stimuli'; block_column made every frame 'other'."""
    rec, path = run_freeze
    read, _ = _read_quietly(path, **options)
    np.testing.assert_array_equal(read["block"].values, rec["block"].values)
    np.testing.assert_array_equal(read["repeat"].values, rec["repeat"].values)


def _segments(kinds, rng, n=30):
    """Frames and interval bounds of consecutive segments: 'fresh' noise or the one 'frozen' clip."""
    frozen = rng.normal(size=(n, 2, 2))
    movie = np.concatenate([frozen if k == "frozen" else rng.normal(size=(n, 2, 2)) for k in kinds])
    start = np.arange(len(kinds)) * n / 10.0
    return movie, np.arange(movie.shape[0]) / 10.0, start, start + n / 10.0


@pytest.mark.parametrize("interleaved", [True, False])
def test_identical_segment_is_the_test_block_interleaved_or_not(interleaved):
    rng = np.random.default_rng(0)
    kinds = ["fresh", "frozen"] * 3 if interleaved else ["fresh"] * 3 + ["frozen"] * 3
    movie, times, start, stop = _segments(kinds, rng)
    names = np.array(["run" if k == "fresh" else "freeze" for k in kinds])
    columns = {"stimulus_type": names, "trial": np.array([0, 0, 1, 1, 2, 2] if interleaved else [0, 1, 2] * 2)}
    block, repeat, info = label_frames(times, start, stop, columns, movie=movie)
    expected_block = np.repeat(np.where(names == "freeze", "test", "train"), 30)
    np.testing.assert_array_equal(block, expected_block)
    np.testing.assert_array_equal(np.unique(repeat[block == "test"]), [0, 1, 2])
    assert "identical" in info.rule


def test_several_identical_stimuli_ask_for_test_block_in_plain_words():
    rng = np.random.default_rng(1)
    movie, times, start, stop = _segments(["frozen"] * 4, rng)
    columns = {"stimulus_type": np.array(["a", "b", "a", "b"]), "trial": np.array([0, 0, 1, 1])}
    with pytest.raises(RecordingError, match="--test-block") as err:
        label_frames(times, start, stop, columns, movie=movie)
    assert "np.str_" not in str(err.value) and "'a', 'b'" in str(err.value)


def test_repeated_responses_join_with_predictions_on_frame(run_freeze, tmp_path):
    """The trial average carries repeat 0's recording frame indices, so it aligns with predict() output."""
    rec, _ = run_freeze
    reps = repeated_responses(rec)
    first = np.flatnonzero(rec["repeat"].values == 0)
    np.testing.assert_array_equal(reps["frame"].values, first)
    np.testing.assert_array_equal(reps["offset"].values, np.arange(FREEZE))
    from retinacodec.model.training import fit

    model = fit(rec, epochs=1, seed=0, progress=False)
    pred = predict(model, rec, reps["frame"].values[model.config.history - 1 :])
    joined = xr.merge([pred.rename("pred"), reps.mean("repeat").rename("mean")], join="inner")
    assert joined.sizes["frame"] == FREEZE - model.config.history + 1


def test_cli_info_fit_evaluate_with_no_options(run_freeze, tmp_path, capsys):
    """The numbers of issue 11 at test size: labels found, a temporal-only model, strict JSON, a good fit."""
    _, path = run_freeze
    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert f"{N_TRIALS} test repeats of {FREEZE} frames" in text and "full field" in text
    assert "frozen_noise -> test" in text and "units column cell_type" in text and "--test-block" in text
    model = tmp_path / "m.pt"
    assert main(["fit", str(path), "--out", str(model)]) == 0
    out, err = capsys.readouterr()
    assert "temporal-only model (1x1 kernels)" in out and "fit: epoch 1/40" in err
    assert main(["evaluate", str(model), str(path), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"invalid JSON {c}"))
    assert scores["block"] == f"test ({N_TRIALS} repeats)" and len(scores["r"]) == 4
    assert scores["median_r"] > 0.6 and scores["median_feve"] is not None


@pytest.mark.parametrize(("side", "kernels"), [(1, (1, 1)), (5, (1, 1)), (10, (3, 3)), (20, (9, 7)), (30, (13, 9)),
                                               (39, (15, 11)), (40, (15, 11)), (50, (15, 11)), (100, (15, 11))])
def test_kernel_sizes_follow_the_stimulus_size(side, kernels):
    from retinacodec.model.bncnn import BNCNNConfig, auto_kernel_sizes, preset_config

    assert auto_kernel_sizes((side, side + 7)) == kernels
    config = preset_config("auto", n_cells=2, input_size=(side, side))
    assert config.kernel_sizes == kernels and isinstance(config, BNCNNConfig)


def test_crop_and_downsample_are_applied_and_recorded(nwb_factory):
    truth = nwb_factory("optical", ny=6, nx=8)
    rec = read_nwb(truth.path, crop=(1, 2, 4, 6), downsample=2)
    expected = truth.movie[:, 1:5, 2:8].reshape(-1, 2, 2, 3, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(rec["stimulus"].values, expected, rtol=1e-6)
    assert rec.attrs["pixel_size_um"] == pytest.approx(2 * truth.pixel_um)
    assert json.loads(rec.attrs["preprocessing"]) == {"crop": [1, 2, 4, 6], "downsample": 2}
    with pytest.raises(RecordingError, match="reaches outside"):
        read_nwb(truth.path, crop=(0, 0, 7, 8))


def test_bin_width_resamples_the_stimulus_and_rebins_the_spikes(run_freeze):
    rec, path = run_freeze
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordingWarning)
        binned = read_nwb(path, bin_ms=5.0)
    assert binned.attrs["frame_rate_hz"] == 200.0 and json.loads(binned.attrs["preprocessing"]) == {"bin_ms": 5.0}
    onsets = binned["time"].values
    np.testing.assert_allclose(np.diff(onsets), 0.005, atol=1e-9)
    on_screen = np.searchsorted(rec["time"].values, onsets, side="right") - 1
    np.testing.assert_array_equal(binned["stimulus"].values, rec["stimulus"].values[on_screen])
    assert abs(int(binned["spikes"].sum()) - int(rec["spikes"].sum())) <= int(rec["spikes"].values[-2:].sum())
    np.testing.assert_array_equal(binned["block"].values, rec["block"].values[on_screen])


def test_unrecognised_columns_warn_and_are_fixed_with_options(run_freeze, tmp_path):
    """A lab's own column names: the reader says it used no table, and block_column/repeat_column fix it."""
    rec, _ = run_freeze
    path = write_lab_nwb(rec, tmp_path / "protocol.nwb", columns=("protocol", "sweep"))
    with pytest.warns(RecordingWarning, match=r"'trials': protocol, sweep.*--block-column"):
        ignored, labelling = inspect_nwb(path)
    assert labelling is None and set(ignored["block"].values) == {"train"}
    fixed, labelling = _read_quietly(path, block_column="protocol", repeat_column="sweep")
    np.testing.assert_array_equal(fixed["block"].values, rec["block"].values)
    np.testing.assert_array_equal(fixed["repeat"].values, rec["repeat"].values)
