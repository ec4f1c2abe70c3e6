"""Full-field recordings (1x1 stimulus) and recordings whose held-out data are unrepeated chunks (issue 21)."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

import retinacodec as rc  # noqa: E402
from retinacodec.model.evaluation import check_provenance  # noqa: E402
from retinacodec.model.frames import choose_frames, default_frames, training_frames  # noqa: E402


@pytest.fixture(scope="module")
def full_field():
    """A run/freeze full-field recording with 6 circuit cells and 2 exact LN cells, and a 5-epoch fit (~7 s)."""
    rec, truth = rc.simulate_run_freeze(n_cells=6, n_ln_cells=2, n_trials=10, run_frames=900, freeze_frames=150,
                                        seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = rc.fit(rec, seed=0, epochs=5, progress=False)
    return rec, truth, model


@pytest.fixture(scope="module")
def irf(full_field):
    rec, _, model = full_field
    return rc.rf.instantaneous_rf(model, rec, rank1=True)


def _signed_temporal(parts: xr.Dataset) -> xr.DataArray:
    """A 1x1 rank-1 part's temporal filter times its (scalar) spatial part: the filter with its polarity."""
    return parts["temporal"] * parts["spatial"].squeeze(("y", "x"))


def test_rank1_of_a_one_pixel_map_keeps_the_polarity_in_the_temporal_filter(irf):
    # was: spatial +1 or -1 at random per frame, and temporal flipped with it
    spatial = irf["spatial"].values.squeeze((2, 3))
    live = spatial != 0
    assert live.mean() > 0.9
    assert np.all(spatial[live] > 0.999)  # 100 % of (frame, cell) entries
    # temporal is then the IRF's own (mean-subtracted, unit-norm) time course, sign included: no flip in any frame
    raw = np.random.default_rng(0).normal(size=(30, 40))
    parts = rc.rf.rank1(xr.DataArray(raw[:, :, None, None], dims=("frame", "lag", "y", "x")))
    raw = raw - raw.mean(1, keepdims=True)
    np.testing.assert_allclose(parts["temporal"].values, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-5)


