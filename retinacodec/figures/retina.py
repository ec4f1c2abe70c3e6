"""The CODEC paper's retina figure (Melander et al. 2026, Fig. 8) from saved results.

Panel B (:func:`plot_contribution_panel`): one cell's model rate with two marked frames and
the cell's instantaneous receptive field (IRF) at each, above the sign-split contributions of
layer 1 and layer 2 (2C rows × time) and the loadings of two modes, one active at each marked
frame and not at the other — the official ``4_plot_contributions.py``. Panel C is
:func:`~retinacodec.figures.codec.plot_cell_mode_correlation` (official ``5_kmeans_modes.py``).
:func:`plot_retina_figure` composes them on one two-column page.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.transforms import blended_transform_factory

from retinacodec.figures.codec import _cell_loadings, plot_cell_mode_correlation
from retinacodec.figures.rf import _polarity_color, _temporal_axes, full_field
from retinacodec.figures.style import (
    DIVERGING,
    OKABE_ITO,
    journal,
    round_length,
    scale_bar,
    symmetric_limit,
    width_in,
)

__all__ = ["choose_frames", "contrasting_modes", "plot_contribution_panel", "plot_retina_figure"]

_MARK = OKABE_ITO[1]  # vermillion band on the marked frames
_CONTRIBUTION_MAP = "PiYG"  # diverging, colour-blind safe (ColorBrewer), as the official panel


def _active(loadings: np.ndarray, i: int, window: int, threshold: float) -> np.ndarray:
    """Modes whose loading exceeds ``threshold`` within ±``window`` frames of position ``i``; (mode,) bool."""
    lo, hi = max(0, i - window), min(loadings.shape[0], i + window + 1)
    return loadings[lo:hi].max(axis=0) > threshold


def contrasting_modes(loadings: xr.DataArray, frames: tuple[int, int], threshold: float = 0.1,
                      window: int = 5) -> tuple[int, int]:
    """Two modes, each active near one of two frames and not near the other (official ``4_plot_contributions.py``).

    Parameters
    ----------
    loadings : xarray.DataArray, shape (frame, mode)
        One cell's (or the population's) loadings.
    frames : (int, int)
        Frame indices (``frame`` coordinate values).
    threshold : float
        A mode is active where its loading exceeds this.
    window : int
        Frames either side of each marked frame searched for activity.

    Returns
    -------
    (int, int)
        Mode ids: active near the first frame only, and near the second only; of several,
        the one with the largest loading there (the official takes the lowest index).
    """
    values = loadings.transpose("frame", "mode").values
    pos = [int(np.searchsorted(loadings["frame"].values, f)) for f in frames]
    act = [_active(values, p, window, threshold) for p in pos]
    picked = []
    for here, there, p in ((act[0], act[1], pos[0]), (act[1], act[0], pos[1])):
        only = np.flatnonzero(here & ~there)
        if only.size == 0:
            raise ValueError(f"no mode has a loading above {threshold} within {window} frames of frame "
                             f"{frames[len(picked)]} and not of the other; pick other frames or lower threshold=.")
        peak = values[max(0, p - window):p + window + 1, only].max(axis=0)
        picked.append(int(loadings["mode"].values[only[np.argmax(peak)]]))
    return picked[0], picked[1]


def choose_frames(rate: xr.DataArray, loadings: xr.DataArray, span_s: float = 2.5, threshold: float = 0.1,
                  window: int = 5, candidates: np.ndarray | None = None,
                  maps: dict[int, np.ndarray] | None = None) -> tuple[int, int]:
    """Two peaks of a cell's rate, at most ``span_s`` apart, driven by different modes.

    Candidates are the local maxima of the rate above its 90th percentile; of the pairs where
    :func:`~retinacodec.figures.retina.contrasting_modes` finds a mode for each frame, the one whose receptive fields
    differ most (the lowest correlation of their ``maps``: opposite polarities first), then
    the one with the highest summed rate.

    Parameters
    ----------
    rate : xarray.DataArray, shape (frame,)
        The cell's model rate (Hz) with a ``time`` coordinate (s).
    loadings : xarray.DataArray, shape (frame, mode)
        Its loadings on the same frames.
    span_s, threshold, window
        Largest distance of the two frames (s); activity as in :func:`~retinacodec.figures.retina.contrasting_modes`.
    candidates : ndarray of int, optional
        Frame ids allowed (e.g. those with an IRF); default all.
    maps : dict of int to ndarray, optional
        The cell's receptive field (any shape) at candidate frames (frame id → map); pairs are
        ranked by the Pearson r of their maps, lowest first. Without it, by rate alone.

    Returns
    -------
    (int, int)
        Frame ids, earlier first.
    """
    r = rate.values.astype(float)
    t = rate["time"].values
    ids = rate["frame"].values
    peaks = np.flatnonzero((r[1:-1] >= r[:-2]) & (r[1:-1] > r[2:]) & (r[1:-1] >= np.percentile(r, 90))) + 1
    if candidates is not None:
        peaks = peaks[np.isin(ids[peaks], candidates)]
    values = loadings.transpose("frame", "mode").values
    act = {p: _active(values, p, window, threshold) for p in peaks}
    best, best_key = None, (np.inf, np.inf)
    for i, a in enumerate(peaks):
        for b in peaks[i + 1:]:
            if t[b] - t[a] > span_s * 0.8:
                break
            if not ((act[a] & ~act[b]).any() and (act[b] & ~act[a]).any()):
                continue
            similar = 0.0
            if maps is not None and int(ids[a]) in maps and int(ids[b]) in maps:
                with np.errstate(invalid="ignore", divide="ignore"):  # a flat map has no correlation: NaN, then 0
                    similar = round(float(np.corrcoef(maps[int(ids[a])].ravel(), maps[int(ids[b])].ravel())[0, 1]), 1)
            key = (similar if np.isfinite(similar) else 0.0, -(r[a] + r[b]))
            if key < best_key:
                best, best_key = (a, b), key
    if best is None:
        raise ValueError(f"no two rate peaks within {span_s} s are driven by different modes (loading > {threshold}); "
                         "pick other frames or lower the threshold.")
    return int(ids[best[0]]), int(ids[best[1]])


def _spatial_map(irf: xr.Dataset, frame: int, cell: int) -> xr.DataArray:
    """The IRF's spatial map at a frame: its rank-1 ``spatial`` part, or the frame of the ``irf`` at its peak lag."""
    if frame not in set(irf["frame"].values.tolist()):
        raise ValueError(f"the IRFs do not include frame {frame}; compute instantaneous_rf at the marked frames.")
    if "spatial" in irf:
        return irf["spatial"].sel(frame=frame, cell=cell)
    if "irf" in irf:
        f = irf["irf"].sel(frame=frame, cell=cell)
        return f.isel(lag=int(np.argmax(f.var(("y", "x")).values)))
    raise ValueError("the IRF dataset has neither 'spatial' (rank1=True) nor 'irf'; use instantaneous_rf's output.")


