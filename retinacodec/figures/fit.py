"""Predicted versus recorded responses of a fitted model."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from retinacodec.figures.style import OKABE_ITO, journal, round_length, scale_bar, width_in

__all__ = ["plot_prediction"]

_MODEL, _TRUTH, _RECORDED = OKABE_ITO[1], OKABE_ITO[0], "#bbbbbb"  # vermillion, blue, grey: colour-blind safe


def _panel_label(cid: object, cell_types: dict | None, scores: xr.Dataset | None) -> str:
    """``cell 3 (ON)`` and, with scores, its r, FEVE and r with the true rate, one per line."""
    label = f"cell {cid}" + (f" ({cell_types[cid]})" if cell_types is not None and cid in cell_types else "")
    if scores is not None:
        label += f"\nr = {float(scores['r'].sel(cell=cid)):.2f}"
        if "feve" in scores and np.isfinite(float(scores["feve"].sel(cell=cid))):
            label += f"\nFEVE = {float(scores['feve'].sel(cell=cid)):.2f}"
        if "r_truth" in scores:
            label += f"\nr(true) = {float(scores['r_truth'].sel(cell=cid)):.2f}"
    return label


@journal
def plot_prediction(
    predicted: xr.DataArray,
    recorded: xr.DataArray,
    scores: xr.Dataset | None = None,
    truth: xr.DataArray | None = None,
    cells: Sequence[int] | None = None,
    seconds: float | None = None,
    recorded_label: str = "recorded (trial mean)",
    cell_types: Sequence[str] | xr.DataArray | None = None,
    start: float = 0.0,
) -> Figure:
    """Traces of predicted and recorded rates, one row per cell; the title says what is shown.

    Parameters
    ----------
    predicted : xarray.DataArray, shape (frame, cell)
        Predicted rate in Hz, with a ``time`` coordinate (s).
    recorded : xarray.DataArray, shape (frame, cell)
        The trial-averaged recorded rate in Hz on the same frames.
    scores : xarray.Dataset, optional
        From :func:`retinacodec.evaluate`; ``r``, ``feve`` (and ``r_truth``) per cell go in
        the row labels, their medians over the shown cells in the title.
    truth : xarray.DataArray, shape (frame, cell), optional
        The simulator's noise-free rate in Hz on the same frames.
    cells : sequence of int, optional
        Cell ids to show (default: every cell).
    seconds : float, optional
        Length of the excerpt shown, s (default: the whole clip). Frames that fall into
        separate chunks of time (gaps in ``frame``, e.g. held-out chunks of a recording
        without repeats) are drawn as separate columns, the first ``seconds`` (default: up
        to 10 s) of each of the first three chunks, never joined across a gap.
    recorded_label : str
        Legend entry of ``recorded`` (e.g. ``"recorded (single trial)"`` without repeats).
    cell_types : sequence of str or xarray.DataArray (cell), optional
        A type per cell of ``predicted`` (e.g. the simulator truth's ``cell_type``).
    start : float
        Start of the excerpt, s from the first frame.

    Returns
    -------
    matplotlib.figure.Figure
        Two-column width (180 mm); legend above the traces, an ms scale bar under the last row.
    """
    all_ids = list(predicted["cell"].values)
    ids = all_ids if cells is None else list(cells)
    missing = [c for c in ids if c not in all_ids]
    if missing or not ids:
        raise ValueError(f"cells {missing or ids} are not cell ids of the prediction; choose from {all_ids}.")
    types = None
    if cell_types is not None:
        values = cell_types.sel(cell=all_ids).values if isinstance(cell_types, xr.DataArray) else list(cell_types)
        if len(values) != len(all_ids):
            raise ValueError(f"cell_types has {len(values)} entries for {len(all_ids)} cells; give one per cell.")
        types = dict(zip(all_ids, (str(v) for v in values), strict=True))
    frame, time = predicted["frame"].values, predicted["time"].values
    jump = (np.diff(frame) > 1) & (np.diff(time) > 1.0)  # a pause of over 1 s: another chunk of the recording
    chunks = np.split(np.arange(frame.size), np.flatnonzero(jump) + 1)
    if len(chunks) > 1:
        return _plot_chunks(predicted, recorded, scores, truth, ids, all_ids, types, chunks, seconds,
                            recorded_label)
    t = predicted["time"].values - predicted["time"].values[0]
    clip = float(t[-1] + np.median(np.diff(t))) if t.size > 1 else 0.0
    stop = clip if seconds is None else min(clip, start + seconds)
    shown = (t >= start) & (t < stop)
    if not shown.any():
        raise ValueError(f"the excerpt {start:g}–{stop:g} s holds no frame of the {clip:.2f}-s clip; "
                         "lower start= or raise seconds=.")
    ts = t[shown]
    fig, axes = plt.subplots(len(ids), 1, figsize=(width_in(2), 0.55 * len(ids) + 0.8), sharex=True,
                             squeeze=False, layout="constrained")
    _draw_rows(axes[:, 0], ts, shown, predicted, recorded, truth, ids, types, scores, recorded_label)
    bar = round_length((ts[-1] - ts[0]) * 1000, 0.2)
    scale_bar(axes[-1, 0], bar / 1000, f"{bar:g} ms", y=-0.12)
    what = (f"{len(ids)} of {len(all_ids)} cells" if len(ids) < len(all_ids) else f"all {len(ids)} cells")
    window = (f"{ts[0]:.1f}–{ts[-1] + (ts[1] - ts[0] if ts.size > 1 else 0):.1f} s of the {clip:.1f}-s clip"
              if ts[0] > 0 or stop < clip else f"the whole {clip:.1f}-s clip")
    _finish(fig, axes, f"Predicted vs recorded rate: {what}, {window}", scores)
    return fig


def _draw_rows(axes: np.ndarray, ts: np.ndarray, shown: np.ndarray, predicted: xr.DataArray, recorded: xr.DataArray,
               truth: xr.DataArray | None, ids: list, types: dict | None, scores: xr.Dataset | None,
               recorded_label: str, label: bool = True) -> None:
    """One column of traces: a row per cell over the frames ``shown`` (times ``ts``, s); lines break at gaps."""
    dt = np.diff(ts)
    gaps = np.flatnonzero(dt > 1.5 * np.median(dt)) + 1 if ts.size > 2 else np.array([], dtype=int)

    def broken(values: np.ndarray) -> np.ndarray:  # NaN at each gap in time, so no line joins across it
        return np.insert(values.astype(float), gaps, np.nan)

    tb = np.insert(ts, gaps, ts[gaps - 1] + np.median(dt) / 2) if gaps.size else ts
    for ax, cid in zip(axes, ids, strict=True):
        ax.fill_between(tb, broken(recorded.sel(cell=cid).values[shown]), color=_RECORDED, lw=0,
                        label=recorded_label)
        ax.plot(tb, broken(predicted.sel(cell=cid).values[shown]), color=_MODEL, lw=1.1, label="model", zorder=2)
        if truth is not None:  # drawn last, thin and dashed: visible where it runs under the model's trace
            ax.plot(tb, broken(truth.sel(cell=cid).values[shown]), color=_TRUTH, lw=0.6, ls=(0, (3, 1.5)),
                    label="true rate", zorder=3)
        if label:
            ax.set_ylabel(_panel_label(cid, types, scores), rotation=0, ha="right", va="center")
        ax.set_xlim(ts[0], ts[-1] if ts.size > 1 else ts[0] + 1)
        ax.spines["bottom"].set_visible(False)
        ax.tick_params(axis="x", bottom=False, labelbottom=False)
        ax.locator_params(axis="y", nbins=2)


def _finish(fig: Figure, axes: np.ndarray, title: str, scores: xr.Dataset | None) -> None:
    """Legend under the traces, the title with the medians over every scored cell, the y label."""
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=3, frameon=False)
    if scores is not None:  # over every scored cell, as evaluate reports them, not only the cells shown
        title += f"; median over the {scores.sizes['cell']} cells: r = {float(scores['r'].median()):.2f}"
        if "feve" in scores and np.isfinite(scores["feve"].values).any():
            title += f", FEVE = {float(scores['feve'].median(skipna=True)):.2f}"
    fig.suptitle(title, x=0.02, ha="left")
    fig.supylabel("rate (Hz)")


def _plot_chunks(predicted: xr.DataArray, recorded: xr.DataArray, scores: xr.Dataset | None,
                 truth: xr.DataArray | None, ids: list, all_ids: list, types: dict | None, chunks: list[np.ndarray],
                 seconds: float | None, recorded_label: str, max_chunks: int = 3) -> Figure:
    """Frames in separate chunks of time (held-out chunks): one column per chunk, never joined across a gap."""
    shown_chunks = chunks[:max_chunks]
    t_all = predicted["time"].values
    fps = 1.0 / float(np.median(np.diff(t_all[chunks[0]]))) if chunks[0].size > 1 else 1.0
    length = min(10.0 if seconds is None else float(seconds), max(c.size for c in shown_chunks) / fps)
    fig, axes = plt.subplots(len(ids), len(shown_chunks), figsize=(width_in(2), 0.55 * len(ids) + 1.0),
                             sharey="row", squeeze=False, layout="constrained")
    frame = predicted["frame"].values
    spans = []
    for j, idx in enumerate(shown_chunks):
        t = t_all[idx] - t_all[idx[0]]
        keep = idx[t < length]
        shown = np.zeros(frame.size, dtype=bool)
        shown[keep] = True
        ts = t_all[keep] - t_all[idx[0]]
        _draw_rows(axes[:, j], ts, shown, predicted, recorded, truth, ids, types, scores, recorded_label,
                   label=j == 0)
        axes[0, j].set_title(f"frames {frame[idx[0]]}–{frame[idx[-1]]}", fontsize=6)
        spans.append(f"{frame[idx[0]]}–{frame[idx[-1]]}")
    bar = round_length(max(float(ts[-1] - ts[0]), 1e-3) * 1000, 0.2)  # of the last column's shown span
    scale_bar(axes[-1, -1], bar / 1000, f"{bar:g} ms", y=-0.12)
    what = f"{len(ids)} of {len(all_ids)} cells" if len(ids) < len(all_ids) else f"all {len(ids)} cells"
    more = f" (the first {len(shown_chunks)} shown)" if len(chunks) > len(shown_chunks) else ""
    title = (f"Predicted vs recorded rate: {what}; {len(chunks)} separate held-out chunks{more},\n"
             f"at most the first {length:.1f} s of each in its own panel")
    _finish(fig, axes, title, scores)
    return fig
