"""Figures: xarray in, a matplotlib Figure out, saved atomically; no torch in figure code."""

import ast
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import retinacodec.figures as figures
from retinacodec.figures import plot_prediction, plot_recording, save_figure
from retinacodec.recording import make_recording


@pytest.fixture()
def rec():
    rng = np.random.default_rng(0)
    n = 600
    block = np.array(["train"] * 400 + ["test"] * 200)
    repeat = np.array([-1] * 400 + [0] * 100 + [1] * 100)
    return make_recording(rng.choice([-1.0, 1.0], size=(n, 10, 10)), rng.poisson(0.2, size=(n, 4)),
                          np.arange(n) * 0.01, block=block, repeat=repeat, pixel_size_um=50.0, session_id="s1")


def test_figure_modules_never_import_torch():
    for path in Path(figures.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [m for m in names if m.split(".")[0] == "torch"], path.name


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_recording_summary_saves(rec, tmp_path, suffix):
    fig = plot_recording(rec)
    assert len(fig.axes) == 7  # 4 frames, raster, blocks, rates
    assert "µm" in _texts(fig.axes[3])
    out = save_figure(fig, tmp_path / f"summary{suffix}")
    assert out.stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"summary{suffix}"]


def test_prediction_figure(rec, tmp_path):
    t = rec["time"].values[:300]
    da = xr.DataArray(np.random.default_rng(1).random((300, 4)), dims=("frame", "cell"),
                      coords={"cell": rec["cell"].values, "time": ("frame", t)})
    scores = xr.Dataset({"r": ("cell", np.linspace(0.1, 0.9, 4)), "r_truth": ("cell", np.ones(4))},
                        coords={"cell": rec["cell"].values})
    fig = plot_prediction(da, da * 2, scores, truth=da, cells=[0, 2])
    assert len(fig.axes) == 2
    assert "r = 0.10" in fig.axes[0].get_ylabel()
    save_figure(fig, tmp_path / "p.png")


def test_failed_save_leaves_nothing(rec, tmp_path):
    with pytest.raises(ValueError):
        save_figure(plot_recording(rec), tmp_path / "bad.notaformat")
    assert list(tmp_path.iterdir()) == []


# ---- CODEC results: a synthetic result with the contract of decompose(...) / save_modes ----------------------

FPS, N_FRAMES, PEAKS = 100.0, 400, (120, 260)  # two rate peaks, each driven by its own mode


def _bump(centre, width=4.0):
    return np.exp(-0.5 * ((np.arange(N_FRAMES) - centre) / width) ** 2)


def codec_result(per_cell=True, n_cells=4, seed=0):
    """A CODEC result as decompose returns it: mode 1 drives the first rate peak, mode 4 the second."""
    rng = np.random.default_rng(seed)
    layers = np.repeat(["layer1", "layer2"], 4)
    signs = np.tile(np.repeat(["pos", "neg"], 2), 2)
    channels = np.tile([0, 1], 4)
    mode_layer = np.repeat(["layer1", "layer2"], 3)
    frames = np.arange(5000, 5000 + N_FRAMES)
    load = 0.02 * rng.random((N_FRAMES, 6))
    load[:, 1] += _bump(PEAKS[0])
    load[:, 4] += _bump(PEAKS[1])
    load[:, 0] += 0.5 * _bump(330)  # active at neither peak
    rate = 5 + 60 * (_bump(PEAKS[0]) + 0.8 * _bump(PEAKS[1]))[:, None] * np.linspace(1, 0.5, n_cells)
    rate = rate + rng.random((N_FRAMES, n_cells))
    contrib = rng.normal(0, 0.1, (N_FRAMES, 8)) + np.outer(load[:, 1] + load[:, 4], np.where(signs == "pos", 1, -1))
    ds = xr.Dataset(
        {"modes": (("mode", "feature"), rng.normal(size=(6, 8))),
         "rate": (("frame", "cell"), rate, {"units": "Hz"})},
        coords={"mode": np.arange(6), "mode_layer": ("mode", mode_layer), "layer": ("feature", layers),
                "sign": ("feature", signs), "channel": ("feature", channels), "frame": frames,
                "time": ("frame", 60.0 + np.arange(N_FRAMES) / FPS), "cell": np.arange(n_cells)},
        attrs={"preset": "cells" if per_cell else "paper", "target": "surprisal", "sae_kind": "topk"})
    if per_cell:
        ds["loadings"] = (("frame", "cell", "mode"), np.repeat(load[:, None], n_cells, axis=1))
        ds["contributions"] = (("frame", "cell", "feature"), np.repeat(contrib[:, None], n_cells, axis=1))
    else:
        ds["loadings"] = (("frame", "mode"), load)
        ds["contributions"] = (("frame", "feature"), contrib)
    return ds