def _temporal_filter(irf: xr.Dataset, frame: int, cell: int) -> xr.DataArray:
    """A full-field IRF's temporal filter at a frame, signed by its polarity (rank-1 ``temporal`` × ``spatial``)."""
    _spatial_map(irf, frame, cell)  # the same check that the frame is covered
    if "temporal" in irf:
        return irf["temporal"].sel(frame=frame, cell=cell) * irf["spatial"].sel(frame=frame, cell=cell).squeeze().item()
    return irf["irf"].sel(frame=frame, cell=cell).squeeze(("y", "x"))


def _inset_box(ax: Axes, x: float, half_width: float, other: float | None = None) -> Axes:
    """An inset of ``ax`` (a blank row above the rate) centred on time ``x``, moved away from one at ``other``.

    A thin line joins it to ``x`` on the rate axis below, so that two close frames keep apart insets.
    """
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    x0, x1 = ax.get_xlim()
    half = half_width * (x1 - x0)
    centre = x
    if other is not None and abs(other - x) < 2.4 * half:  # too close: each moves away from the other
        centre = (x + other) / 2 + np.sign(x - other or 1) * 1.2 * half
    centre = min(max(centre, x0 + half), x1 - half)
    ax.plot([centre, x], [0.12, 0.0], transform=trans, color="0.5", lw=0.5, clip_on=False)
    return ax.inset_axes([centre - half, 0.12, 2 * half, 0.88], transform=trans)


