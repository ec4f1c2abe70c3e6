"""The shipped sample: loadable, reproducible from its documented command, and fittable."""

import numpy as np
import pytest

from retinacodec.model.evaluation import evaluate
from retinacodec.model.training import fit
from retinacodec.sample import load_sample, load_sample_model
from retinacodec.sim.simulate import simulate_retina

# the parameters of `retinacodec simulate retinacodec/data/sample.nwb --seed 0 --train-seconds 1200`
# (retinacodec/data/README.md)
SAMPLE_PARAMS = dict(seed=0, train_seconds=1200.0)


@pytest.fixture(scope="session")
def sample():
    return load_sample()


def test_sample_loads_with_truth(sample):
    rec, truth = sample
    assert rec.sizes == {"frame": 125500, "y": 20, "x": 20, "cell": 9}
    assert rec.attrs["frame_rate_hz"] == 100.0 and rec.attrs["pixel_size_um"] == 50.0
    assert sorted(set(truth["cell_type"].values)) == ["OFF", "ON", "ON-OFF"]
    assert (truth["time"].values == rec["time"].values).all()
    assert len(np.unique(rec["repeat"].values[rec["repeat"].values >= 0])) == 5


def test_sample_is_reproducible_from_its_command(sample):
    rec, truth = sample
    again, again_truth = simulate_retina(**SAMPLE_PARAMS)
    np.testing.assert_array_equal(rec["stimulus"].values, again["stimulus"].values)
    np.testing.assert_array_equal(rec["spikes"].values, again["spikes"].values)
    np.testing.assert_allclose(rec["time"].values, again["time"].values, rtol=0, atol=1e-9)
    for name in ("on_drive", "off_drive", "amacrine", "rate"):  # stored to 4 significant digits
        np.testing.assert_allclose(truth[name].values, again_truth[name].values, rtol=1e-3, atol=1e-3)


def test_shipped_model_predicts_true_rate(sample):
    rec, truth = sample
    model = load_sample_model()
    scores = evaluate(model, rec, truth)
    assert scores.attrs["median_r_truth"] >= 0.85
    assert model.metadata["session_id"] == rec.attrs["session_id"]


@pytest.mark.slow
def test_model_fitted_to_sample_predicts_true_rate(sample):
    """A fresh fit in quick mode (1 epoch) already predicts the true noise-free rate with median r >= 0.8.

    The full fit (issue 3's number, median r >= 0.85) is the shipped model's (tested above) and
    the one ``make demo`` runs and prints; with seed 0, 1, 2 and 3 epochs reached 0.819, 0.849
    and 0.831 when measured.
    """
    rec, truth = sample
    model = fit(rec, preset="sample", seed=0, epochs=1, progress=False)
    scores = evaluate(model, rec, truth)
    print(scores.to_dataframe().round(3), scores.attrs)
    assert scores.attrs["median_r_truth"] >= 0.8
    assert np.isfinite(scores["feve"].values).all() and scores.attrs["median_feve"] > 0.5