@pytest.mark.parametrize("seed", [3, 4])
def test_mean_irf_temporal_filter_matches_the_sta_in_every_cell(seed):
    # tutorial 04's recording (8 cells, 20 trials of 900 running + 300 frozen frames) and fit, ~3 s
    rec, _ = rc.simulate_run_freeze(n_cells=8, n_trials=20, run_frames=900, freeze_frames=300, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = rc.fit(rec, seed=0, epochs=40, progress=False)
    irf = rc.rf.instantaneous_rf(model, rec, rank1=True)
    sta = _signed_temporal(rc.rf.rank1(rc.rf.sta(rec, model.config.history)["sta"]))
    mean_irf = _signed_temporal(rc.rf.rank1(rc.rf.mean_irf(irf)))  # the mean gradient, rebuilt from rank-1 parts
    r = {int(c): float(np.corrcoef(mean_irf.sel(cell=c), sta.sel(cell=c))[0, 1]) for c in rec["cell"].values}
    assert min(r.values()) >= 0.95, r  # every cell, ON-OFF too; measured 0.953-0.994 (seed 3), 0.957-0.993 (seed 4)
    # the same as the mean of the full IRFs, up to the mean over lags that rank-1 parts leave out
    full = rc.rf.mean_irf(rc.rf.instantaneous_rf(model, rec, irf["frame"].values)).values
    np.testing.assert_allclose(full - full.mean(1, keepdims=True), rc.rf.mean_irf(irf).values, atol=1e-6)
    # the mean of the unit-norm temporal parts weighs near-silent frames as much as firing ones: a worse estimate
    naive = irf["temporal"].mean("frame")
    r_naive = [float(np.corrcoef(naive.sel(cell=c), sta.sel(cell=c))[0, 1]) for c in rec["cell"].values]
    assert min(r_naive) < 0.95 < min(r.values()), (r_naive, r)  # was: 0.86-0.98 (seed 3)
    with pytest.raises(ValueError, match="rank-1 parts"):
        rc.rf.mean_irf(irf[["rate"]])


def test_ln_baseline_recovers_the_true_filter_of_ln_cells(full_field):
    rec, truth, model = full_field
    ln = rc.fit_ln(rec, history=model.config.history)
    fitted = ln.filter_.squeeze(("y", "x")).values[:, ::-1]  # lag 0 first, as the truth
    true = truth["filter"].values
    ln_cells = np.flatnonzero(np.isfinite(true).all(axis=1))
    assert ln_cells.size == 2
    for c in ln_cells:
        r = np.corrcoef(fitted[c, : true.shape[1]], true[c])[0, 1]
        assert r >= 0.95, (c, r)  # measured 0.99 / 0.98
    scores = rc.evaluate(model, rec, truth, baseline=ln)
    assert {"ln_r", "ln_feve", "ln_r_truth"} <= set(scores.data_vars)
    assert scores.attrs["ln_median_r"] == pytest.approx(np.nanmedian(scores["ln_r"].values))
    # the LN model of an exactly-LN cell predicts its true rate almost perfectly
    assert scores["ln_r_truth"].values[ln_cells].min() > 0.95
    with pytest.raises(ValueError, match="fitted to 1x1"):
        ln.predict(rec.isel(cell=[0, 1]))


def test_gaussian_flicker():
    rec, truth = rc.simulate_run_freeze(n_cells=3, n_trials=4, run_frames=600, freeze_frames=100, seed=1,
                                        flicker="gaussian")
    values = rec["stimulus"].values.ravel()
    assert np.unique(values).size > 1000 and abs(values.std() - 1) < 0.05  # unit-variance contrast, not +-1
    frozen = [values[(rec["repeat"] == k).values] for k in (0, 3)]
    np.testing.assert_array_equal(*frozen)  # the frozen sequence repeats
    assert rec.attrs["flicker"] == "gaussian" and np.isfinite(truth["rate"].values).all()
    with pytest.raises(ValueError, match="flicker='pink'"):
        rc.simulate_run_freeze(n_cells=3, n_trials=2, run_frames=100, freeze_frames=50, flicker="pink")


def test_default_frames_without_repeats():
    rec, _ = rc.simulate_run_freeze(n_cells=3, n_trials=3, run_frames=300, freeze_frames=120, seed=1, repeats=False)
    assert not np.any(rec["repeat"].values >= 0)
    frames, rule = choose_frames(rec, 40)
    assert rule.startswith("the test block") and frames.size > 0
    assert np.all(rec["block"].values[frames] == "test")
    # no test block at all: the model's held-out validation frames, when the model was fitted to this recording
    train_only = rec.assign_coords(block=("frame", np.full(rec.sizes["frame"], "train")))
    meta = {"session_id": rec.attrs["session_id"], "heldout_frames": list(range(500, 600))}
    frames, rule = choose_frames(train_only, 40, meta)
    assert "held-out" in rule and frames.tolist() == list(range(500, 600))
    kept = training_frames(train_only, 40, meta)
    assert not np.any((kept >= 500) & (kept < 600 + 39))  # no window touches a held-out frame
    with pytest.raises(ValueError, match="--frames"):
        default_frames(train_only, 40, {**meta, "session_id": "another"})


def test_contributions_and_irfs_run_without_repeats(full_field):
    _, _, model = full_field
    rec, _ = rc.simulate_run_freeze(n_cells=6, n_ln_cells=2, n_trials=2, run_frames=300, freeze_frames=100, seed=5,
                                    repeats=False)
    rec.attrs["session_id"] = model.metadata["session_id"]  # same shape; avoid the other-recording warning
    ds = rc.contributions_for_recording(model, rec, ["layer1"], reduce="space")  # was: "no frames of test repeat 0"
    assert np.array_equal(ds["frame"].values, default_frames(rec, model.config.history))
    assert rc.rf.instantaneous_rf(model, rec, rank1=True).sizes["frame"] == ds.sizes["frame"]


def test_a_model_of_another_recording_warns_naming_both(full_field):
    rec, _, model = full_field
    other = rec.assign_attrs(session_id="another-session", source_file="other.nwb")
    with pytest.warns(UserWarning, match="fitted to .* not to other.nwb"):
        assert not check_provenance(model, other)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_provenance(model, rec)


def test_sta_and_irf_results_travel(full_field, irf, tmp_path):
    rec, _, model = full_field
    sta = rc.rf.sta(rec, model.config.history)
    for ds in (sta, irf):
        for name in ds.data_vars:
            assert "units" in ds[name].attrs, name
    big, _ = rc.simulate_retina(n_cells_per_type=1, size=(12, 14), train_seconds=20, test_seconds=2, n_repeats=2,
                                pixel_size_um=30.0)
    s = rc.rf.sta(big, 10, nonlinearity=False)
    assert s["x_um"].values.tolist() == [30.0 * i for i in range(14)] and s["y_um"].attrs["units"] == "µm"
    path = tmp_path / "sta.nc"
    s.to_netcdf(path)
    with xr.open_dataset(path) as back:  # no retinacodec needed to read it
        assert back["sta"].shape == s["sta"].shape and "y_um" in back.coords


def test_full_field_figures_draw_time_not_space(full_field, irf):
    rec, _, model = full_field
    fig = rc.figures.plot_recording(rec)
    assert not any(ax.images for ax in fig.axes)  # was: four 1x1 grey "frames"
    assert "µm" not in fig._suptitle.get_text() and "full-field" in fig._suptitle.get_text()
    assert not any("µm" in t.get_text() for ax in fig.axes for t in ax.texts)
    plt.close(fig)
    parts = {"STA": rc.rf.rank1(rc.rf.sta(rec, model.config.history)["sta"]),
             "mean IRF": rc.rf.rank1(rc.rf.mean_irf(irf))}
    fig = rc.figures.plot_rf_pairs(parts, cell_types=rec["cell_type"])
    assert not any(ax.images for ax in fig.axes)
    colours = [[ln.get_color() for ln in ax.lines if len(ln.get_xdata()) > 2] for ax in fig.axes]
    # a cell of one polarity is drawn in one colour in both columns (was: ON red in the STA, blue in the IRF)
    single = np.flatnonzero(np.isin(rec["cell_type"].values, ["ON", "OFF", "LN-ON", "LN-OFF"]))
    sta_colour, irf_colour = [c[0] for c in colours[0::2]], [c[0] for c in colours[1::2]]
    assert [sta_colour[i] for i in single] == [irf_colour[i] for i in single]
    assert len({sta_colour[i] for i in single}) == 2  # both ON and OFF colours appear
    plt.close(fig)
    with pytest.raises(ValueError, match="full-field"):
        rc.figures.plot_rf_mosaic(xr.Dataset({k: ("cell", [0.0]) for k in ("centre_y_um", "centre_x_um", "width_um",
                                                                          "height_um", "angle", "polarity")}),
                                  (1, 1))


def test_prediction_of_separate_chunks_is_drawn_in_separate_panels(full_field):
    rec, _, model = full_field
    frames = np.r_[np.arange(1000, 1300), np.arange(5000, 5300)]
    pred = rc.predict(model, rec, frames)
    fig = rc.figures.plot_prediction(pred, pred * 1.1)
    title = fig._suptitle.get_text()
    assert "2 separate held-out chunks" in title and "whole" not in title
    columns = {round(ax.get_position().x0, 2) for ax in fig.axes}
    assert len(columns) == 2
    plt.close(fig)
