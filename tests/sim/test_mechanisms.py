"""The simulator's published mechanisms: omitted-stimulus resonance and contrast adaptation (issue 12)."""

import numpy as np
import pytest

from retinacodec.phenomena import contrast_adaptation, osr
from retinacodec.sim import RetinaCircuit
from retinacodec.sim.circuit import OmittedStimulusResonance


@pytest.fixture(scope="session")
def circuit():
    return RetinaCircuit.phenomena(n_cells_per_type=1, size=(12, 12), seed=0)


def test_mechanisms_are_off_by_default():
    c = RetinaCircuit.random(n_cells_per_type=1, size=(12, 12), seed=0, calibration_s=5.0)
    assert c.resonance is None and c.adaptation is None and c.w_resonant is None
    assert not any("resonance" in k or "adaptation" in k for k in c.attrs())
    assert "resonant" not in c.respond(np.zeros((20, 12, 12), np.float32))
    with pytest.raises(ValueError, match="no resonant pathway"):
        c.lesion("resonant")


def test_osr_latency_is_timed_to_the_omitted_flash(circuit):
    """Strict: over four periods the latency after the omitted flash changes < 1 frame per frame of period."""
    ds = osr(circuit, intervals=(6, 8, 10, 12))
    has = ds["has_osr"].values.astype(bool)
    assert has.sum() >= 1
    slope = ds["slope"].values[has]
    assert np.all(np.abs(slope) < 1.0), slope
    # a response timed to the last flash would have slope -1; this one moves with the period
    assert np.all(slope + 1.0 > 0.5)
    # at torch-deep-retina's period (10 frames) the response after the omission exceeds any in the train's last period
    assert np.all(ds["osr_index"].sel(interval=10).values[has] > 1.5)
    assert ds.attrs["slope_median"] == pytest.approx(float(np.median(slope)))


def test_osr_needs_the_resonant_terminals(circuit):
    lesioned = osr(circuit.lesion("resonant"), intervals=(6, 8, 10, 12))
    intact = osr(circuit, intervals=(6, 8, 10, 12))
    has = intact["has_osr"].values.astype(bool)
    assert np.all(lesioned["osr_peak"].values[:, has] < 0.5 * intact["osr_peak"].values[:, has])


def test_contrast_adaptation_lowers_gain_and_speeds_the_filter():
    """Strict: after a step to high contrast the LN gain falls well below a non-adapting circuit's."""
    adapting = contrast_adaptation(RetinaCircuit.phenomena(1, (12, 12), seed=0, resonance=False))
    plain = contrast_adaptation(RetinaCircuit.random(1, (12, 12), seed=0))
    assert np.all(adapting["gain_ratio"].values < 0.6 * plain["gain_ratio"].values)
    assert np.all(adapting["gain_ratio"].values < 0.5)
    peak = adapting["filter_peak_ms"].values  # (contrast, cell)
    assert np.all(peak[1] <= peak[0]) and np.any(peak[1] < peak[0])


def test_resonance_rejects_periods_longer_than_the_filter():
    with pytest.raises(ValueError, match="no cycle"):
        OmittedStimulusResonance(periods_s=(0.5,)).filters(np.ones(40) / np.sqrt(40), 100.0)
