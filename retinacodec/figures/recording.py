"""A one-page summary of a Recording: stimulus frames, responses, rates and blocks."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from retinacodec.figures.style import OKABE_ITO, journal, round_length, scale_bar, width_in

__all__ = ["plot_recording"]

_BLOCK_COLORS = {"train": OKABE_ITO[0], "test": OKABE_ITO[4], "other": "#bbbbbb"}


def _time_axis(ax: plt.Axes, t_ms: np.ndarray, title: str) -> None:
    """An excerpt's time axis: no ticks or bottom spine, an ms scale bar instead, and a title."""
    ax.set_xlim(0, max(t_ms[-1], 1.0))
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    bar_ms = round_length(max(t_ms[-1], 1.0), 0.2)
    scale_bar(ax, bar_ms, f"{bar_ms:g} ms")
    ax.set_title(title)


@journal
def plot_recording(rec: xr.Dataset, seconds: float = 2.0, n_frames_shown: int = 4) -> Figure:
    """Summarise a Recording on one figure.

    Parameters
    ----------
    rec : xarray.Dataset
        A Recording.
    seconds : float
        Length of the excerpt of responses shown, from the start of the recording.
    n_frames_shown : int
        Stimulus frames shown (evenly spaced through the excerpt).

    Returns
    -------
    matplotlib.figure.Figure
        Top: stimulus frames with a µm scale bar (a full-field stimulus: its trace over the
        excerpt, with an ms scale bar). Middle: spike raster of every cell over
        the excerpt with an ms scale bar. Bottom: block timeline and mean rate per cell.
    """
    fps = float(rec.attrs["frame_rate_hz"])
    px_um = float(rec.attrs["pixel_size_um"])
    n_ex = int(min(rec.sizes["frame"], max(1, round(seconds * fps))))
    fig = plt.figure(figsize=(width_in(2), 5.6), layout="constrained")
    grid = fig.add_gridspec(3, max(n_frames_shown, 2), height_ratios=[1.1, 1.4, 1.0])
    stim = rec["stimulus"].values
    lim = float(np.abs(stim[:n_ex]).max()) or 1.0
    shown = np.linspace(0, n_ex - 1, n_frames_shown).astype(int)
    flat = rec.sizes["y"] == 1 and rec.sizes["x"] == 1
    if flat:  # full field: the stimulus is one luminance per frame, a trace, not a movie of 1-pixel frames
        ax = fig.add_subplot(grid[0, :])
        t_ms = (rec["time"].values[:n_ex] - rec["time"].values[0]) * 1000
        ax.step(t_ms, stim[:n_ex, 0, 0], where="post", color="black", lw=0.6)
        ax.set_ylabel(rec["stimulus"].attrs.get("units", "stimulus"))
        _time_axis(ax, t_ms, f"full-field stimulus, first {n_ex / fps:.1f} s")
        shown = []
    for i, f in enumerate(shown):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(stim[f], cmap="gray", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_title(f"t = {rec['time'].values[f] * 1000:.0f} ms")
        ax.set_xticks([])
        ax.set_yticks([])
        if i == len(shown) - 1:
            bar_um = round_length(rec.sizes["x"] * px_um)
            scale_bar(ax, bar_um / px_um, f"{bar_um:g} µm")

    ax = fig.add_subplot(grid[1, :])
    spikes = rec["spikes"].values[:n_ex]
    t_ms = (rec["time"].values[:n_ex] - rec["time"].values[0]) * 1000
    for c in range(spikes.shape[1]):
        frames = np.flatnonzero(spikes[:, c])
        ax.vlines(t_ms[frames], c + 0.6, c + 1.4, color="black", lw=0.6)
    ax.set_ylim(0.3, spikes.shape[1] + 0.7)
    ax.set_yticks(np.arange(1, spikes.shape[1] + 1))
    ax.set_yticklabels([str(c) for c in rec["cell"].values], fontsize=5 if spikes.shape[1] > 20 else 6)
    ax.set_ylabel("cell id")
    _time_axis(ax, t_ms, f"spikes, first {n_ex / fps:.1f} s")

    half = max(1, max(n_frames_shown, 2) // 2)
    ax = fig.add_subplot(grid[2, :half])
    t = rec["time"].values
    blocks = rec["block"].values
    for label, color in _BLOCK_COLORS.items():
        sel = blocks == label
        if sel.any():
            ax.fill_between(t, 0, 1, where=sel, color=color, step="mid", label=label, linewidth=0)
    rep = rec["repeat"].values
    starts = np.flatnonzero((rep >= 0) & (np.concatenate([[-1], rep[:-1]]) != rep))
    ax.vlines(t[starts], 0, 1, color="white", lw=0.8)
    ax.set_yticks([])
    ax.set_xlabel("time (s)")
    ax.set_title(f"blocks ({int(len(np.unique(rep[rep >= 0])))} test repeats)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), frameon=False, ncol=3)
    ax.set_xlim(t[0], t[-1])

    ax = fig.add_subplot(grid[2, half:])
    rates = rec["spikes"].values.mean(0) * fps
    ax.bar(np.arange(rates.size), rates, color="#555555")
    ax.set_xticks(np.arange(rates.size))
    ax.set_xticklabels([str(c) for c in rec["cell"].values], fontsize=5 if rates.size > 20 else 6)
    ax.set_xlabel("cell id")
    ax.set_ylabel("mean rate (Hz)")
    ax.set_title("mean firing rate")
    fig.suptitle(
        f"{rec.attrs.get('session_id') or 'recording'} — {rec.sizes['cell']} cells, "
        f"{rec.sizes['frame']} frames at {fps:g} Hz, "
        + ("full-field stimulus" if flat else f"{rec.sizes['y']}×{rec.sizes['x']} px of {px_um:g} µm"),
    )
    return fig