def irf_result(ds, frames):
    """Rank-1 IRFs as instantaneous_rf(rank1=True) returns them: an ON centre at (5, 6), 12 x 12 px of 50 µm."""
    yy, xx = np.mgrid[:12, :12]
    spot = np.exp(-((yy - 5) ** 2 + (xx - 6) ** 2) / 4.0)
    n = len(frames)
    return xr.Dataset({"spatial": (("frame", "cell", "y", "x"), np.broadcast_to(spot, (n, ds.sizes["cell"], 12, 12))),
                       "rate": (("frame", "cell"), np.ones((n, ds.sizes["cell"])))},
                      coords={"frame": list(frames), "cell": ds["cell"].values},
                      attrs={"pixel_size_um": 50.0, "frame_rate_hz": FPS})


def _texts(fig):
    """Every text drawn on a figure: titles, labels, tick labels, free texts, legends."""
    out = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    return " | ".join(out)


def _symmetric(image):
    lo, hi = image.get_clim()
    return lo == pytest.approx(-hi) and hi > 0


@pytest.fixture(scope="session")
def result():
    return codec_result()


@pytest.fixture(scope="session")
def prediction_inputs():
    rng = np.random.default_rng(1)
    n, ids = 960, np.arange(5)
    coords = {"cell": ids, "time": ("frame", np.arange(n) / FPS)}
    pred = xr.DataArray(rng.random((n, 5)) * 20, dims=("frame", "cell"), coords=coords)
    scores = xr.Dataset({"r": ("cell", np.linspace(0.1, 0.9, 5)), "feve": ("cell", np.linspace(0.2, 0.6, 5))},
                        coords={"cell": ids})
    types = xr.DataArray(["ON", "OFF", "ON-OFF", "ON", "OFF"], dims="cell", coords={"cell": ids})
    return pred, scores, types


def test_prediction_says_what_it_shows(prediction_inputs):
    pred, scores, types = prediction_inputs
    fig = plot_prediction(pred, pred * 2, scores, truth=pred, cell_types=types)
    assert len(fig.axes) == 5  # every cell by default
    title = fig._suptitle.get_text()
    assert "all 5 cells" in title and "whole 9.6-s clip" in title
    assert "median over the 5 cells: r = 0.50, FEVE = 0.40" in title
    shown = plot_prediction(pred, pred * 2, scores, cells=[0, 1], cell_types=types)._suptitle.get_text()
    assert "2 of 5 cells" in shown and "median over the 5 cells: r = 0.50" in shown  # not the 2 shown (0.30)
    assert fig.axes[2].get_ylabel().splitlines() == ["cell 2 (ON-OFF)", "r = 0.50", "FEVE = 0.40"]
    assert fig.legends and not any(ax.get_legend() for ax in fig.axes)  # legend outside the traces
    colours = {line.get_color() for ax in fig.axes for line in ax.get_lines()[:2]}
    assert colours <= set(figures.style.OKABE_ITO) | {"black"}  # no red/green pair
    assert "ms" in _texts(fig)  # time scale bar
    assert fig.get_figwidth() == pytest.approx(180 / 25.4)

    fig = plot_prediction(pred, pred, scores, cells=[1, 3], seconds=2.0, start=1.0)
    title = fig._suptitle.get_text()
    assert "2 of 5 cells" in title and "1.0–3.0 s of the 9.6-s clip" in title
    with pytest.raises(ValueError, match="not cell ids"):
        plot_prediction(pred, pred, cells=[9])


