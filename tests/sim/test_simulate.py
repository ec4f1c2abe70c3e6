"""Tests for the ground-truth retina: retinacodec.sim.circuit and retinacodec.sim.simulate."""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from retinacodec.recording import repeated_responses, validate_recording
from retinacodec.sim.circuit import RetinaCircuit
from retinacodec.sim.simulate import simulate_retina
from retinacodec.sim.stimuli import full_field_step, white_noise

SHORT = {"train_seconds": 120.0, "test_seconds": 5.0, "n_repeats": 3}


@pytest.fixture(scope="session")
def sim():
    return simulate_retina(seed=1, **SHORT)


@pytest.fixture(scope="session")
def circuit():
    return RetinaCircuit.random(n_cells_per_type=3, size=(20, 20), seed=0)


def test_simulation_is_deterministic(sim):
    rec, truth = sim
    rec2, truth2 = simulate_retina(seed=1, **SHORT)
    np.testing.assert_array_equal(rec.stimulus.values, rec2.stimulus.values)
    np.testing.assert_array_equal(rec.spikes.values, rec2.spikes.values)
    np.testing.assert_array_equal(truth.rate.values, truth2.rate.values)
    rec3, truth3 = simulate_retina(seed=2, **SHORT)
    assert not np.array_equal(rec.stimulus.values, rec3.stimulus.values)
    assert not np.array_equal(rec.spikes.values, rec3.spikes.values)
    assert not np.allclose(truth.position_x.values, truth3.position_x.values)


def test_recording_is_valid_with_blocks_and_repeats(sim):
    rec, _ = sim
    validate_recording(rec)
    n_train, n_gap, n_test = 12000, 100, 500
    assert rec.sizes == {"frame": n_train + 3 * (n_gap + n_test), "y": 20, "x": 20, "cell": 9}
    assert rec.stimulus.dtype == np.float32 and rec.spikes.dtype == np.int32
    time = rec.time.values
    assert time[0] == 0.0 and np.all(np.diff(time) > 0)
    np.testing.assert_allclose(np.diff(time), 0.01)
    block = rec.block.values
    assert np.all(block[:n_train] == "train")
    assert np.all(block[n_train : n_train + n_gap] == "other")
    assert (block == "test").sum() == 3 * n_test
    assert sorted(set(rec.repeat.values[block == "test"])) == [0, 1, 2]
    assert np.all(rec.repeat.values[block != "test"] == -1)
    assert rec.attrs["frame_rate_hz"] == 100.0 and rec.attrs["pixel_size_um"] == 50.0
    assert rec.attrs["simulated"] == 1 and rec.attrs["seed"] == 1
    assert rec.attrs["stimulus_name"] == "white_noise" and "seed1" in rec.attrs["session_id"]


def test_truth_is_aligned_with_the_recording(sim):
    rec, truth = sim
    np.testing.assert_array_equal(truth.frame.values, rec.frame.values)
    np.testing.assert_array_equal(truth.cell.values, rec.cell.values)
    np.testing.assert_array_equal(truth.time.values, rec.time.values)
    for name in ("on_drive", "off_drive", "amacrine", "rate"):
        assert truth[name].dims == ("frame", "cell")
    assert list(truth.cell_type.values) == ["ON"] * 3 + ["OFF"] * 3 + ["ON-OFF"] * 3
    on, off, on_off = (truth.cell_type.values == t for t in ("ON", "OFF", "ON-OFF"))
    assert np.all(truth.off_drive.values[:, on] == 0) and np.all(truth.on_drive.values[:, off] == 0)
    assert np.all(truth.on_drive.values[:, on_off].std(0) > 0)
    assert np.all(truth.off_drive.values[:, on_off].std(0) > 0)
    assert np.all(truth.amacrine.values > 0) and np.all(truth.rate.values >= 0)
    np.testing.assert_allclose(
        truth.generator.values, truth.on_drive.values + truth.off_drive.values - truth.amacrine.values, atol=1e-5
    )
    sigma = truth.rf_sigma.values
    assert np.all((sigma >= 1.5) & (sigma <= 2.5))
    for pos, n in ((truth.position_y.values, 20), (truth.position_x.values, 20)):
        assert np.all(pos - 2 * sigma >= 0) and np.all(pos + 2 * sigma <= n - 1)


def test_repeats_share_the_stimulus_but_not_the_spikes(sim):
    rec, truth = sim
    stim = repeated_responses(rec, "stimulus").values
    spikes = repeated_responses(rec, "spikes").values
    rate = truth.rate.values[rec.block.values == "test"].reshape(3, 500, -1)
    for r in (1, 2):
        np.testing.assert_array_equal(stim[r], stim[0])
        np.testing.assert_allclose(rate[r], rate[0], rtol=1e-5, atol=1e-4)  # float32 rounding
        assert not np.array_equal(spikes[r], spikes[0])


@pytest.mark.parametrize("stimulus", ["white_noise", "natural"])
def test_mean_rates_are_realistic(stimulus):
    rec, truth = simulate_retina(stimulus=stimulus, seed=0, **SHORT)
    rate = truth.rate.values
    assert np.all((rate.mean(0) > 5) & (rate.mean(0) < 40))
    assert np.all(rate.max(0) > 50) and np.all(rate.max(0) < 1000)
    observed = rec.spikes.values.mean(0) * rec.attrs["frame_rate_hz"]
    np.testing.assert_allclose(observed, rate.mean(0), rtol=0.15)


