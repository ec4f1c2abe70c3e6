"""Figures of classifier CODEC results: xarray in, matplotlib Figure out (no torch)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from retinacodec.figures.style import DIVERGING, OKABE_ITO, journal, symmetric_limit, width_in

__all__ = ["plot_ablation_curves", "plot_class_correlation", "plot_components", "plot_layer_statistics"]

_SOURCE_COLOURS = {"contributions": OKABE_ITO[7], "activations": OKABE_ITO[0]}


@journal
def plot_layer_statistics(stats: xr.Dataset) -> Figure:
    """Hoyer sparsity, positive/negative correlation and dimensionality per layer, one line per source.

    Parameters
    ----------
    stats : xarray.Dataset
        From :func:`~retinacodec.classifiers.analyses.layer_statistics`.
    """
    panels = [("hoyer", "Hoyer sparsity"), ("sign_correlation", "r(positive, |negative|)"),
              ("participation_ratio", "participation ratio")]
    fig, axes = plt.subplots(1, 3, figsize=(width_in(2), 1.9), layout="constrained")
    x = np.arange(stats.sizes["layer"])
    for ax, (var, label) in zip(axes, panels, strict=True):
        for source in stats["source"].values:
            ax.plot(x, stats[var].sel(source=source).values, "o-", ms=3, color=_SOURCE_COLOURS.get(str(source)),
                    label=str(source))
        ax.set_xticks(x, stats["layer"].values, rotation=30)
        ax.set_ylabel(label)
    axes[1].axhline(0, color="0.6", lw=0.5)
    axes[0].legend(frameon=False)
    return fig


@journal
def plot_class_correlation(corr: xr.DataArray, top: int = 30) -> Figure:
    """Mode × class correlation, the ``top`` modes with the largest |r| ordered by their best class.

    Parameters
    ----------
    corr : xarray.DataArray, dims (mode, class)
        From :func:`~retinacodec.classifiers.analyses.class_correlation`.
    top : int
        Modes shown.
    """
    best = np.abs(corr).max("class").values
    keep = np.argsort(-best)[:top]
    sub = corr.isel(mode=keep)
    sub = sub.isel(mode=np.argsort(sub.values.argmax(1), kind="stable"))
    fig, ax = plt.subplots(figsize=(width_in(1), 2.4), layout="constrained")
    lim = symmetric_limit(sub.values)
    im = ax.imshow(sub.values.T, cmap=DIVERGING, vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
    ax.set_yticks(np.arange(sub.sizes["class"]), sub["class"].values)
    ax.set_xticks(np.arange(sub.sizes["mode"]), sub["mode"].values, rotation=90, fontsize=4)
    ax.set_xlabel("mode")
    ax.set_ylabel("class")
    fig.colorbar(im, ax=ax, label="r", shrink=0.8)
    return fig


@journal
def plot_ablation_curves(results: dict[str, xr.Dataset]) -> Figure:
    """Official ablation / preservation curves: accuracy ratio of target and off-target classes vs share zeroed.

    Parameters
    ----------
    results : dict
        Source name → :func:`~retinacodec.classifiers.interventions.class_ablation` result.
    """
    kinds = list(next(iter(results.values()))["kind"].values)
    fig, axes = plt.subplots(1, len(kinds), figsize=(width_in(1), 2.3), layout="constrained", squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=True):
        for source, res in results.items():
            curve = res["curve"].sel(kind=kind)
            colour = _SOURCE_COLOURS.get(source, OKABE_ITO[2])
            ax.plot(res["percent"], curve.sel(frames="target"), "-", color=colour, label=f"{source}: target")
            ax.plot(res["percent"], curve.sel(frames="off_target"), "--", color=colour, label=f"{source}: off-target")
        ax.set_xscale("log")
        ax.set_xlabel(f"channels {'ablated' if kind == 'ablate' else 'kept'} (%)")
        ax.set_ylabel("accuracy / unperturbed")
        ax.set_ylim(-0.05, 1.1)
        ax.set_title(kind)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False, fontsize=5)
    return fig


@journal
def plot_components(components: xr.Dataset, n: int = 6) -> Figure:
    """Images, masks and masked images of :func:`~retinacodec.classifiers.components.mode_components`."""
    n = min(n, components.sizes["image"])
    fig, axes = plt.subplots(3, n, figsize=(width_in(1), 2.2), layout="constrained", squeeze=False)
    for i in range(n):
        shown = [components[name].isel(image=i) for name in ("image_scaled", "mask", "masked_image")]
        shown = [v.mean("colour") if "colour" in v.dims else v for v in shown]
        for row, (ax, values) in enumerate(zip(axes[:, i], shown, strict=True)):
            ax.imshow(values.values, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(("image", "mask", "image x mask")[row])
    return fig