def test_atoms_mark_named_modes(result):
    fig = figures.plot_mode_atoms(result, labels={1: "ON", 4: "OFF"})
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks[1] == "1 ON" and ticks[4] == "4 OFF" and ticks[0] == "0"
    assert len(fig.axes[0].patches) == 2  # the two named columns outlined
    assert _symmetric(fig.axes[0].images[0])
    with pytest.raises(ValueError, match="not shown"):
        figures.plot_mode_atoms(result, mode_list=[0, 1], labels={4: "OFF"})


def test_mode_against_drive_reports_r(result):
    drive = result["loadings"].isel(cell=0).sel(mode=[1, 4]).rename(mode="pathway")
    drive = (drive + 0.05 * np.random.default_rng(2).random(drive.shape)).assign_coords(pathway=["on", "off"])
    drives = drive.expand_dims(cell=result["cell"].values).transpose("frame", "cell", "pathway")
    fig = figures.plot_mode_vs_drive(result, drives, cell=2, pairs={"on": 1, "off": 0})
    r_on = np.corrcoef(result["loadings"].sel(cell=2, mode=1), drives.sel(cell=2, pathway="on"))[0, 1]
    r_off = np.corrcoef(result["loadings"].sel(cell=2, mode=0), drives.sel(cell=2, pathway="off"))[0, 1]
    title = fig._suptitle.get_text()
    assert f"mode 1: r = {r_on:.2f}" in title and f"mode 0: r = {r_off:.2f}" in title and r_on > 0.9 > r_off
    assert len(fig.axes) == 4 and "ms" in _texts(fig)


def test_cell_mode_correlation_panels_by_layer_and_cluster(result):
    corr = xr.DataArray(np.random.default_rng(3).uniform(-0.5, 0.8, (4, 6)), dims=("cell", "mode"),
                        coords={"cell": np.arange(4), "mode": np.arange(6), "mode_layer": result["mode_layer"]})
    clusters = xr.Dataset({"cluster": ("cell", [1, 0, 1, 0])}, coords={"cell": np.arange(4)}, attrs={"k": 2})
    fig = figures.plot_cell_mode_correlation(corr, clusters, ["ON", "OFF", "ON", "OFF"])
    heat = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in heat] == ["Layer 1", "Layer 2"]
    assert [t.get_text() for t in heat[0].get_yticklabels()] == ["1 OFF", "3 OFF", "0 ON", "2 ON"]
    assert all(_symmetric(ax.images[0]) for ax in heat)
    assert len(heat[0].patches) == 4  # a cluster square per row


def test_contribution_panel_finds_the_contrasting_modes(result):
    load = result["loadings"].sel(cell=0)
    frames = figures.retina.choose_frames(result["rate"].sel(cell=0), load)
    assert frames == (5000 + PEAKS[0], 5000 + PEAKS[1])
    assert figures.retina.contrasting_modes(load, frames) == (1, 4)
    with pytest.raises(ValueError, match="no two rate peaks"):  # only frames with an IRF are candidates
        figures.retina.choose_frames(result["rate"].sel(cell=0), load, candidates=[5000 + PEAKS[0]])
    fig = figures.plot_contribution_panel(result, cell=0, irf=irf_result(result, frames))
    text = _texts(fig)
    assert "mode 1 (layer 1)" in text and "mode 4 (layer 2)" in text and "µm" in text and "ms" in text
    rasters = [ax for ax in fig.axes if ax.get_ylabel().startswith("Layer")]
    assert [ax.get_ylabel().split("\n")[0] for ax in rasters] == ["Layer 1", "Layer 2"]
    assert all(_symmetric(ax.images[0]) and ax.images[0].get_array().shape[0] == 4 for ax in rasters)  # 2C rows
    insets = [child for ax in fig.axes for child in ax.child_axes if child.get_title().startswith("IRF")]
    assert len(insets) == 2 and all(_symmetric(ax.images[0]) for ax in insets)
    with pytest.raises(ValueError, match="do not include frame"):
        figures.plot_contribution_panel(result, cell=0, frames=frames, irf=irf_result(result, [5001, frames[1]]))
    with pytest.raises(ValueError, match="no mode has a loading"):
        figures.plot_contribution_panel(result, cell=0, frames=(5000 + PEAKS[0], 5000 + PEAKS[0] + 1))


