"""Receptive-field figures: panels, labels and scale bars, from synthetic xarray results (no model)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar  # noqa: E402

import retinacodec.figures.rf as rf_figures  # noqa: E402
from retinacodec.figures import plot_mode_irf_grid, plot_rf_mosaic, plot_rf_pairs, save_figure  # noqa: E402
from retinacodec.rf import fit_ellipse, mode_combination_irfs, polarity_and_latency, rank1  # noqa: E402

LAG = xr.DataArray((9 - np.arange(10)) * 0.01, dims="lag")


def filters(n_cells=3, size=12, seed=0):
    """Separable centre RFs: cells alternate ON / OFF, at different places."""
    rng = np.random.default_rng(seed)
    gy, gx = np.mgrid[0:size, 0:size]
    t = np.exp(-((np.arange(10) - 7) ** 2) / 4.0)
    out = []
    for c in range(n_cells):
        s = (-1) ** c * np.exp(-((gy - 3 - 3 * c) ** 2 + (gx - 4 - 2 * c) ** 2) / 3.0)
        out.append(np.einsum("l,yx->lyx", t, s) + 0.01 * rng.standard_normal((10, size, size)))
    return xr.DataArray(np.stack(out), dims=("cell", "lag", "y", "x"), coords={"cell": [3, 5, 8], "lag": LAG},
                        attrs={"pixel_size_um": 50.0, "frame_rate_hz": 100.0})


def texts(fig):
    """Every text of a figure, the scale bars' labels (AnchoredSizeBar artists) included."""
    bars = [a.txt_label.get_text() for ax in fig.axes for a in ax.artists if isinstance(a, AnchoredSizeBar)]
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts] + bars


def test_mosaic_has_ellipses_legend_and_scale_bar(tmp_path: Path):
    r = rank1(filters())
    e = xr.merge([fit_ellipse(r["spatial"]), polarity_and_latency(r["spatial"], r["temporal"])],
                 combine_attrs="override")
    truth = xr.Dataset({"position_y": ("cell", [3.0, 6.0, 9.0]), "position_x": ("cell", [4.0, 6.0, 8.0])})
    fig = plot_rf_mosaic(e, (12, 12), truth=truth)
    ax = fig.axes[0]
    ellipses = [p for p in ax.patches if isinstance(p, matplotlib.patches.Ellipse)]
    assert len(ellipses) == 3
    assert {p.get_linestyle() for p in ellipses} == {"-", "--"}  # ON solid, OFF dashed, not only by colour
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ON", "OFF", "true centre"]
    assert any(t.endswith("µm") for t in texts(fig)) and "mosaic" in ax.get_title()
    assert abs(fig.get_figwidth() - 85 / 25.4) < 1e-6
    assert save_figure(fig, tmp_path / "mosaic.svg").stat().st_size > 0
    plt.close(fig)
    with pytest.raises(ValueError, match="polarity"):
        plot_rf_mosaic(fit_ellipse(r["spatial"]))


def test_pairs_show_space_and_time_for_each_estimate():
    f = filters()
    fig = plot_rf_pairs({"STA": rank1(f), "mean IRF": rank1(f * 2)}, cells=[3, 8],
                        cell_types=xr.DataArray(["ON", "OFF", "ON"], dims="cell", coords={"cell": [3, 5, 8]}))
    assert len(fig.axes) == 2 * 4 + 2  # and a colour bar per estimate
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["STA: space", "STA: time", "mean IRF: space", "mean IRF: time"]
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 4 and all(im.get_cmap().name == "RdBu_r" for im in images)
    assert all(np.isclose(im.norm.vmin, -im.norm.vmax) for im in images)  # zero-centred
    bars = texts(fig)
    assert sum(t.endswith("µm") for t in bars) == 2
    assert [ax.get_xlabel() for ax in fig.axes[6:8]] == ["", "ms before the response"]
    assert fig.axes[0].get_ylabel() == "cell 3\nON"
    assert abs(fig.get_figwidth() - 180 / 25.4) < 1e-6
    plt.close(fig)
    with pytest.raises(ValueError, match="pixel_size_um"):
        plot_rf_pairs({"STA": rank1(f.drop_attrs())})


def test_mode_grid_has_one_panel_per_cell_and_mode_set():
    f = filters()
    frames = np.arange(100, 160)
    irf = xr.Dataset({"irf": (("frame", "cell", "lag", "y", "x"), np.repeat(f.values[None], frames.size, 0)),
                      "rate": (("frame", "cell"), np.full((frames.size, 3), 0.05))},
                     coords={"frame": frames, "cell": f["cell"], "lag": LAG},
                     attrs={"frame_rate_hz": 100.0, "pixel_size_um": 50.0})
    load = np.zeros((frames.size, 2))
    load[:20, 0] = 1.0
    load[20:40, 1] = 0.5
    load[40:50] = 0.3
    loadings = xr.DataArray(load, dims=("frame", "mode"), coords={"frame": frames, "mode": [4, 7]})
    combos = mode_combination_irfs(loadings, irf)
    assert list(combos["label"].values) == ["4", "7", "4+7"]
    fig = plot_mode_irf_grid(combos)
    assert len(fig.axes) == 3 * 3 + 1  # and the colour bar
    assert [ax.get_title().split("\n")[0] for ax in fig.axes[:3]] == ["4", "7", "4+7"]
    assert [fig.axes[3 * i].get_ylabel() for i in range(3)] == ["cell 3", "cell 5", "cell 8"]
    assert any(t.endswith("µm") for t in texts(fig))
    plt.close(fig)
    assert len(plot_mode_irf_grid(combos, max_columns=2).axes) == 3 * 2 + 1  # the two most frequent sets
    fig = plot_mode_irf_grid(combos, cells=[5], combinations=[1], kind="example")
    assert len(fig.axes) == 1 + 1 and "strongest frame" in fig._suptitle.get_text()
    plt.close(fig)


def test_rf_figures_do_not_import_torch():
    source = Path(rf_figures.__file__).read_text()
    assert "import torch" not in source and "from torch" not in source
