"""Every command of the README table on full-field recordings: run/freeze repeats, and unrepeated held-out chunks.

Tiny fits (one epoch of 2,000 frames) and short recordings: the point is that each command runs
with no options and exits 0, and that what it writes reads back. Issue 21.
"""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timezone

import numpy as np
import pytest
import xarray as xr
from nwbinspector import inspect_nwbfile
from pynwb import NWBHDF5IO, NWBFile
from pynwb.image import ImageSeries

import retinacodec as rc
from retinacodec.cli import main

KINDS = {"repeats": True, "chunks": False}


@pytest.fixture(scope="module", params=list(KINDS))
def fitted(request, tmp_path_factory):
    """A full-field NWB file (run/freeze, or held-out chunks without repeats) and a one-epoch model of it."""
    out = tmp_path_factory.mktemp(f"ff-{request.param}")
    rec, _ = rc.simulate_run_freeze(n_cells=4, n_trials=3, run_frames=600, freeze_frames=120, seed=4,
                                    repeats=KINDS[request.param])
    path = out / "rec.nwb"
    rc.write_nwb(rec, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the simulated monitor drops frames: the reader says so
        assert main(["fit", str(path), "--out", str(out / "model.pt"), "--epochs", "1"]) == 0
    return out, request.param


def run(*args: str) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return main(list(args))


@pytest.mark.slow
def test_every_command_runs_with_no_options(fitted, capsys):
    out, kind = fitted
    rec, model = str(out / "rec.nwb"), str(out / "model.pt")
    assert run("info", rec) == 0
    assert run("evaluate", model, rec) == 0
    assert run("rf", model, rec, "--out", str(out / "rf.nc")) == 0
    assert run("contributions", model, rec, "--out", str(out / "c.nc")) == 0
    assert run("decompose", model, rec, "--out", str(out / "modes.nc")) == 0
    with xr.open_dataset(out / "modes.nc") as modes:
        assert modes.attrs["preset"] == "codec" and (modes["n_modes"] > 0).all()  # the default keeps modes here
    assert run("figures", str(out / "modes.nc"), "--irf", str(out / "rf.nc"), "--recording", rec,
               "--out", str(out / "figs")) == 0
    text = capsys.readouterr()
    expected = "test repeat 0" if kind == "repeats" else "the test block (unrepeated chunks)"
    assert f"frames: {expected}" in text.out
    figures = {p.stem for p in (out / "figs").glob("*.png")}
    assert {"recording", "retina_figure", "mode_atoms"} <= figures
    with xr.open_dataset(out / "rf.nc") as irf, xr.open_dataset(out / "c.nc") as c:
        assert np.array_equal(irf["frame"].values, c["frame"].values)
        assert np.all(irf["spatial"].values[irf["spatial"].values != 0] > 0)  # the polarity is in temporal
    with xr.open_dataset(out / "rf.nc", group="sta") as sta:
        assert sta["sta"].dims == ("cell", "lag", "y", "x") and sta["sta"].attrs["units"]


def test_contributions_frames_flag(fitted):
    out, _ = fitted
    path = out / "c-frames.nc"
    assert run("contributions", str(out / "model.pt"), str(out / "rec.nwb"), "--out", str(path),
               "--frames", "100", "140") == 0
    with xr.open_dataset(path) as c:
        assert c["frame"].values.tolist() == list(range(100, 140))


def test_evaluate_ln_baseline_and_split_prediction_figure(fitted, capsys):
    out, kind = fitted
    rec, model = str(out / "rec.nwb"), str(out / "model.pt")
    assert run("evaluate", model, rec, "--baseline", "ln", "--json") == 0
    scores = json.loads(capsys.readouterr().out)
    assert len(scores["ln_r"]) == 4 and np.isfinite(scores["ln_median_r"])
    assert run("evaluate", model, rec, "--baseline", "ln", "--figure", str(out / "p.png"), "--overwrite") == 0
    table = capsys.readouterr().out
    assert "ln_r" in table.splitlines()[0] and "classic LN model" in table
    assert (out / "p.png").stat().st_size > 0


def test_chunks_are_drawn_apart(fitted):
    out, kind = fitted
    if kind != "chunks":
        pytest.skip("only the recording without repeats has separate held-out chunks")
    rec = rc.read_nwb(out / "rec.nwb")
    model = rc.load_model(out / "model.pt")
    frames = rc.model.frames.default_frames(rec, model.config.history)
    fig = rc.figures.plot_prediction(rc.predict(model, rec, frames), rc.predict(model, rec, frames))
    assert "3 separate held-out chunks" in fig._suptitle.get_text()


def test_a_model_of_another_recording_warns_once_naming_both_files(fitted, tmp_path):
    out, _ = fitted
    rec, _ = rc.simulate_run_freeze(n_cells=4, n_trials=3, run_frames=600, freeze_frames=120, seed=9)
    other = tmp_path / "other.nwb"
    rc.write_nwb(rec, other)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["rf", str(out / "model.pt"), str(other), "--out", str(tmp_path / "rf.nc"), "--no-sta"]) == 0
    lines = [str(w.message) for w in caught if "fitted to" in str(w.message)]
    assert len(lines) == 1 and "\n" not in lines[0]  # was: accepted silently
    assert str(out / "rec.nwb") in lines[0] and str(other) in lines[0]


def test_rf_nwb_out_is_nwbinspector_clean(fitted, tmp_path):
    out, _ = fitted
    src, dst = out / "rec.nwb", tmp_path / "with_rf.nwb"
    assert run("rf", str(out / "model.pt"), str(src), "--out", str(tmp_path / "rf.nc"), "--nwb-out", str(dst)) == 0
    before = {(m.check_function_name, m.location) for m in inspect_nwbfile(nwbfile_path=str(src))}
    after = {(m.check_function_name, m.location) for m in inspect_nwbfile(nwbfile_path=str(dst))}
    assert after <= before  # nothing new to complain about
    with NWBHDF5IO(str(dst), "r") as io:
        table = io.read().processing["ecephys"]["receptive_fields"]
        df = table.to_dataframe()
        assert df.index.tolist() == [0, 1, 2, 3] and set(df["polarity"]) <= {-1, 0, 1}
        assert np.asarray(table["sta"].data).shape == (4, 40, 1, 1)
    assert not list(tmp_path.glob(".with_rf.tmp-*"))  # no temporary file left behind
    assert run("rf", str(out / "model.pt"), str(src), "--out", str(tmp_path / "rf2.nc"), "--nwb-out", str(dst)) == 2


def test_info_shows_units_columns_by_their_file_names(tmp_path, capsys):
    times = np.arange(300) / 60.0
    nwb = NWBFile(session_description="x", identifier="x", session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    nwb.add_stimulus(ImageSeries(name="flicker", data=np.sign(np.sin(times * 7))[:, None, None], unit="contrast",
                                 timestamps=times))
    nwb.add_unit_column(name="quality", description="sorting quality")
    nwb.add_unit_column(name="sta", description="the lab's STA per unit")
    for u in range(3):
        spikes = np.sort(np.random.default_rng(u).uniform(0, 4.9, 50))
        nwb.add_unit(id=u, spike_times=spikes, quality=["good", "mua"][u % 2], sta=np.zeros((40, 1, 1)))
    path = tmp_path / "units.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "units column quality: good: 2, mua: 1 (coordinate cell_quality)" in text  # was: "cell_quality"
    assert "units column sta: float64 array of 40x1x1 per unit" in text  # was: not shown
    assert main(["info", str(path), "--json"]) == 0
    assert "sta" in json.loads(capsys.readouterr().out)["cell_columns"]