def test_retina_figure_population_modes(tmp_path):
    ds = codec_result(per_cell=False)
    clusters = xr.Dataset({"cluster": ("cell", [0, 0, 1, 1]), "r": (("cell", "mode"), np.eye(4, 6))},
                          coords={"cell": np.arange(4), "mode": np.arange(6)}, attrs={"k": 2})
    fig = figures.plot_retina_figure(ds, clusters=clusters)
    assert {"A", "B"} <= set(_texts(fig).split(" | "))
    assert fig.get_figwidth() == pytest.approx(180 / 25.4)
    assert save_figure(fig, tmp_path / "retina.svg").stat().st_size > 1000


def test_intervention_legend_outside():
    pct = np.array([1.0, 10.0, 100.0])
    ds = xr.Dataset({"removed": (("kind", "frames", "percent"), np.tile([0.1, 0.5, 0.9], (2, 2, 1))),
                     "auc": (("kind", "frames"), [[0.8, 0.3], [0.4, 0.7]]), "selectivity": ("kind", [0.5, 0.3])},
                    coords={"kind": ["ablate", "preserve"], "frames": ["target", "off_target"], "percent": pct})
    fig = figures.plot_interventions({"contribution mode": ds})
    assert fig.legends and not any(ax.get_legend() for ax in fig.axes)
    assert "AUC target 0.40, off-target 0.70" in fig.axes[1].get_title()


def test_cli_figures(result, tmp_path, capsys):
    from retinacodec.atomic import save_netcdf
    from retinacodec.cli import main

    path = save_netcdf(result, tmp_path / "modes.nc")
    assert main(["figures", str(path), "--out", str(tmp_path / "figs")]) == 0
    printed = capsys.readouterr().out.split()
    names = sorted(Path(p).name for p in printed)
    assert names == ["cell_mode_correlation.png", "mode_atoms.png", "retina_figure.png"]
    assert all(Path(p).stat().st_size > 1000 for p in printed)

    assert main(["figures", str(tmp_path / "nope.nc"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err
    save_netcdf(xr.Dataset({"a": ("x", [1.0])}), tmp_path / "other.nc")
    assert main(["figures", str(tmp_path / "other.nc"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a CODEC result" in err
    assert not (tmp_path / "x").exists()


def test_svg_text_stays_editable(result, tmp_path):
    path = save_figure(figures.plot_mode_atoms(result, labels={1: "ON"}), tmp_path / "atoms.svg")
    assert "<text" in path.read_text() and "1 ON" in path.read_text()


def test_cli_figures_with_recording(tmp_path, capsys):
    """With --recording (and its simulator truth) the summary, the prediction and a mode against its drive join."""
    from retinacodec.atomic import save_netcdf
    from retinacodec.cli import main
    from retinacodec.io import read_nwb
    from retinacodec.recording import repeated_responses

    nwb = tmp_path / "rec.nwb"
    assert main(["simulate", str(nwb), "--seed", "1", "--size", "16", "16", "--train-seconds", "5", "--test-seconds",
                 "4", "--repeats", "2", "--cells-per-type", "1"]) == 0
    rec = read_nwb(nwb)
    frames = repeated_responses(rec)["frame"].values[:N_FRAMES]
    ds = codec_result(n_cells=3).isel(frame=slice(0, frames.size))
    ds = ds.assign_coords(frame=frames, time=("frame", rec["time"].values[frames]))
    path = save_netcdf(ds, tmp_path / "modes.nc")
    capsys.readouterr()
    assert main(["figures", str(path), "--recording", str(nwb), "--out", str(tmp_path / "figs")]) == 0
    names = sorted(Path(p).name for p in capsys.readouterr().out.split())
    assert {"recording.png", "prediction.png", "mode_vs_drive.png", "mode_atoms.png"} <= set(names)