def _temporal_inset(ax: Axes, x: float, temporal: xr.DataArray, title: str, other: float | None = None) -> None:
    """A full-field IRF's temporal filter in a box above time ``x`` (red ON, blue OFF), ms scale bar."""
    box = _inset_box(ax, x, 0.14, other)
    _temporal_axes(box, temporal, _polarity_color(temporal.values), bar=True)
    box.set_title(title, fontsize=6, pad=1.5)


def _inset(ax: Axes, x: float, spatial: xr.DataArray, pixel_um: float | None, title: str,
           other: float | None = None) -> None:
    """A square IRF map above time ``x`` (zero-centred, red ON, blue OFF), µm scale bar under it."""
    box = _inset_box(ax, x, 0.08, other)
    lim = symmetric_limit(spatial.values)
    box.imshow(spatial.values, cmap=DIVERGING, vmin=-lim, vmax=lim, interpolation="nearest")
    box.set_aspect("equal", adjustable="box", anchor="C")
    box.set_xticks([])
    box.set_yticks([])
    for side in box.spines.values():
        side.set_visible(True)
        side.set_color("0.4")
    box.set_title(title, fontsize=6, pad=1.5)
    if pixel_um:
        length = round_length(spatial.sizes["x"] * pixel_um)
        scale_bar(box, length / pixel_um, f"{length:g} µm", y=-0.04)


def _raster(ax: Axes, contributions: xr.DataArray, layer: str, extent: list[float]) -> None:
    """Sign-split contributions of one layer as rows (positive channels, then negative) × time, channel ids."""
    sub = contributions.isel(feature=np.flatnonzero(contributions["layer"].values == layer))
    order = np.lexsort((sub["channel"].values, sub["sign"].values != "pos"))
    values = sub.values[:, order].T  # (2C, time)
    lim = symmetric_limit(values, 99.5)  # a few extreme frames would wash out the rest
    im = ax.imshow(values, cmap=_CONTRIBUTION_MAP, vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest",
                   extent=[*extent, values.shape[0] - 0.5, -0.5])
    n_pos = int((sub["sign"].values == "pos").sum())
    ax.axhline(n_pos - 0.5, color="0.3", lw=0.5)
    signs = np.where(sub["sign"].values[order] == "pos", "+", "−")
    ends = [0, n_pos, values.shape[0] - 1]  # where each part starts, and the last row: ids, not crowded
    ax.set_yticks(ends, [f"{signs[i]}{sub['channel'].values[order][i]}" for i in ends], fontsize=5)
    ax.set_yticks(range(values.shape[0]), minor=True)
    ax.tick_params(axis="y", which="both", length=1.5, pad=1)
    ax.set_ylabel(f"Layer {layer.replace('layer', '')}\nchannel")
    cb = plt.colorbar(im, ax=ax, fraction=0.02, pad=0.01, aspect=8)
    units = contributions.attrs.get("units", "")
    cb.set_label("contribution" + (f"\n({units})" if units else ""), fontsize=5)
    cb.ax.tick_params(labelsize=5)
    cb.set_ticks([-lim, 0, lim], labels=[f"{-lim:.2g}", "0", f"{lim:.2g}"])


def _irf_maps(irf: xr.Dataset, cell: int) -> dict[int, np.ndarray]:
    """Frame id → the cell's IRF at that frame (its rank-1 map, or the whole filter), for ranking frame pairs."""
    if "spatial" in irf and not full_field(irf):
        values = irf["spatial"].sel(cell=cell).transpose("frame", ...).values
    elif "temporal" in irf:
        values = (irf["temporal"] * irf["spatial"].squeeze(("y", "x"), drop=True)).sel(cell=cell).transpose(
            "frame", ...).values
    else:
        values = irf["irf"].sel(cell=cell).transpose("frame", ...).values
    return {int(f): v for f, v in zip(irf["frame"].values, values, strict=True)}


