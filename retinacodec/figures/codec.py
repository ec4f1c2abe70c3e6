"""Figures of contribution modes: atoms, loadings, a mode against a true drive, cell × mode correlations,
interventions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure, SubFigure
from matplotlib.patches import Rectangle

from retinacodec.figures.style import (
    DIVERGING,
    OKABE_ITO,
    journal,
    round_length,
    scale_bar,
    symmetric_limit,
    width_in,
)

__all__ = ["plot_cell_mode_correlation", "plot_interventions", "plot_loadings", "plot_mode_atoms",
           "plot_mode_vs_drive"]


def _feature_labels(modes: xr.Dataset) -> list[str]:
    """``"L1 c3+"`` per feature: layer number, channel, sign."""
    return [f"{str(layer).replace('layer', 'L')} c{int(ch)}{'+' if s == 'pos' else '−'}"
            for layer, ch, s in zip(modes["layer"].values, modes["channel"].values, modes["sign"].values,
                                    strict=True)]


@journal
def plot_mode_atoms(modes: xr.Dataset, mode_list: Sequence[int] | None = None,
                    labels: Mapping[int, str] | None = None) -> Figure:
    """Heat map of the atoms: features (layer, channel, sign) × modes, diverging around 0.

    Parameters
    ----------
    modes : xarray.Dataset
        From :func:`retinacodec.codec.decompose`.
    mode_list : sequence of int, optional
        Modes to show (default all).
    labels : mapping of int to str, optional
        Names of some modes, e.g. ``{12: "ON", 5: "OFF"}``: written under their column and
        the column outlined.

    Returns
    -------
    matplotlib.figure.Figure
        Two-column width; symmetric colour limits.
    """
    labels = dict(labels or {})
    atoms = modes["modes"] if mode_list is None else modes["modes"].sel(mode=list(mode_list))
    unknown = [m for m in labels if m not in set(atoms["mode"].values.tolist())]
    if unknown:
        raise ValueError(f"labels name modes {unknown} that are not shown; "
                         f"choose from {atoms['mode'].values.tolist()}.")
    values = atoms.values.T  # (feature, mode)
    lim = symmetric_limit(values)
    height = min(9.0, max(2.2, 0.09 * values.shape[0] + 1.0))
    fig, ax = plt.subplots(figsize=(width_in(2), height), layout="constrained")
    im = ax.imshow(values, cmap=DIVERGING, vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(values.shape[0]), _feature_labels(modes), fontsize=5)
    mode_ids = atoms["mode"].values.tolist()
    ax.set_xticks(range(values.shape[1]), [f"{m} {labels[m]}" if m in labels else str(m) for m in mode_ids],
                  fontsize=5, rotation=90)
    for i, m in enumerate(mode_ids):
        if m in labels:
            ax.get_xticklabels()[i].set_fontweight("bold")
            ax.add_patch(Rectangle((i - 0.5, -0.5), 1, values.shape[0], fill=False, lw=1.2, ec="k"))
    layer_of_mode = atoms["mode_layer"].values
    for i in np.flatnonzero(layer_of_mode[1:] != layer_of_mode[:-1]):
        ax.axvline(i + 0.5, color="k", lw=0.8)
    layer_of_feature = modes["layer"].values
    for i in np.flatnonzero(layer_of_feature[1:] != layer_of_feature[:-1]):
        ax.axhline(i + 0.5, color="k", lw=0.8)
    ax.set_xlabel("mode" + (" (outlined: " + ", ".join(f"{m} = {n}" for m, n in labels.items()) + ")"
                            if labels else ""))
    ax.set_ylabel("feature (layer, channel, sign)")
    ax.set_title(f"Mode atoms: {len(mode_ids)} modes over {values.shape[0]} features "
                 f"({modes.attrs.get('preset', '')} preset, {modes.attrs.get('sae_kind', '')} SAE)")
    fig.colorbar(im, ax=ax, shrink=0.6, label="atom weight")
    return fig


def _cell_loadings(modes: xr.Dataset, cell: int) -> xr.DataArray:
    """Loadings ``(frame, mode)`` of one cell (per-cell modes) or of the population (they have no cell dim)."""
    load = modes["loadings"]
    if "cell" in load.dims:
        if cell not in set(load["cell"].values.tolist()):
            raise ValueError(f"cell {cell} is not a cell of the modes; choose from {load['cell'].values.tolist()}.")
        load = load.sel(cell=cell)
    return load


def _excerpt(t: np.ndarray, seconds: float | None) -> slice:
    """The first ``seconds`` of a time axis (all of it for None)."""
    if seconds is None:
        return slice(None)
    return slice(0, max(1, int(np.searchsorted(t, t[0] + seconds))))


@journal
def plot_loadings(modes: xr.Dataset, cell: int, mode_list: Sequence[int], rate: xr.DataArray | None = None,
                  labels: Sequence[str] | None = None, seconds: float | None = 3.0) -> Figure:
    """One cell's loadings of some modes over time, above its firing rate.

    Parameters
    ----------
    modes : xarray.Dataset
        From :func:`retinacodec.codec.decompose` (population loadings are the same for every cell).
    cell : int
        Cell id.
    mode_list : sequence of int
        Modes to plot, one row each.
    rate : xarray.DataArray, shape (frame, cell), optional
        Firing rate in Hz on (at least) the same frames.
    labels : sequence of str, optional
        A name per mode (e.g. "ON mode").
    seconds : float, optional
        Length of the excerpt shown from the first analysed frame, s (None: all).

    Returns
    -------
    matplotlib.figure.Figure
        One-column width, an ms scale bar under the last row.
    """
    load = _cell_loadings(modes, cell).sel(mode=list(mode_list))
    t = modes["time"].values
    sl = _excerpt(t, seconds)
    t_ms = (t[sl] - t[0]) * 1000
    n_rows = len(mode_list) + (rate is not None)
    fig, axes = plt.subplots(n_rows, 1, figsize=(width_in(1), 0.6 * n_rows + 0.6), sharex=True, squeeze=False,
                             layout="constrained")
    axes = axes[:, 0]
    for i, m in enumerate(mode_list):
        ax = axes[i]
        ax.fill_between(t_ms, load.sel(mode=m).values[sl], color=OKABE_ITO[i % len(OKABE_ITO)], lw=0)
        name = labels[i] if labels is not None else f"mode {m}"
        ax.set_ylabel(f"{name}\n({load['mode_layer'].sel(mode=m).item()})")
    if rate is not None:
        axes[-1].plot(t_ms, rate.sel(cell=cell).sel(frame=modes["frame"].values).values[sl], color="k", lw=0.8)
        axes[-1].set_ylabel("rate (Hz)")
    for ax in axes:
        ax.spines["bottom"].set_visible(False)
        ax.tick_params(axis="x", bottom=False, labelbottom=False)
        ax.locator_params(axis="y", nbins=2)
    axes[-1].set_xlim(t_ms[0], t_ms[-1])
    bar = round_length(t_ms[-1] - t_ms[0], 0.2)
    scale_bar(axes[-1], bar, f"{bar:g} ms")
    fig.suptitle(f"Cell {cell}: mode loadings, first {(t_ms[-1] - t_ms[0]) / 1000:.1f} s of "
                 f"{t[-1] - t[0]:.1f} s", x=0.02, ha="left")
    return fig


@journal
def plot_mode_vs_drive(modes: xr.Dataset, drives: xr.DataArray, cell: int, pairs: Mapping[str, int],
                       seconds: float | None = 3.0) -> Figure:
    """A mode's loading against the true drive it follows, one row per (drive, mode) pair, r in the title.

    Parameters
    ----------
    modes : xarray.Dataset
        From :func:`retinacodec.codec.decompose`.
    drives : xarray.DataArray, shape (frame, cell, pathway) or (frame, cell)
        True drives (e.g. the simulator truth's ``on_drive`` and ``off_drive`` stacked along
        ``pathway``), on frames that include the analysed ones.
    cell : int
        Cell id.
    pairs : mapping of str to int
        Pathway → mode, e.g. ``{"on": 12, "off": 5}`` (``match_pathways``' ``best_mode``).
        Without a ``pathway`` dim give one pair, its key naming the drive.
    seconds : float, optional
        Length of the trace shown, s (None: all); r is over every analysed frame.

    Returns
    -------
    matplotlib.figure.Figure
        Two-column width. Left: loading and drive over time, each z-scored; right: loading
        against drive per frame. An ms scale bar under the traces.
    """
    if not pairs:
        raise ValueError("pairs is empty; give pathway -> mode, e.g. {'on': 12, 'off': 5}.")
    load = _cell_loadings(modes, cell)
    frames = modes["frame"].values
    if not np.isin(frames, drives["frame"].values).all():
        raise ValueError("the drives do not cover the analysed frames; pass drives of the recording's frames.")
    drive_cell = drives.sel(cell=cell).sel(frame=frames)
    t = modes["time"].values
    sl = _excerpt(t, seconds)
    t_ms = (t[sl] - t[0]) * 1000
    fig = plt.figure(figsize=(width_in(2), 1.0 * len(pairs) + 0.5), layout="constrained")
    grid = fig.add_gridspec(len(pairs), 2, width_ratios=[4, 1])
    rs = []
    for i, (pathway, mode) in enumerate(pairs.items()):
        x = load.sel(mode=mode).values.astype(float)
        d = (drive_cell.sel(pathway=pathway) if "pathway" in drive_cell.dims else drive_cell).values.astype(float)
        r = float(np.corrcoef(x, d)[0, 1]) if x.std() > 0 and d.std() > 0 else float("nan")
        rs.append(f"{pathway} drive ~ mode {mode}: r = {r:.2f}")
        z = [(v - v.mean()) / (v.std() or 1.0) for v in (x, d)]
        ax = fig.add_subplot(grid[i, 0])
        ax.fill_between(t_ms, z[0][sl], z[0][sl].min(), color=OKABE_ITO[0], alpha=0.6, lw=0,
                        label=f"mode {mode} loading")
        ax.plot(t_ms, z[1][sl], color=OKABE_ITO[1], lw=0.8, label=f"true {pathway} drive")
        ax.set_ylabel(f"{pathway}\n(z-score)")
        ax.set_xlim(t_ms[0], t_ms[-1])
        ax.spines["bottom"].set_visible(False)
        ax.tick_params(axis="x", bottom=False, labelbottom=False)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        if i == len(pairs) - 1:
            bar = round_length(t_ms[-1] - t_ms[0], 0.2)
            scale_bar(ax, bar, f"{bar:g} ms")
        sc = fig.add_subplot(grid[i, 1])
        sc.scatter(d, x, s=1, color=OKABE_ITO[0], alpha=0.4, rasterized=True)
        sc.set_xlabel(f"true {pathway} drive")
        sc.set_ylabel("loading")
        sc.set_title(f"r = {r:.2f}")
    fig.suptitle(f"Cell {cell}: " + "; ".join(rs) + f" (r over all {frames.size} frames, {t[-1] - t[0]:.1f} s; "
                 f"traces: first {(t_ms[-1] - t_ms[0]) / 1000:.1f} s)", x=0.02, ha="left")
    return fig


@journal
def plot_cell_mode_correlation(corr: xr.DataArray, clusters: xr.Dataset | None = None,
                               cell_labels: Sequence[str] | None = None, fig: Figure | SubFigure | None = None,
                               ) -> Figure | SubFigure:
    """Heat map of cell × mode correlations, cells grouped by cluster, one panel per layer of modes.

    Like the official ``5_kmeans_modes.py`` (paper Fig. 8C): the cells are ordered by one
    clustering shared by every panel, and a coloured square per row names its cluster. Unlike
    it, the map is diverging with symmetric limits, so negative correlations show.

    Parameters
    ----------
    corr : xarray.DataArray, shape (cell, mode)
        From :func:`retinacodec.codec.analyses.cell_mode_correlation` (or ``r`` of
        ``paper_cell_clusters``); with a ``mode_layer`` coord, one panel per layer.
    clusters : xarray.Dataset, optional
        From :func:`retinacodec.codec.analyses.cluster_cells` or ``paper_cell_clusters``;
        cells are sorted by cluster and clusters separated by lines.
    cell_labels : sequence of str, optional
        A label per cell (e.g. its type), in ``corr``'s cell order.
    fig : Figure or SubFigure, optional
        Draw into it (e.g. a panel of a composed figure) instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure or SubFigure
    """
    order = np.arange(corr.sizes["cell"])
    if clusters is not None:
        if not np.array_equal(clusters["cell"].values, corr["cell"].values):
            raise ValueError("clusters and corr list different cells; cluster the same correlation matrix.")
        order = np.argsort(clusters["cluster"].values, kind="stable")
    names = [f"{c}" + (f" {cell_labels[i]}" if cell_labels is not None else "")
             for i, c in zip(order, corr["cell"].values[order], strict=True)]
    layers = (list(dict.fromkeys(corr["mode_layer"].values.tolist())) if "mode_layer" in corr.coords else [None])
    lim = symmetric_limit(corr.values)
    if fig is None:
        fig = plt.figure(figsize=(width_in(2), 0.14 * corr.sizes["cell"] + 1.2), layout="constrained")
    axes = fig.subplots(1, len(layers), squeeze=False,
                        width_ratios=[max(1, int((corr["mode_layer"].values == la).sum())) if la else 1
                                      for la in layers])[0]
    for j, (ax, layer) in enumerate(zip(axes, layers, strict=True)):
        sub = corr if layer is None else corr.isel(mode=np.flatnonzero(corr["mode_layer"].values == layer))
        values = sub.values[order]
        im = ax.imshow(values, cmap=DIVERGING, vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
        ax.set_xticks(range(values.shape[1]), [str(m) for m in sub["mode"].values], fontsize=4, rotation=90)
        ax.set_yticks(range(len(names)), names if j == 0 else [], fontsize=5)
        ax.set_xlabel("mode")
        ax.set_title(f"Layer {str(layer).replace('layer', '')}" if layer else "modes")
        if clusters is not None:
            sorted_labels = clusters["cluster"].values[order]
            for i in np.flatnonzero(sorted_labels[1:] != sorted_labels[:-1]):
                ax.axhline(i + 0.5, color="k", lw=0.8)
            if j == 0:
                for i, c in enumerate(sorted_labels):
                    ax.add_patch(Rectangle((-0.03, i - 0.4), 0.025, 0.8, transform=ax.get_yaxis_transform(),
                                           clip_on=False, color=OKABE_ITO[int(c) % len(OKABE_ITO)], ec="k",
                                           lw=0.3))
                ax.tick_params(axis="y", length=0, pad=7)
    axes[0].set_ylabel("cell")
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="Pearson r (loading, rate)")
    if clusters is not None:
        handles = [Rectangle((0, 0), 1, 1, color=OKABE_ITO[c % len(OKABE_ITO)], ec="k", lw=0.3)
                   for c in range(int(clusters.attrs["k"]))]
        axes[0].legend(handles, [f"cluster {c + 1}" for c in range(len(handles))], loc="upper right",
                       bbox_to_anchor=(0.0, -0.02), frameon=False, handlelength=0.8, borderaxespad=0.0,
                       fontsize=5)  # under the cluster squares it explains
        rule = "k by silhouette" + (f", clusters of ≥ {clusters.attrs['min_cluster_size']} cells"
                                    if "min_cluster_size" in clusters.attrs else "")
        fig.suptitle(f"Cell × mode correlation, cells in {clusters.attrs['k']} clusters ({rule})", x=0.02, ha="left")
    else:
        fig.suptitle("Cell × mode correlation", x=0.02, ha="left")
    return fig


@journal
def plot_interventions(curves: dict[str, xr.Dataset]) -> Figure:
    """Ablation and preservation curves, target versus off-target frames, side by side.

    Parameters
    ----------
    curves : dict
        Name (e.g. "contribution mode") → result of
        :func:`retinacodec.codec.interventions.intervention_curves`.

    Returns
    -------
    matplotlib.figure.Figure
        One column per entry; rows: ablate (share of the response removed) and preserve
        (share kept), over the share of the mode's units, log-scaled; each panel's AUCs in its
        title, one legend under the panels.
    """
    kinds = ["ablate", "preserve"]
    fig, axes = plt.subplots(2, len(curves), figsize=(min(width_in(2), width_in(1) * len(curves)), 3.6),
                             squeeze=False, layout="constrained")
    styles = {"target": (OKABE_ITO[1], "target frames"), "off_target": (OKABE_ITO[0], "off-target frames")}
    for j, (name, ds) in enumerate(curves.items()):
        for i, kind in enumerate(kinds):
            ax = axes[i, j]
            if kind not in ds["kind"].values:
                ax.set_visible(False)
                continue
            for group, (color, label) in styles.items():
                removed = ds["removed"].sel(kind=kind, frames=group).values
                y = removed if kind == "ablate" else 1 - removed
                ax.plot(ds["percent"].values, y, "o-", color=color, ms=3, label=label)
            ax.set_xscale("log")
            ax.axhline(0, color="0.8", lw=0.5)
            sel = float(ds["selectivity"].sel(kind=kind))
            auc = [float(ds["auc"].sel(kind=kind, frames=g)) for g in styles]
            ax.set_title(f"{name}: {kind}\nselectivity {sel:.2f}; AUC target {auc[0]:.2f}, off-target {auc[1]:.2f}")
            ax.set_ylabel("response removed" if kind == "ablate" else "response kept")
            ax.set_xlabel("units of the mode (%)")
    handles = [plt.Line2D([], [], color=c, marker="o", ms=3, label=lab) for c, lab in styles.values()]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
    return fig