@pytest.mark.parametrize("calibration", ["white_noise", "natural"])
def test_cell_types_respond_to_a_full_field_step_with_the_right_polarity(calibration):
    circuit = RetinaCircuit.random(n_cells_per_type=3, size=(20, 20), seed=0, calibration=calibration)
    onset, offset = 100, 200
    rate = circuit.respond(full_field_step(300, onset, offset, intensity=1.0, size=(20, 20))).rate.values

    def change(t: int) -> np.ndarray:  # peak window 60-160 ms after t minus the 200 ms before t
        return rate[t + 6 : t + 16].mean(0) - rate[t - 20 : t].mean(0)

    kind = circuit.cell_type
    assert np.all(change(onset)[kind == "ON"] > 0) and np.all(change(offset)[kind == "ON"] < 0)
    assert np.all(change(onset)[kind == "OFF"] < 0) and np.all(change(offset)[kind == "OFF"] > 0)
    assert np.all(change(onset)[kind == "ON-OFF"] > 0) and np.all(change(offset)[kind == "ON-OFF"] > 0)


def test_amacrine_inhibition_has_an_effect(circuit):
    stim = white_noise(2000, size=(20, 20), seed=4)
    full = circuit.respond(stim)
    lesioned = circuit.lesion("amacrine").respond(stim)
    assert np.all(lesioned.amacrine.values == 0)
    np.testing.assert_array_equal(lesioned.on_drive.values, full.on_drive.values)
    assert np.all(lesioned.rate.values.mean(0) > 1.5 * full.rate.values.mean(0))
    with pytest.raises(ValueError, match="unknown pathway"):
        circuit.lesion("bipolar")


def test_spike_triggered_average_has_the_right_sign():
    rec, truth = simulate_retina(seed=3, train_seconds=120.0, n_repeats=0)
    stim, spikes = rec.stimulus.values, rec.spikes.values.astype(np.float32)
    n_lags = 12
    windows = sliding_window_view(stim, n_lags, axis=0)[:, :, :, ::-1]  # (t, y, x, lag)
    sta = np.einsum("tyxl,tc->cyxl", windows, spikes[n_lags - 1 :]) / spikes[n_lags - 1 :].sum(0)[:, None, None, None]
    gy, gx = np.mgrid[0:20, 0:20]
    for c in range(truth.sizes["cell"]):
        d2 = (gy - truth.position_y.values[c]) ** 2 + (gx - truth.position_x.values[c]) ** 2
        weight = np.exp(-d2 / (2 * truth.rf_sigma.values[c] ** 2))
        centre = np.tensordot(weight / weight.sum(), sta[c], axes=2)  # (lag,)
        peak = centre[4:10].mean()  # 40-90 ms
        kind = truth.cell_type.values[c]
        if kind == "ON":
            assert peak > 3 * abs(centre[0])
        elif kind == "OFF":
            assert peak < -3 * abs(centre[0])


def test_filters_have_realistic_shapes(circuit):
    for pathway, (lo, hi) in (("on", (0.05, 0.08)), ("off", (0.04, 0.07))):
        f = circuit.temporal_filter(pathway)
        assert f.shape == (40,)
        assert lo <= np.argmax(f) / circuit.frame_rate_hz <= hi
        assert f.min() < -0.2 * f.max()  # biphasic
        assert np.argmin(f) > np.argmax(f)
    k = circuit.spatial_filter()
    r = k.shape[0] // 2
    assert k[r, r] == k.max() > 0 and k.min() < 0
    np.testing.assert_allclose(np.linalg.norm(k), 1.0)
    g = circuit.amacrine_filter()
    assert np.all(g[:3] == 0) and g[3] > 0
    np.testing.assert_allclose(g.sum(), 1.0)


def test_respond_starts_from_grey_and_is_chunk_invariant(circuit):
    stim = white_noise(700, size=(20, 20), seed=5)
    stim[:10] = 0.0
    whole = circuit.respond(stim).rate.values
    np.testing.assert_allclose(circuit.respond(stim, chunk_frames=64).rate.values, whole, rtol=1e-4, atol=1e-4)
    grey = circuit.respond(np.zeros((50, 20, 20), np.float32)).rate.values
    np.testing.assert_allclose(grey, grey[:1].repeat(50, axis=0), rtol=1e-5)
    np.testing.assert_allclose(whole[:10], grey[:10], rtol=1e-5)


def test_bad_arguments_raise(circuit):
    with pytest.raises(ValueError, match="stimulus must have shape"):
        circuit.respond(np.zeros((10, 5, 5), np.float32))
    with pytest.raises(ValueError, match="stimulus must be one of"):
        simulate_retina(stimulus="bars")
    with pytest.raises(ValueError, match="circuit was built"):
        simulate_retina(size=(30, 30), circuit=circuit, train_seconds=1.0)
    with pytest.raises(ValueError, match="too small"):
        RetinaCircuit.random(size=(6, 6))


def test_simulate_uses_a_given_circuit(circuit):
    _, truth = simulate_retina(circuit=circuit, train_seconds=5.0, n_repeats=1, n_cells_per_type=1)
    assert truth.sizes["cell"] == circuit.n_cells
    np.testing.assert_array_equal(truth.position_x.values, circuit.position_x)