def _choose_cell(modes: xr.Dataset, irf: xr.Dataset | None, cell_types: Sequence[str] | None, seconds: float,
                 threshold: float, window: int) -> tuple[int, tuple[int, int] | None]:
    """The cell to show and its frames: an ON-OFF cell where types are known, frames with the most different IRFs."""
    rate = modes["rate"]
    ids = [int(c) for c in rate["cell"].values]
    pool = [c for c, kind in zip(ids, cell_types, strict=True) if kind == "ON-OFF"] if cell_types is not None else []
    pool = pool or ids
    peak = rate.max("frame")
    best = None
    for c in sorted(pool, key=lambda c: -float(peak.sel(cell=c))):
        try:
            frames = choose_frames(rate.sel(cell=c), _cell_loadings(modes, c).transpose("frame", "mode"), seconds,
                                   threshold, window, candidates=irf["frame"].values if irf is not None else None,
                                   maps=_irf_maps(irf, c) if irf is not None else None)
        except ValueError:
            continue
        if irf is None:
            return c, frames
        maps = _irf_maps(irf, c)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = float(np.nan_to_num(np.corrcoef(maps[frames[0]].ravel(), maps[frames[1]].ravel())[0, 1]))
        if best is None or round(r, 1) < best[0]:
            best = (round(r, 1), c, frames)
    return (best[1], best[2]) if best is not None else (pool[0], None)


