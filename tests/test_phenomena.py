"""In-silico retinal phenomena (issue 12): experiments, run_all's table, figures and the CLI."""

import matplotlib
import numpy as np
import pytest
import torch

from retinacodec.cli import main
from retinacodec.figures.phenomena import PHENOMENON_PLOTS, plot_phenomenon
from retinacodec.model import BNCNN, Normalization, fit, preset_config, save_checkpoint
from retinacodec.phenomena import EXPERIMENTS, osr, respond, run_all
from retinacodec.sim import RetinaCircuit, simulate_retina

matplotlib.use("Agg")

DIMS = {  # experiment -> dims of its rate (besides source) and its per-cell measures
    "step": (("time", "cell"), ["peak_latency_ms", "transience"]),
    "paired_flash": (("interval", "time", "cell"), ["ratio"]),
    "osr": (("interval", "time", "cell"), ["latency_ms", "osr_peak", "osr_index", "slope", "has_osr"]),
    "latency_coding": (("intensity", "time", "cell"), ["latency_ms", "amplitude"]),
    "motion_anticipation": (("time", "cell"), ["moving", "flashed", "anticipation_px"]),
    "motion_reversal": (("motion", "time", "cell"), ["reversal_response", "reversal_ratio"]),
    "contrast_adaptation": (("time", "cell"), ["filter", "nonlinearity", "gain", "filter_peak_ms", "gain_ratio"]),
}


@pytest.fixture(scope="session")
def circuit():
    return RetinaCircuit.phenomena(n_cells_per_type=1, size=(12, 12), seed=0)


@pytest.fixture(scope="session")
def model():
    torch.manual_seed(0)
    m = BNCNN(preset_config("auto", n_cells=3, input_size=(12, 12)))
    m.normalization = Normalization(mean=0.0, std=1.0)
    m.metadata = {"frame_rate_hz": 100.0}
    return m.eval()


@pytest.fixture(scope="session")
def results(model, circuit):
    return run_all(model, circuit)


def test_run_all_returns_labelled_results_and_a_table(results):
    res, table = results
    assert list(res) == list(EXPERIMENTS)
    for name, ds in res.items():
        dims, measures = DIMS[name]
        assert ds["rate"].dims == ("source", *dims), name
        assert list(ds.source.values) == ["model", "simulator"]
        assert ds.attrs["experiment"] == name and ds.attrs["frame_rate_hz"] == 100.0
        for m in measures:
            assert m in ds and "cell" in ds[m].dims, (name, m)
    assert res["osr"].attrs["intervals"] == [6, 8, 10, 12] and res["osr"].attrs["n_flashes"] == 5
    assert res["step"].attrs["duration"] == 100 and res["paired_flash"].attrs["intensity"] == -2.0
    assert res["latency_coding"].sizes["intensity"] == 21
    assert list(table.columns) == ["model", "simulator", "unit"]
    assert np.isfinite(table.loc["OSR: latency after omitted flash, slope vs period", "simulator"])
    assert table.loc["contrast adaptation: gain high / low", "simulator"] < 0.5


def test_respond_broadcasts_full_field_and_starts_from_grey(model, circuit):
    profile = np.zeros(60, np.float32)
    profile[30:32] = -2.0
    for system in (model, circuit):
        r = respond(system, profile)
        assert r.shape == (60, 3)
        np.testing.assert_allclose(r[:30], r[:1].repeat(30, 0), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(respond(system, np.broadcast_to(profile[:, None, None], (60, 12, 12))), r)
    with pytest.raises(ValueError, match="shape"):
        respond(circuit, np.zeros((5, 3, 3), np.float32))
    with pytest.raises(ValueError, match="three intervals"):
        osr(circuit, intervals=(6, 8))
    with pytest.raises(ValueError, match="unknown experiment"):
        run_all(model, circuit, experiments=["osr", "bogus"])


def test_figures_have_labels(results):
    res, _ = results
    assert set(PHENOMENON_PLOTS) == set(EXPERIMENTS)
    for ds in res.values():
        fig = plot_phenomenon(ds)
        drawn = [ax for ax in fig.axes if ax.has_data()]
        assert drawn and all(ax.get_ylabel() for ax in drawn), ds.attrs["experiment"]
        assert any("(" in ax.get_xlabel() for ax in drawn), ds.attrs["experiment"]  # with its unit
        matplotlib.pyplot.close(fig)
    with pytest.raises(ValueError, match="not a phenomena result"):
        plot_phenomenon(res["osr"].assign_attrs(experiment="x"))


def test_cli_writes_every_file_and_fails_cleanly(model, tmp_path, capsys):
    path = save_checkpoint(tmp_path / "m.pt", model, model.normalization, metadata=model.metadata)
    out = tmp_path / "ph"
    assert main(["phenomena", str(path), "--out", str(out)]) == 2  # fitted to no known simulation: says so
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--truth" in err and "--reference" in err
    assert main(["phenomena", str(path), "--out", str(out), "--reference"]) == 0
    printed = capsys.readouterr().out
    for name in EXPERIMENTS:
        for ext in ("nc", "png", "pdf"):
            assert (out / f"{name}.{ext}").is_file() and str(out / f"{name}.{ext}") in printed
    assert (out / "table.txt").is_file() and (out / "table.json").is_file()
    assert main(["phenomena", str(path), "--out", str(out), "--reference"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["phenomena", str(path), "--out", str(out), "--overwrite", "--reference"]) == 0
    assert main(["phenomena", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "x")]) == 2
    assert "retinacodec: error" in capsys.readouterr().err


def test_quick_fit_to_the_osr_circuit_has_an_osr_timed_to_the_omitted_flash(circuit):
    """A quick model (120 s, 8 epochs) of the OSR circuit: loose version of bench_phenomena's measure.

    8 epochs: the default separable layer 1 times the OSR to the omitted flash after 8 (slopes 0.06-0.13),
    not yet after 4 (-1.08); the published layer passes after 4 and 8 (-0.8 / -0.3).
    """
    torch.set_num_threads(1)
    rec, _ = simulate_retina(circuit=circuit, size=(12, 12), train_seconds=120.0, test_seconds=2.0, n_repeats=1,
                             seed=0, flash_train_fraction=0.3)
    model = fit(rec, seed=0, epochs=8, progress=False)
    ds = osr(model, intervals=(6, 8, 10, 12))
    has = ds["has_osr"].values.astype(bool)
    assert has.any()
    assert np.all(np.abs(ds["slope"].values[has]) < 1.0)
