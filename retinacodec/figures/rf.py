"""Receptive-field figures: the RF mosaic, STA and IRF pairs, IRFs per mode combination.

xarray in (results of :mod:`retinacodec.rf`), matplotlib Figure out; no torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse, Rectangle

from retinacodec.figures.style import (
    DIVERGING,
    OKABE_ITO,
    journal,
    round_length,
    scale_bar,
    symmetric_limit,
    width_in,
)

__all__ = ["plot_mode_irf_grid", "plot_rf_mosaic", "plot_rf_pairs"]

_ON, _OFF = OKABE_ITO[1], OKABE_ITO[0]  # vermillion (ON), blue (OFF): colour-blind safe, also told apart by line style


def _pixel_size(given: float | None, ds: xr.Dataset) -> float:
    """The pixel edge in µm: ``given``, else the data's ``pixel_size_um`` attribute."""
    if given is None and "pixel_size_um" not in ds.attrs:
        raise ValueError("the data carry no 'pixel_size_um' attribute; pass pixel_size_um= (µm per stimulus pixel).")
    return float(given if given is not None else ds.attrs["pixel_size_um"])


def _extent_um(spatial: xr.DataArray, pixel_um: float) -> tuple[float, float, float, float]:
    """imshow extent (left, right, bottom, top) in µm of one map, placed at its crop origin if any."""
    y0 = float(spatial["y_origin"]) if "y_origin" in spatial.coords else 0.0
    x0 = float(spatial["x_origin"]) if "x_origin" in spatial.coords else 0.0
    ny, nx = spatial.sizes["y"], spatial.sizes["x"]
    return ((x0 - 0.5) * pixel_um, (x0 + nx - 0.5) * pixel_um, (y0 + ny - 0.5) * pixel_um, (y0 - 0.5) * pixel_um)


