"""Mode stability across SAE seeds: how well each run reproduces a reference run's modes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from retinacodec.figures.style import OKABE_ITO, journal, width_in

__all__ = ["plot_mode_stability"]


@journal
def plot_mode_stability(stability: xr.Dataset) -> Figure:
    """The matched cosine similarity of every reference mode in every run, per SAE.

    Parameters
    ----------
    stability : xarray.Dataset
        A :func:`~retinacodec.codec.stability.mode_stability` result: ``cosine (run, mode)``,
        ``reproduced (run, sae)``, coords ``mode_layer``, ``seed``; attrs ``threshold``,
        ``reference``.

    Returns
    -------
    matplotlib.figure.Figure
        180 mm wide, one row per SAE (layer): left, a heat map of the cosine similarity
        (0 to 1) of each of the reference run's modes (columns, sorted from the most to the
        least reproduced) with its one-to-one partner in each run (rows, labelled by seed);
        right, the share of the reference's modes each run reproduces at the threshold.
    """
    saes = [str(s) for s in stability["sae"].values]
    if not saes:
        raise ValueError("the stability result has no SAE to draw.")
    threshold, reference = float(stability.attrs["threshold"]), int(stability.attrs["reference"])
    seeds = [int(s) for s in stability["seed"].values]
    runs = [f"seed {s}" + (" (ref.)" if r == reference else "") for r, s in enumerate(seeds)]
    fig, axes = plt.subplots(len(saes), 2, figsize=(width_in(2), 0.8 + (0.25 * len(runs) + 0.6) * len(saes)),
                             gridspec_kw={"width_ratios": [4, 1]}, squeeze=False, layout="constrained")
    image = None
    for row, sae in enumerate(saes):
        mine = stability["mode_layer"].values == sae
        cos = stability["cosine"].values[:, mine]
        order = np.argsort(-cos.mean(0), kind="stable")
        ax = axes[row, 0]
        image = ax.imshow(cos[:, order], vmin=0, vmax=1, cmap="viridis", aspect="auto", interpolation="nearest")
        ax.set_yticks(range(len(runs)), runs)
        ax.set_xlabel(f"{sae}: reference mode (sorted)" if mine.any() else f"{sae}: no mode kept")
        ax.set_xticks(range(int(mine.sum())), stability["mode"].values[mine][order], fontsize=4, rotation=90)
        share = stability["reproduced"].sel(sae=sae).values
        bar = axes[row, 1]
        colours = ["0.7" if r == reference else OKABE_ITO[0] for r in range(len(runs))]
        bar.barh(np.arange(len(runs)), share, color=colours, height=0.7)
        bar.set_ylim(len(runs) - 0.5, -0.5)  # rows aligned with the heat map's
        bar.set_xlim(0, 1)
        bar.set_yticks([])
        bar.set_xlabel(f"share reproduced\n(cosine ≥ {threshold:g})")
    fig.colorbar(image, ax=axes.ravel().tolist(), label="cosine similarity", shrink=0.9)
    fig.suptitle("Modes across SAE seeds: each reference atom paired one to one with an atom of each run")
    return fig
