"""What a reviewer checks on each figure (issue 22): scale bars that keep the data limits, colour bars,
legends, titles, cell types, faded low-n panels, readable inline size; and `figures` on wrong inputs."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar  # noqa: E402
from nwb_layouts import build  # noqa: E402
from test_figures import PEAKS, codec_result, irf_result  # noqa: E402
from test_figures_rf import filters  # noqa: E402

from retinacodec import figures  # noqa: E402
from retinacodec.cli import _cell_clusters, main  # noqa: E402
from retinacodec.codec import save_modes  # noqa: E402
from retinacodec.figures.style import journal, scale_bar  # noqa: E402
from retinacodec.rf import fit_ellipse, mode_combination_irfs, polarity_and_latency, rank1  # noqa: E402

TYPES = xr.DataArray(["ON", "OFF", "ON-OFF"], dims="cell", coords={"cell": [3, 5, 8]})


def test_scale_bar_keeps_the_data_limits():
    fig, ax = plt.subplots()
    ax.plot([-409.5, 19.5], [0, 1])
    ax.set_xlim(-409.5, 19.5)
    bar = scale_bar(ax, 100, "100 ms")
    fig.canvas.draw()
    assert ax.get_xlim() == (-409.5, 19.5) and isinstance(bar, AnchoredSizeBar) and bar in ax.artists
    plt.close(fig)


def test_journal_figures_are_readable_inline_and_keep_interactive_mode():
    @journal
    def draw():
        matplotlib.rcParams["interactive"] = True  # as pyplot does when a notebook's inline backend loads
        return plt.figure()

    before = matplotlib.rcParams["interactive"]
    try:
        fig = draw()
        assert fig.dpi >= 150  # 85 mm are >= 500 px in a notebook
        assert matplotlib.rcParams["interactive"] is True  # later figures still display
        assert matplotlib.rcParams["font.size"] != 7 or plt.rcParamsDefault["font.size"] == 7  # fonts restored
    finally:
        matplotlib.rcParams["interactive"] = before
        plt.close("all")


def test_mosaic_draws_on_off_cells_in_a_third_style_with_ids_beside_the_centres():
    r = rank1(filters())
    e = xr.merge([fit_ellipse(r["spatial"], pixel_size_um=50.0), polarity_and_latency(r["spatial"], r["temporal"])],
                 combine_attrs="override")
    fig = figures.plot_rf_mosaic(e, (12, 12), cell_types=TYPES, source="STA")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ON", "OFF", "ON-OFF"]
    assert len({p.get_linestyle() for p in ax.patches if isinstance(p, matplotlib.patches.Ellipse)}) == 3
    ids = [t for t in ax.texts if t.get_text() in {"3", "5", "8"}]
    assert len(ids) == 3 and all(t.xyann != (0, 0) for t in ids)  # offset from the centre marker
    assert "STA" in ax.get_title()
    plt.close(fig)


def test_sta_vs_irf_pairs_keep_full_traces_colour_bars_and_say_what_red_means():
    f = filters()
    fig = figures.plot_rf_pairs({"STA": rank1(f), "mean IRF": rank1(f * 2)}, cell_types=TYPES)
    fig.canvas.draw()
    time_axes = [ax for ax in fig.axes if ax.lines]
    t_ms = -1e3 * f["lag"].values
    for ax in time_axes:  # no axis stretched by a scale bar: the traces span the whole row
        assert ax.get_xlim()[1] - ax.get_xlim()[0] < 1.2 * np.ptp(t_ms)
        assert ax.get_xticks().size  # time has ticks
    colorbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(colorbars) == 2
    title = fig.get_suptitle()
    assert "red" in title and "RdBu" not in title and "OFF" in title
    assert fig.axes[8].get_ylabel() == "cell 8\nON-OFF"  # row 3, first of 4 columns
    plt.close(fig)


def _combos():
    f = filters()
    frames = np.arange(100, 160)
    irf = xr.Dataset({"irf": (("frame", "cell", "lag", "y", "x"), np.repeat(f.values[None], frames.size, 0)),
                      "rate": (("frame", "cell"), np.full((frames.size, 3), 0.05))},
                     coords={"frame": frames, "cell": f["cell"], "lag": f["lag"]},
                     attrs={"frame_rate_hz": 100.0, "pixel_size_um": 50.0})
    load = np.zeros((frames.size, 2))
    load[:40, 0] = 1.0
    load[40:42, 1] = 0.5  # a set of 2 frames
    return mode_combination_irfs(xr.DataArray(load, dims=("frame", "mode"),
                                              coords={"frame": frames, "mode": [4, 7]}), irf)


def test_mode_grid_fades_low_n_panels_and_has_a_colour_bar_and_types():
    fig = figures.plot_mode_irf_grid(_combos(), cell_types=TYPES)
    panels = [ax for ax in fig.axes if ax.images]
    alphas = sorted({ax.images[0].get_alpha() for ax in panels})
    assert alphas == [0.35, 1.0]  # n = 2 faded, n = 40 solid
    assert any(t.get_text() == "n=2" for ax in panels for t in ax.texts)
    colorbar = next(ax for ax in fig.axes if ax.get_label() == "<colorbar>")
    assert colorbar._colorbar.alpha in (None, 1.0)  # not faded with the last panel drawn
    assert sum(ax.get_label() == "<colorbar>" for ax in fig.axes) == 1
    assert fig.axes[0].get_ylabel() == "cell 3\nON"
    assert "\n" not in fig.get_suptitle()
    plt.close(fig)


def test_frames_are_chosen_where_the_irfs_differ_most():
    result = codec_result(n_cells=4)
    rate = result["rate"].sel(cell=0)
    load = result["loadings"].sel(cell=0)
    both = (5000 + PEAKS[0], 5000 + PEAKS[1])
    spot = np.ones((3, 3))
    assert figures.retina.choose_frames(rate, load, maps={both[0]: spot, both[1]: spot}) == both
    with pytest.raises(ValueError, match="lower the threshold"):
        figures.retina.choose_frames(rate, load, threshold=50)


def test_retina_figure_picks_an_on_off_cell_and_names_its_type():
    result = codec_result(n_cells=4)
    irf = irf_result(result, result["frame"].values)
    fig = figures.plot_retina_figure(result, irf, cell_labels=["ON", "OFF", "ON", "ON-OFF"])
    title = fig.subfigs[0].get_suptitle() if fig.subfigs else fig.get_suptitle()
    assert title.startswith("Cell 3 (ON-OFF)")
    rate_ax = next(ax for ax in fig.axes if ax.get_ylabel() == "model rate (Hz)")
    assert rate_ax.get_ylim()[1] < 1.3 * float(result["rate"].sel(cell=3).max())  # no empty half axis
    rasters = [ax for ax in fig.axes if ax.get_ylabel().startswith("Layer")]
    assert all("+0" in [t.get_text() for t in ax.get_yticklabels()] for ax in rasters)  # channel ids
    legend = " ".join(t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts())
    assert "only" not in legend and "not of t =" in legend
    plt.close(fig)


def test_cell_clusters_hold_at_least_two_cells():
    rng = np.random.default_rng(0)
    frames = np.arange(300)
    loadings = xr.DataArray(rng.random((300, 6)), dims=("frame", "mode"), coords={"frame": frames})
    base = loadings.values[:, [0, 0, 0, 1, 1, 1, 2, 2, 5]]  # three groups of cells and a loner
    rates = xr.DataArray(base + 0.2 * rng.random(base.shape), dims=("frame", "cell"),
                         coords={"frame": frames, "cell": np.arange(9)})
    clusters = _cell_clusters(loadings, rates)
    assert np.bincount(clusters["cluster"].values).min() >= 2 and clusters.attrs["min_cluster_size"] == 2
    fig = figures.plot_cell_mode_correlation(clusters["r"], clusters)
    assert fig.axes[0].get_legend() is not None  # beside the cluster squares, not at the figure's edge
    assert "≥ 2 cells" in fig.get_suptitle()
    plt.close(fig)


# ---- the figures command on wrong inputs: one line, exit 2 -------------------------------------------------------

@pytest.fixture
def saved(tmp_path: Path):
    result = codec_result(n_cells=4).assign_attrs(provenance="session-x")
    modes = save_modes(result, tmp_path / "modes.nc")
    irf = irf_result(result, result["frame"].values)
    lag = np.arange(10) / 100.0
    temporal = np.broadcast_to(np.exp(-lag / 0.05), (*irf["rate"].shape, 10))
    irf = irf.assign(temporal=(("frame", "cell", "lag"), temporal),
                     singular_value=(("frame", "cell"), np.ones(irf["rate"].shape))).assign_coords(lag=lag)
    irf.to_netcdf(tmp_path / "rf.nc")  # rank-1 IRFs as `retinacodec rf --no-sta` writes them
    return modes, tmp_path


def test_figures_refuses_a_foreign_recording_in_one_line(saved, capsys):
    modes, tmp = saved
    nwb = build(tmp / "other.nwb")  # another session, other cells and frames
    assert main(["figures", str(modes), "--recording", str(nwb), "--out", str(tmp / "figs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("retinacodec: error:") and "Traceback" not in err


def test_figures_refuses_a_foreign_irf_and_names_what_to_give(saved, capsys):
    modes, tmp = saved
    result = codec_result(n_cells=4)
    irf_result(result, np.arange(10)).to_netcdf(tmp / "foreign_rf.nc")  # frames the modes do not hold
    assert main(["figures", str(modes), "--irf", str(tmp / "foreign_rf.nc"), "--out", str(tmp / "figs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "do not match" in err and "retinacodec rf" in err
    assert main(["figures", str(modes), "--irf", str(modes), "--out", str(tmp / "figs")]) == 2  # a modes file
    assert capsys.readouterr().err.count("\n") == 1


def test_figures_needs_overwrite_and_names_each_skipped_figure(saved, capsys):
    modes, tmp = saved
    out = tmp / "figs"
    assert main(["figures", str(modes), "--irf", str(tmp / "rf.nc"), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert (out / "retina_figure.png").is_file() and (out / "irf_per_mode.png").is_file()
    assert "skipped rf_mosaic: the IRF file has no STA" in captured.err  # one reason per figure it cannot draw
    assert main(["figures", str(modes), "--irf", str(tmp / "rf.nc"), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["figures", str(modes), "--irf", str(tmp / "rf.nc"), "--out", str(out), "--overwrite"]) == 0