@journal
def plot_contribution_panel(modes: xr.Dataset, cell: int | None = None, frames: tuple[int, int] | None = None,
                            irf: xr.Dataset | None = None, mode_pair: tuple[int, int] | None = None,
                            seconds: float = 2.5, threshold: float = 0.1, window: int = 5,
                            fig: Figure | SubFigure | None = None,
                            cell_types: Sequence[str] | None = None) -> Figure | SubFigure:
    """Paper Fig. 8B: a cell's rate with two marked frames and their IRFs, the contribution rasters, two modes.

    Parameters
    ----------
    modes : xarray.Dataset
        A saved :func:`retinacodec.decompose` result with ``rate (frame, cell)`` (Hz),
        ``contributions (frame, [cell,] feature)`` (feature coords ``layer``, ``sign``,
        ``channel``) and ``loadings (frame, [cell,] mode)``.
    cell : int, optional
        Cell id. Default: of the ON-OFF cells where ``cell_types`` says so (else of all), the
        one whose IRFs at two rate peaks differ most (opposite polarity), the highest rate
        breaking ties.
    frames : (int, int), optional
        The marked frames (``frame`` ids); default :func:`~retinacodec.figures.retina.choose_frames` among the frames
        ``irf`` covers, the pair with the most different IRFs.
    irf : xarray.Dataset, optional
        :func:`retinacodec.rf.instantaneous_rf` output covering the marked frames: its
        ``spatial`` map (``rank1=True``) or the ``irf`` frame at its peak lag is inset; for a
        full-field (1×1) stimulus its temporal filter instead (red ON, blue OFF).
    mode_pair : (int, int), optional
        The two modes whose loadings are shown; default :func:`~retinacodec.figures.retina.contrasting_modes`.
    seconds : float
        Length of the excerpt, s, centred on the marked frames.
    threshold, window
        Mode activity (loading above ``threshold`` within ``window`` frames), as the official.
    fig : Figure or SubFigure, optional
        Draw into it instead of a new two-column figure.
    cell_types : sequence of str, optional
        A type per cell of ``modes`` (``"ON"``, ``"OFF"``, ``"ON-OFF"``): picks an ON-OFF
        cell by default and names the type in the title.

    Returns
    -------
    matplotlib.figure.Figure or SubFigure
        Rows: the IRF insets above the marked frames, the rate; layer-1 and layer-2 rasters
        (diverging, symmetric limits per layer at the 99.5th percentile of ``|contribution|``),
        loadings; a band on each marked frame; an ms scale bar.
    """
    missing = [v for v in ("rate", "contributions", "loadings") if v not in modes]
    if missing:
        raise ValueError(f"the modes lack {missing}; draw the contribution panel from a decompose(...) result of "
                         "contributions (save_modes keeps rate, contributions and loadings).")
    rate_all = modes["rate"]
    if cell is None:
        cell, chosen = _choose_cell(modes, irf, cell_types, seconds, threshold, window)
        frames = chosen if frames is None else frames
    if cell not in set(rate_all["cell"].values.tolist()):
        raise ValueError(f"cell {cell} is not a cell of the modes; choose from {rate_all['cell'].values.tolist()}.")
    rate = rate_all.sel(cell=cell)
    load = _cell_loadings(modes, cell).transpose("frame", "mode")
    contributions = modes["contributions"]
    if "cell" in contributions.dims:
        contributions = contributions.sel(cell=cell)
    if frames is None:
        frames = choose_frames(rate, load, seconds, threshold, window,
                               candidates=irf["frame"].values if irf is not None else None,
                               maps=_irf_maps(irf, cell) if irf is not None else None)
    frames = tuple(int(f) for f in frames)
    pair = contrasting_modes(load, frames, threshold, window) if mode_pair is None else tuple(mode_pair)
    t = modes["time"].values
    dt = float(np.median(np.diff(t)))
    pos = [int(np.searchsorted(modes["frame"].values, f)) for f in frames]
    centre = (t[pos[0]] + t[pos[1]]) / 2
    start = min(max(t[0], centre - seconds / 2), max(t[0], t[-1] - seconds))
    keep = (t >= start) & (t < start + seconds)
    ts = (t[keep] - start) * 1000  # ms from the excerpt's start
    extent = [ts[0] - dt * 500, ts[-1] + dt * 500]
    marks = [(t[p] - start) * 1000 for p in pos]
    at = [start - t[0] + m / 1000 for m in marks]  # s from the clip's start

    if fig is None:
        fig = plt.figure(figsize=(width_in(2), 4.8), layout="constrained")
    heights = [1.0, 1.2, 1, 1, 0.9] if irf is not None else [0.0001, 1.2, 1, 1, 0.9]
    axes = fig.subplots(5, 1, sharex=True, height_ratios=heights)
    top, ax = axes[0], axes[1]
    top.axis("off")
    ax.plot(ts, rate.values[keep], color="k", lw=0.9)
    peak = float(rate.values[keep].max())
    ax.set_ylim(0, 1.1 * peak or 1.0)
    ax.locator_params(axis="y", nbins=3)
    ax.set_ylabel("model rate (Hz)")
    ax.set_xlim(*extent)
    for band in axes[1:]:
        for m in marks:
            band.axvspan(m - dt * 500, m + dt * 500, color=_MARK, alpha=0.35, lw=0, zorder=3)
    if irf is not None:
        for f, m, other, when in zip(frames, marks, marks[::-1], at, strict=True):
            title = f"IRF, t = {when:.2f} s"
            if full_field(irf):  # one pixel: the IRF is its time course
                _temporal_inset(top, m, _temporal_filter(irf, f, cell), f"{title} (temporal filter)", other)
            else:
                _inset(top, m, _spatial_map(irf, f, cell), irf.attrs.get("pixel_size_um"), title, other)
    for a, layer in zip(axes[2:4], ("layer1", "layer2"), strict=True):
        _raster(a, contributions.isel(frame=np.flatnonzero(keep)), layer, extent)
    ax = axes[4]
    half = window * dt * 1000
    for i, m in enumerate(pair):
        ax.plot(ts, load.sel(mode=m).values[keep], color=OKABE_ITO[i * 4], lw=1.0,
                label=f"mode {m} ({load['mode_layer'].sel(mode=m).item().replace('layer', 'layer ')}): loading > "
                      f"{threshold:g} within ±{half:.0f} ms of t = {at[i]:.2f} s, not of t = {at[1 - i]:.2f} s")
    ax.set_ylabel("loading")
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.25), ncol=1, frameon=False)
    for a in axes[1:]:
        a.tick_params(axis="x", bottom=False, labelbottom=False)
        a.spines["bottom"].set_visible(a is not axes[1] and a is not axes[4])
    bar = round_length(seconds * 1000, 0.2)
    scale_bar(axes[4], bar, f"{bar:g} ms", y=-0.08)
    target = "this cell" if "cell" in modes["contributions"].dims else modes.attrs.get("target", "the target")
    kind = ""
    if cell_types is not None:
        kind = f" ({list(cell_types)[[int(c) for c in rate_all['cell'].values].index(cell)]})"
    fig.suptitle(f"Cell {cell}{kind}: model rate, sign-split contributions to {target} and two modes, "
                 f"t = {start - t[0]:.2f}–{start - t[0] + seconds:.2f} s of the {t[-1] - t[0] + dt:.1f}-s clip",
                 x=0.02, ha="left")
    return fig