def _spatial_axes(ax: plt.Axes, spatial: xr.DataArray, pixel_um: float, bar: bool,
                  lim: float | None = None) -> AxesImage:
    """A zero-centred map of one spatial RF (limits ``±lim``, default its own largest value), in µm, µm scale bar."""
    lim = symmetric_limit(spatial.values) if lim is None else lim
    im = ax.imshow(spatial.values, cmap=DIVERGING, vmin=-lim, vmax=lim, extent=_extent_um(spatial, pixel_um),
                   interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    if bar:
        width = spatial.sizes["x"] * pixel_um
        length = round_length(width)
        scale_bar(ax, length, f"{length:g} µm")
    return im


def full_field(ds: xr.Dataset | xr.DataArray) -> bool:
    """Whether maps of ``ds`` are one pixel (a full-field stimulus): there is no space to draw, only time."""
    return ds.sizes.get("y", 1) == 1 and ds.sizes.get("x", 1) == 1


def _polarity_color(temporal: np.ndarray) -> str:
    """ON colour when the filter's largest excursion is positive, OFF colour when negative (1x1 maps)."""
    return _ON if temporal[np.nanargmax(np.abs(temporal))] > 0 else _OFF


def _blank(ax: plt.Axes) -> None:
    """An empty panel that keeps its axis label (no spines, ticks or background)."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.patch.set_visible(False)
    for side in ax.spines.values():
        side.set_visible(False)


def _temporal_axes(ax: plt.Axes, temporal: xr.DataArray, color: str, bar: bool, ticks: bool = False,
                   lim: float | None = None) -> None:
    """A temporal filter against time before the response (ms), zero line; an ms scale bar or ms ticks.

    With ``ticks`` the time axis gets ticks (labelled where ``bar``) and a dotted line at 0 ms,
    the response ("spike") the filter precedes; otherwise a scale bar when ``bar``.
    """
    t_ms = -1e3 * temporal["lag"].values
    ax.axhline(0, color="0.6", lw=0.5)
    ax.plot(t_ms, temporal.values, color=color)
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    lim = symmetric_limit(temporal.values) if lim is None else lim
    ax.set_ylim(-1.1 * lim, 1.1 * lim)
    if ticks:
        ax.axvline(0, color="0.4", lw=0.6, ls=":")
        ax.locator_params(axis="x", nbins=3)
        ax.tick_params(axis="x", length=2, labelbottom=bar, labelsize=5)
        return
    ax.set_xticks([])
    if bar:
        length = round_length(float(np.ptp(t_ms)) or 1.0)
        scale_bar(ax, length, f"{length:g} ms")


_TYPE_STYLE = {"ON": (_ON, "-"), "OFF": (_OFF, "--"), "ON-OFF": (OKABE_ITO[2], "-.")}
"""Colour and line style of each cell type (an ON-OFF cell: green, dash-dotted)."""


@journal
def plot_rf_mosaic(ellipses: xr.Dataset, frame_shape: tuple[int, int] | None = None,
                   truth: xr.Dataset | None = None, title: str = "Receptive-field mosaic",
                   cell_types: xr.DataArray | Sequence[str] | None = None, source: str = "STA") -> Figure:
    """Ellipses of every cell's RF over the stimulus frame; ON, OFF and ON-OFF cells told apart by colour and line.

    Parameters
    ----------
    ellipses : xarray.Dataset, dim cell
        :func:`retinacodec.rf.fit_ellipse` merged with :func:`retinacodec.rf.polarity_and_latency`
        (``centre_y_um``, ``centre_x_um``, ``width_um``, ``height_um``, ``angle``,
        ``polarity``); attribute ``pixel_size_um``.
    frame_shape : (int, int), optional
        ``(ny, nx)`` of the stimulus, drawn as the frame outline.
    truth : xarray.Dataset, optional
        Simulator ground truth (``position_y``, ``position_x`` in pixels): true centres as
        crosses; its ``cell_type`` is the default ``cell_types``.
    title : str
    cell_types : xarray.DataArray (cell) or sequence of str, optional
        ``"ON"``, ``"OFF"`` or ``"ON-OFF"`` per cell. Without it (and without ``truth``) a
        cell's style follows the polarity of its fitted map, which cannot tell an ON-OFF cell.
    source : str
        What the ellipses were fitted to (``"STA"``, ``"mean IRF"`` ...), named in the title.

    Returns
    -------
    matplotlib.figure.Figure
        One panel, 85 mm wide; a 200-µm-class scale bar; each cell's id beside its ellipse.

    Examples
    --------
    >>> rec, truth = rc.simulate_retina(seed=0, train_seconds=60, test_seconds=2, n_repeats=2)
    >>> parts = rc.rf.rank1(rc.rf.sta(rec)["sta"])
    >>> ellipses = xr.merge([rc.rf.fit_ellipse(parts["spatial"], pixel_size_um=50),
    ...                      rc.rf.polarity_and_latency(parts["spatial"], parts["temporal"])])
    >>> fig = rc.figures.plot_rf_mosaic(ellipses, (20, 20), truth)
    >>> fig.savefig("rf_mosaic.png")
    """
    for name in ("centre_y_um", "centre_x_um", "width_um", "height_um", "angle", "polarity"):
        if name not in ellipses:
            raise ValueError(f"ellipses lacks {name!r}: pass fit_ellipse(...) merged with polarity_and_latency(...).")
    if frame_shape is not None and tuple(frame_shape) == (1, 1):
        raise ValueError("a full-field (1x1) stimulus has no receptive-field mosaic; draw the temporal filters with "
                         "plot_rf_pairs.")
    types = _types(ellipses["cell"].values, cell_types if cell_types is not None else
                   (truth["cell_type"] if truth is not None and "cell_type" in truth else None))
    px = _pixel_size(None, ellipses)
    fig, ax = plt.subplots(figsize=(width_in(1), width_in(1) * 0.9), layout="constrained")
    if frame_shape is not None:
        ny, nx = frame_shape
        ax.add_patch(Rectangle((-0.5 * px, -0.5 * px), nx * px, ny * px, fill=False, color="0.5", lw=0.6))
    shown = []
    for c in range(ellipses.sizes["cell"]):
        e = ellipses.isel(cell=c)
        if not np.isfinite(float(e["centre_x_um"])):
            continue
        kind = types[c] if types is not None else ("ON" if int(e["polarity"]) > 0 else "OFF")
        color, ls = _TYPE_STYLE.get(kind, ("0.3", ":"))
        shown.append(kind)
        cx, cy, w, h = (float(e[k]) for k in ("centre_x_um", "centre_y_um", "width_um", "height_um"))
        ax.add_patch(Ellipse((cx, cy), w, h, angle=np.degrees(float(e["angle"])), fill=False, color=color, ls=ls,
                             lw=1.0))
        # the id beside the ellipse, up and right of its centre (the centre is where the true-centre cross goes)
        ax.annotate(str(e["cell"].values), (cx, cy), xytext=(3, 3), textcoords="offset points", ha="left",
                    va="bottom", fontsize=5, color=color)
    if truth is not None:
        ax.plot(truth["position_x"].values * px, truth["position_y"].values * px, "x", color="0.3", ms=3, mew=0.6)
    ax.set_aspect("equal")
    ax.autoscale_view()
    if frame_shape is not None:
        ax.set_xlim(-0.5 * px, (frame_shape[1] - 0.5) * px)
        ax.set_ylim((frame_shape[0] - 0.5) * px, -0.5 * px)
    else:
        ax.invert_yaxis()
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    span = float(np.ptp(ax.get_xlim()))
    length = round_length(span)
    scale_bar(ax, length, f"{length:g} µm")
    handles = [Line2D([], [], color=_TYPE_STYLE[k][0], ls=_TYPE_STYLE[k][1], label=k)
               for k in _TYPE_STYLE if k in shown or (types is None and k != "ON-OFF")]
    handles += [Line2D([], [], color="0.3", ls=":", label=k) for k in dict.fromkeys(shown) if k not in _TYPE_STYLE]
    if truth is not None:
        handles.append(Line2D([], [], color="0.3", marker="x", ls="", label="true centre"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    sigma = ellipses.attrs.get("contour_sigma", 2)
    how = "" if types is not None else "; ON / OFF: the map's polarity"
    ax.set_title(f"{title}: {sigma:g}σ contours of 2-D Gaussian\nfits to each cell's {source} map, "
                 f"{ellipses.sizes['cell']} cells{how}")
    return fig


def _types(cells: np.ndarray, cell_types: xr.DataArray | Sequence[str] | None) -> list[str] | None:
    """One type string per cell of ``cells`` (in their order), or None."""
    if cell_types is None:
        return None
    if isinstance(cell_types, xr.DataArray):
        return [str(v) for v in cell_types.sel(cell=list(cells)).values]
    values = [str(v) for v in cell_types]
    if len(values) != len(cells):
        raise ValueError(f"cell_types has {len(values)} entries for {len(cells)} cells; give one per cell.")
    return values


@journal
def plot_rf_pairs(rfs: dict[str, xr.Dataset], cells: Sequence | None = None, pixel_size_um: float | None = None,
                  cell_types: xr.DataArray | None = None) -> Figure:
    """Spatial map and temporal filter of each cell, for several estimates side by side (e.g. STA and IRF).

    Parameters
    ----------
    rfs : dict
        Column-group title → :func:`retinacodec.rf.rank1` result with ``spatial (cell, y, x)``
        and ``temporal (cell, lag)``, e.g. ``{"STA": rank1(sta), "mean IRF": rank1(irf_mean)}``.
    cells : sequence, optional
        Cell ids (rows); default every cell of the first estimate.
    pixel_size_um : float, optional
        Default: the first estimate's ``pixel_size_um`` attribute.
    cell_types : xarray.DataArray (cell), optional
        Shown in the row labels.

    Returns
    -------
    matplotlib.figure.Figure
        180 mm wide; per estimate a map (RdBu_r, limits symmetric and shared by every cell of
        the estimate, a colour bar under the column; red = ON: brightening at the centre raises
        the response) and a filter (time before the response in ms, ticks, a dotted line at the
        response; signed positive at its peak, so the map carries the polarity); a µm scale bar
        under the bottom map. For a full-field (1×1) stimulus only the temporal filters, signed
        by the polarity (red ON, blue OFF).

    Examples
    --------
    The STA of a short simulated recording beside the sample model's mean IRF on it:

    >>> rec, truth = rc.simulate_retina(seed=0, train_seconds=60, test_seconds=2, n_repeats=2)
    >>> model = rc.load_sample_model()
    >>> frames = np.flatnonzero(rec["block"].values == "test")[:10]
    >>> irf = rc.rf.instantaneous_rf(model, rec, frames)["irf"]
    >>> rfs = {"STA": rc.rf.rank1(rc.rf.sta(rec)["sta"]), "mean IRF": rc.rf.rank1(irf.mean("frame"))}
    >>> fig = rc.figures.plot_rf_pairs(rfs, cells=[0, 3, 6], cell_types=truth["cell_type"])
    >>> fig.savefig("sta_vs_irf.png")
    """
    if not rfs:
        raise ValueError("give at least one estimate, e.g. {'STA': rank1(sta)}.")
    first = next(iter(rfs.values()))
    cells = list(first["cell"].values if cells is None else cells)
    if full_field(first):
        return _temporal_pairs(rfs, cells, cell_types)
    px = _pixel_size(pixel_size_um, first)
    n = len(rfs)
    fig, axes = plt.subplots(len(cells), 2 * n, figsize=(width_in(2), 0.75 * len(cells) + 0.9), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1.6] * n}, layout="constrained")
    for j, (name, ds) in enumerate(rfs.items()):
        axes[0, 2 * j].set_title(f"{name}: space")
        axes[0, 2 * j + 1].set_title(f"{name}: time")
        lim = symmetric_limit(ds["spatial"].sel(cell=cells).values)  # one scale per estimate (unit-norm maps)
        t_lim = symmetric_limit(ds["temporal"].sel(cell=cells).values)
        for i, cell in enumerate(cells):
            last = i == len(cells) - 1
            im = _spatial_axes(axes[i, 2 * j], ds["spatial"].sel(cell=cell), px, last, lim=lim)
            _temporal_axes(axes[i, 2 * j + 1], ds["temporal"].sel(cell=cell), OKABE_ITO[7], last, ticks=True,
                           lim=t_lim)
        axes[-1, 2 * j + 1].set_xlabel("ms before the response", labelpad=1)
        cb = fig.colorbar(im, ax=axes[:, 2 * j], location="bottom", shrink=0.9, aspect=12, pad=0.02)
        cb.set_label(f"{name} map weight (unit norm)", fontsize=5, labelpad=1)
        cb.ax.tick_params(labelsize=5, length=2)
        cb.set_ticks([-lim, 0, lim], labels=[f"{-lim:.2f}", "0", f"{lim:.2f}"])
    _row_labels(axes[:, 0], cells, cell_types)
    axes[0, 1].annotate("spike", (0, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 1), ha="center",
                        va="bottom", textcoords="offset points", fontsize=5, color="0.4")
    fig.suptitle("Rank-1 receptive fields. Map: red, a brighter pixel at the filter's peak raises the response; "
                 "blue, a darker one does.\nFilter: signed positive at its peak, so an OFF cell's filter also "
                 "peaks upward and its polarity is the blue map centre.")
    return fig


def _row_labels(axes: np.ndarray, cells: list, cell_types: xr.DataArray | None) -> None:
    """``cell 3`` and its type, to the left of each row."""
    for ax, cell in zip(axes, cells, strict=True):
        label = f"cell {cell}" + (f"\n{cell_types.sel(cell=cell).item()}" if cell_types is not None else "")
        ax.set_ylabel(label, rotation=0, ha="right", va="center")


def _temporal_pairs(rfs: dict[str, xr.Dataset], cells: list, cell_types: xr.DataArray | None) -> Figure:
    """Full-field estimates: one temporal-filter column per estimate (no map: a 1x1 stimulus has no space)."""
    fig, axes = plt.subplots(len(cells), len(rfs), figsize=(width_in(2), 0.6 * len(cells) + 0.6), squeeze=False,
                             layout="constrained")
    for j, (name, ds) in enumerate(rfs.items()):
        axes[0, j].set_title(f"{name}: temporal filter")
        for i, cell in enumerate(cells):
            temporal = ds["temporal"].sel(cell=cell) * ds["spatial"].sel(cell=cell).squeeze().item()
            _temporal_axes(axes[i, j], temporal, _polarity_color(temporal.values), i == len(cells) - 1, ticks=True)
        axes[-1, j].set_xlabel("ms before the response", labelpad=1)
    _row_labels(axes[:, 0], cells, cell_types)
    fig.suptitle("Rank-1 temporal filters, full-field stimulus (no spatial map)\n"
                 "signed: red ON (a brightening raises the response at the largest lobe), blue OFF")
    return fig


@journal
def plot_mode_irf_grid(combos: xr.Dataset, cells: Sequence | None = None, combinations: Sequence[int] | None = None,
                       kind: str = "mean", pixel_size_um: float | None = None, max_columns: int = 12,
                       cell_types: xr.DataArray | None = None, min_frames: int = 5) -> Figure:
    """A grid of spatial IRFs: one row per cell, one column per mode set (single modes and combinations).

    Parameters
    ----------
    combos : xarray.Dataset
        From :func:`retinacodec.rf.mode_combination_irfs`.
    cells : sequence, optional
        Cell ids (rows); default every cell with at least one qualifying frame.
    combinations : sequence of int, optional
        Positions along ``combination`` (columns); default the ``max_columns`` most frequent.
    kind : {"mean", "example"}
        The rank-1 map of the IRF averaged over all qualifying frames, or the first (strongest)
        example frame's rank-1 map, as the official figure shows.
    pixel_size_um : float, optional
        Default: the ``pixel_size_um`` attribute.
    max_columns : int
        Columns shown by default (sets are stored most frequent first); beyond about 12 the
        180-mm figure has no room for readable maps.
    cell_types : xarray.DataArray (cell), optional
        Shown in the row labels (e.g. the simulator truth's ``cell_type``).
    min_frames : int
        Panels that average fewer qualifying frames are drawn faded and framed by a dotted line:
        a map of one or two frames is an example, not an average.

    Returns
    -------
    matplotlib.figure.Figure
        180 mm wide; the maps share one zero-centred scale (RdBu_r; rank-1 maps have unit
        norm) with a colour bar; column titles the mode set (``3+7``) and the frames where it
        occurs; in each panel's corner n, the frames it averages; an empty panel where the
        cell never fires above the rate threshold during that set; a µm scale bar.

    Examples
    --------
    >>> rec, truth = rc.load_sample()
    >>> model = rc.load_sample_model()
    >>> frames = np.flatnonzero(rec["block"].values == "test")[:30]
    >>> irf = rc.rf.instantaneous_rf(model, rec, frames, rank1=True)
    >>> rng = np.random.default_rng(0)
    >>> loadings = xr.DataArray(rng.random((30, 3)) * (rng.random((30, 3)) < 0.4), dims=("frame", "mode"),
    ...                         coords={"frame": frames, "mode": [0, 1, 2]})
    >>> fig = rc.figures.plot_mode_irf_grid(rc.rf.mode_combination_irfs(loadings, irf), cells=[0, 6])
    >>> fig.savefig("irf_per_mode.png")
    """
    if kind not in ("mean", "example"):
        raise ValueError(f"kind must be 'mean' or 'example'; got {kind!r}.")
    cols = list(range(min(combos.sizes["combination"], int(max_columns))) if combinations is None else combinations)
    if cells is None:
        cells = [c for c in combos["cell"].values if int(combos["n_frames"].sel(cell=c).sum()) > 0]
    cells = list(cells)
    if not cols or not cells:
        raise ValueError("nothing to show: no mode set, or no cell firing during any set.")
    px = _pixel_size(pixel_size_um, combos)
    flat = full_field(combos)  # a 1x1 stimulus: temporal filters instead of one-pixel maps
    maps = combos["mean_spatial"] if kind == "mean" else combos["spatial"].isel(example=0)
    lim = symmetric_limit(maps.isel(combination=cols).sel(cell=cells).values)
    size = min(0.8, width_in(2) / max(len(cols), 1))
    fig, axes = plt.subplots(len(cells), len(cols), figsize=(width_in(2), size * len(cells) + 0.8), squeeze=False,
                             layout="constrained")
    im = None
    for j, k in enumerate(cols):
        sub = combos.isel(combination=k)
        members = str(sub["label"].item()).split("+")
        label = "+\n".join("+".join(members[i:i + 2]) for i in range(0, len(members), 2))  # two modes a line
        axes[0, j].set_title(f"{label}\n{int(sub['count'])} fr.", fontsize=6)
        for i, cell in enumerate(cells):
            ax = axes[i, j]
            n = int(sub["n_frames"].sel(cell=cell))
            spatial = maps.isel(combination=k).sel(cell=cell)
            if n == 0 or not np.isfinite(spatial.values).all():
                _blank(ax)
                continue
            if flat:
                temporal = (sub["mean_temporal"] if kind == "mean" else sub["temporal"].isel(example=0)).sel(cell=cell)
                temporal = temporal * spatial.squeeze().item()
                _temporal_axes(ax, temporal, _polarity_color(temporal.values), bar=False)
            else:
                im = _spatial_axes(ax, spatial, px, bar=False, lim=lim)
            few = kind == "mean" and n < min_frames
            for artist in (*ax.images, *ax.lines):
                artist.set_alpha(0.35 if few else 1.0)
            if few:  # a dotted frame: this panel is one or a few frames, not an average
                ax.add_patch(Rectangle((0, 0), 1, 1, transform=ax.transAxes, fill=False, ls=":", lw=0.6, ec="0.3",
                                       clip_on=False))
            ax.text(0.03, 0.03, f"n={n}", transform=ax.transAxes, fontsize=4.5, va="bottom",
                    color="0.4" if few else "k")
    _row_labels(axes[:, 0], cells, cell_types)
    bar_ax = next((ax for ax in axes[-1, ::-1] if ax.images or ax.lines), None)
    if bar_ax is not None:
        length = round_length(np.ptp(bar_ax.get_xlim()))
        scale_bar(bar_ax, length, f"{length:g} {'ms' if flat else 'µm'}")
    if im is not None:
        solid = ScalarMappable(norm=im.norm, cmap=im.get_cmap())  # the last map may be a faded one
        cb = fig.colorbar(solid, ax=axes, location="right", shrink=0.5, aspect=15, pad=0.01)
        cb.set_label("map weight (unit norm); red ON, blue OFF", fontsize=5)
        cb.ax.tick_params(labelsize=5, length=2)
    what = "mean IRF" if kind == "mean" else "IRF of the strongest frame"
    rate = combos.attrs.get("min_rate_hz", 1.0)
    fig.suptitle(f"{'Temporal filter' if flat else 'Rank-1 map'} of each cell's {what} while exactly the column's "
                 f"modes are active and it fires > {rate:g} Hz (n: frames; faded: n < {min_frames})")
    return fig