@journal
def plot_retina_figure(modes: xr.Dataset, irf: xr.Dataset | None = None, clusters: xr.Dataset | None = None,
                       correlation: xr.DataArray | None = None, cell: int | None = None,
                       frames: tuple[int, int] | None = None, cell_labels: Sequence[str] | None = None,
                       **panel_b: object) -> Figure:
    """Paper Fig. 8 B and C on one two-column page, from saved results.

    Parameters
    ----------
    modes : xarray.Dataset
        A saved :func:`retinacodec.decompose` result (see :func:`plot_contribution_panel`).
    irf : xarray.Dataset, optional
        IRFs covering the marked frames (insets of panel A).
    clusters : xarray.Dataset, optional
        :func:`retinacodec.codec.analyses.paper_cell_clusters` (``r (cell, mode)``,
        ``cluster (cell)``); the official clusters on layer-1 modes and orders both layers'
        panels by them. Without it, the correlation panel (B) is left out.
    correlation : xarray.DataArray, shape (cell, mode), optional
        The cell × mode correlation of every mode shown in panel B
        (:func:`retinacodec.codec.analyses.cell_mode_correlation`); default ``clusters["r"]``.
    cell, frames
        As :func:`plot_contribution_panel`.
    cell_labels : sequence of str, optional
        A type per cell (``"ON"``, ``"OFF"``, ``"ON-OFF"``): labels panel B's rows, names the
        type of panel A's cell and makes it an ON-OFF cell by default.
    **panel_b
        Further options of :func:`plot_contribution_panel` (``mode_pair``, ``seconds`` ...).

    Returns
    -------
    matplotlib.figure.Figure
        180 mm wide; panels lettered A (the paper's B) and B (the paper's C).

    Examples
    --------
    >>> rec, truth = rc.load_sample()
    >>> model = rc.load_sample_model()
    >>> frames = np.flatnonzero(rec["block"].values == "test")[:100]
    >>> modes = rc.decompose(model, rec, ["layer1", "layer2"], preset="cells", frames=frames, fit_frames=frames,
    ...                      max_epochs=10, progress=False)
    >>> fig = rc.figures.plot_retina_figure(modes)
    >>> fig.savefig("retina_figure.png")
    """
    fig = plt.figure(figsize=(width_in(2), 7.0 if clusters is not None else 4.2), layout="constrained")
    subs = fig.subfigures(2, 1, height_ratios=[1.5, 1]) if clusters is not None else [fig]
    plot_contribution_panel(modes, cell, frames, irf, fig=subs[0], cell_types=cell_labels, **panel_b)
    if clusters is not None:
        corr = clusters["r"] if correlation is None else correlation
        if "mode_layer" not in corr.coords:
            corr = corr.assign_coords(mode_layer=("mode", modes["mode_layer"].sel(mode=corr["mode"].values).values))
        plot_cell_mode_correlation(corr, clusters, cell_labels, fig=subs[1])
    for sub, letter in zip(subs, "AB", strict=False):
        sub.text(0.0, 1.0, letter, fontsize=10, fontweight="bold", va="top", ha="left",
                 transform=sub.transSubfigure)
    return fig
