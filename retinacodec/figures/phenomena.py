"""Figures of the in-silico retinal phenomena: the model's responses overlaid on the simulator's.

Each function takes one experiment's Dataset from :func:`retinacodec.phenomena.run_all`
(dimension ``source``: "model", "simulator") and returns a Figure; times are in ms.
"""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from retinacodec.figures.style import OKABE_ITO, journal, width_in

__all__ = [
    "PHENOMENON_PLOTS",
    "plot_contrast_adaptation",
    "plot_latency_coding",
    "plot_motion_anticipation",
    "plot_motion_reversal",
    "plot_osr",
    "plot_paired_flash",
    "plot_phenomenon",
    "plot_step",
]

#: Line style per source: the simulator (truth) solid black, the model vermillion dashed.
STYLE = {"simulator": {"color": OKABE_ITO[7], "ls": "-"}, "model": {"color": OKABE_ITO[1], "ls": "--"}}


def _sources(ds: xr.Dataset) -> list[str]:
    if "source" not in ds.dims:
        raise ValueError("expected a Dataset with a 'source' dimension (from retinacodec.phenomena.run_all).")
    return [str(s) for s in ds.source.values]


def _cell(ds: xr.Dataset, cell: int | None) -> int:
    """The cell to show: ``cell`` if given, else the first cell with an OSR in the simulator (OSR), the simulator's
    cell with the largest reversal response (motion reversal), else 0."""
    if cell is not None:
        return int(cell)
    if "reversal_response" in ds:
        extra = ds["reversal_response"].sel(source="simulator").values
        if np.isfinite(extra).any():
            return int(ds.cell.values[np.nanargmax(extra)])
    if "has_osr" in ds:
        has = np.asarray(ds["has_osr"].sel(source="simulator").values, float)
        if np.nansum(has) > 0:
            return int(ds.cell.values[np.nanargmax(has)])
    return int(ds.cell.values[0])


def _legend(ax: plt.Axes) -> None:
    ax.legend(frameon=False, loc="best")


def _legend_above(ax: plt.Axes, ncols: int) -> None:
    """A legend above the axes, off the data (the figure's title goes in a suptitle)."""
    ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=ncols, borderaxespad=0.2)


@journal
def plot_step(ds: xr.Dataset, cell: int | None = None) -> Figure:
    """Rate of one cell around a full-field step, model over simulator; the step's timing above."""
    c = _cell(ds, cell)
    fig, (top, ax) = plt.subplots(2, 1, figsize=(width_in(1), 2.4), height_ratios=(1, 4), sharex=True)
    t = ds.time.values
    duration = float(ds.attrs["duration"]) * 1e3 / float(ds.attrs["frame_rate_hz"])
    top.plot(t, np.where((t >= 0) & (t < duration), ds.attrs["intensity"], 0.0), color="0.4")
    top.set_ylabel("contrast")
    for s in _sources(ds):
        ax.plot(t, ds["rate"].sel(source=s, cell=c), label=s, **STYLE[s])
    ax.set_xlabel("time from step onset (ms)")
    ax.set_ylabel("rate (Hz)")
    ax.set_title(f"Step response, cell {c}")
    _legend(ax)
    fig.tight_layout()
    return fig


@journal
def plot_paired_flash(ds: xr.Dataset, cell: int | None = None) -> Figure:
    """Left: one cell's rate for three intervals; right: second/first response ratio vs interval (median over cells)."""
    c = _cell(ds, cell)
    fps = float(ds.attrs["frame_rate_hz"])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(width_in(2) * 0.7, 2.2))
    ints = ds.interval.values
    shown = ints[[0, len(ints) // 2, -1]]
    offset = float(np.nanmax(ds["rate"].sel(cell=c).values)) * 1.1
    for k, ifi in enumerate(shown):
        for s in _sources(ds):
            ax.plot(ds.time, ds["rate"].sel(source=s, cell=c, interval=ifi) + k * offset,
                    label=s if k == 0 else None, **STYLE[s])
        ax.text(ds.time.values[-1], k * offset, f"{ifi * 1e3 / fps:.0f} ms", ha="right", va="bottom", fontsize=6)
    ax.set_xlabel("time from first flash (ms)")
    ax.set_ylabel("rate (Hz, offset per interval)")
    ax.set_title(f"Paired flashes, cell {c}")
    _legend(ax)
    for s in _sources(ds):
        bx.plot(ints * 1e3 / fps, ds["ratio"].sel(source=s).median("cell"), marker="o", ms=2, label=s, **STYLE[s])
    bx.axhline(1.0, color="0.7", lw=0.6)
    bx.set_xlabel("interval between flashes (ms)")
    bx.set_ylabel("2nd / 1st response (median over cells)")
    fig.tight_layout()
    return fig


@journal
def plot_osr(ds: xr.Dataset, cell: int | None = None) -> Figure:
    """Left: one cell's rate per flash period, aligned on the omitted flash; right: latency vs period.

    The right panel draws the cells with an OSR (median) and two references through the
    simulator's first point: timed to the omitted flash (slope 0) and timed to the last flash
    (slope -1 frame per frame).
    """
    c = _cell(ds, cell)
    fps = float(ds.attrs["frame_rate_hz"])
    ms = 1e3 / fps
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(width_in(2) * 0.8, 2.6), width_ratios=(1.4, 1))
    ints = ds.interval.values
    offset = float(np.nanmax(ds["rate"].sel(cell=c).values)) * 1.05
    n, dur = int(ds.attrs["n_flashes"]), int(ds.attrs["duration"])
    t = ds.time.values
    left = -(n + 0.5) * max(ints) * ms
    for k, p in enumerate(ints):
        base = k * offset
        for i in range(1, n + 1):  # the flashes as bars under each trace
            ax.plot([-i * p * ms, (-i * p + dur) * ms], [base - 0.06 * offset] * 2, color=OKABE_ITO[0], lw=2,
                    solid_capstyle="butt")
        ax.plot([0, dur * ms], [base - 0.06 * offset] * 2, color=OKABE_ITO[0], lw=0.6, ls=":")
        for s in _sources(ds):
            ax.plot(t, ds["rate"].sel(source=s, cell=c, interval=p) + base, label=s if k == 0 else None,
                    **STYLE[s])
        ax.annotate(f"{p * ms:.0f} ms", (1.0, base), xycoords=("axes fraction", "data"), xytext=(2, 0),
                    textcoords="offset points", fontsize=6, va="bottom", ha="left")  # beside the trace, not on it
    ax.axvline(0, color=OKABE_ITO[0], lw=0.8)
    ax.set_xlim(left, t[-1])
    ax.set_xlabel("time from the omitted flash (ms)")
    ax.set_ylabel("rate (Hz, offset per period)")
    fig.suptitle(f"Omitted stimulus response, cell {c} (blue bars: flashes; dotted: omitted; right: period)")
    _legend_above(ax, ncols=2)
    x = ints * ms
    for s in _sources(ds):
        has = np.asarray(ds["has_osr"].sel(source=s).values, float) > 0
        if has.any():
            lat = ds["latency_ms"].sel(source=s).values[:, has]
            bx.plot(x, np.nanmedian(lat, axis=1), marker="o", ms=3,
                    label=f"{s} (slope {ds.attrs.get('slope_' + s, np.nan):.2f})" if f"slope_{s}" in ds.attrs
                    else s, **STYLE[s])
    sim = ds["latency_ms"].sel(source="simulator").median("cell").values
    bx.plot(x, np.full_like(x, sim[0]), color="0.6", lw=0.6, ls=":", label="timed to omitted flash")
    bx.plot(x, sim[0] - (x - x[0]), color="0.6", lw=0.6, ls="-.", label="timed to last flash")
    bx.set_xlabel("flash period (ms)")
    bx.set_ylabel("peak latency after omitted flash (ms)")
    _legend_above(bx, ncols=2)
    fig.tight_layout()
    return fig


@journal
def plot_latency_coding(ds: xr.Dataset, cell: int | None = None) -> Figure:
    """Peak latency vs flash intensity, each cell thin, the median thick, model over simulator."""
    fig, ax = plt.subplots(figsize=(width_in(1), 2.2))
    x = ds.intensity.values
    for s in _sources(ds):
        lat = ds["latency_ms"].sel(source=s)
        for cl in lat.cell.values:
            ax.plot(x, lat.sel(cell=cl), lw=0.4, alpha=0.5, color=STYLE[s]["color"], ls=STYLE[s]["ls"])
        ax.plot(x, lat.median("cell"), lw=1.5, label=f"{s} (median)", **STYLE[s])
    ax.set_xlabel("flash intensity (contrast)")
    ax.set_ylabel("peak latency after flash onset (ms)")
    ax.set_title("Latency coding")
    _legend(ax)
    fig.tight_layout()
    return fig


@journal
def plot_motion_anticipation(ds: xr.Dataset, cell: int | None = None) -> Figure:
    """One cell's rate against bar position: moving bar (solid) vs flashed bars (dotted), per source."""
    c = _cell(ds, cell)
    fig, axes = plt.subplots(1, 2, figsize=(width_in(2) * 0.7, 2.2), sharex=True)
    for ax, s in zip(axes, _sources(ds), strict=True):
        if "moving" not in ds or not np.isfinite(ds["moving"].sel(source=s, cell=c)).any():
            ax.text(0.5, 0.5, "no spatial extent", ha="center", transform=ax.transAxes)
            continue
        color = STYLE[s]["color"]
        ax.plot(ds.position, ds["moving"].sel(source=s, cell=c), color=color, label="moving bar")
        ax.plot(ds.position, ds["flashed"].sel(source=s, cell=c), color=color, ls=":", label="flashed bars")
        ax.set_title(f"{s}: anticipation {float(ds['anticipation_px'].sel(source=s, cell=c)):.2f} px")
        ax.set_xlabel("bar centre (px; motion →)")
        _legend(ax)
        ax.set_ylabel(f"rate of cell {c} (Hz)")
    fig.tight_layout()
    return fig


@journal
def plot_motion_reversal(ds: xr.Dataset, cell: int | None = None) -> Figure:
    """One cell's rate around a reversal (solid) and for a bar that continues (dotted), per source."""
    c = _cell(ds, cell)
    fig, ax = plt.subplots(figsize=(width_in(1), 2.2))
    for s in _sources(ds):
        ax.plot(ds.time, ds["rate"].sel(source=s, cell=c, motion="reversing"), label=f"{s}, reversing", **STYLE[s])
        ax.plot(ds.time, ds["rate"].sel(source=s, cell=c, motion="continuing"), color=STYLE[s]["color"], ls=":",
                lw=0.7, label=f"{s}, continuing")
    ax.axvline(0, color=OKABE_ITO[0], lw=0.6)
    ax.set_xlabel("time from reversal (ms)")
    ax.set_ylabel(f"rate of cell {c} (Hz)")
    extra = ", ".join(f"{src} {float(ds['reversal_response'].sel(source=src, cell=c)):.0f} Hz"
                      for src in _sources(ds))
    ax.set_title(f"Motion reversal, cell {c}: extra peak {extra}")
    _legend(ax)
    fig.tight_layout()
    return fig


@journal
def plot_contrast_adaptation(ds: xr.Dataset, cell: int | None = None) -> Figure:
    """One cell's LN model at low and high contrast: filters (left) and nonlinearities (right), per source."""
    c = _cell(ds, cell)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(width_in(2) * 0.7, 2.2))
    colors = (OKABE_ITO[0], OKABE_ITO[4])
    for s in _sources(ds):
        for k, contrast in enumerate(ds.contrast.values):
            style = {"color": colors[k], "ls": STYLE[s]["ls"]}
            ax.plot(ds.lag, ds["filter"].sel(source=s, cell=c).isel(contrast=k), label=f"{s}, contrast {contrast:g}",
                    **style)
            bx.plot(ds["bin_centre"].sel(source=s, cell=c), ds["nonlinearity"].sel(source=s, cell=c).isel(contrast=k),
                    marker="o", ms=2, label=f"{s}, gain {float(ds['gain'].sel(source=s, cell=c)[k]):.3g}", **style)
    ax.axhline(0, color="0.7", lw=0.5)
    ax.set_xlabel("lag (ms)")
    ax.set_ylabel("filter (unit norm)")
    ax.set_title(f"Contrast adaptation, cell {c}")
    bx.set_xlabel("filtered stimulus")
    bx.set_ylabel("rate (Hz)")
    _legend(ax)
    _legend(bx)
    fig.tight_layout()
    return fig


#: The figure function of each experiment of :data:`retinacodec.phenomena.EXPERIMENTS`.
PHENOMENON_PLOTS: dict[str, Callable[..., Figure]] = {
    "step": plot_step,
    "paired_flash": plot_paired_flash,
    "osr": plot_osr,
    "latency_coding": plot_latency_coding,
    "motion_anticipation": plot_motion_anticipation,
    "motion_reversal": plot_motion_reversal,
    "contrast_adaptation": plot_contrast_adaptation,
}


def plot_phenomenon(ds: xr.Dataset, cell: int | None = None) -> Figure:
    """The figure of one experiment's result (chosen by ``ds.attrs["experiment"]``)."""
    name = ds.attrs.get("experiment")
    if name not in PHENOMENON_PLOTS:
        raise ValueError(f"not a phenomena result (attrs['experiment'] = {name!r}); use retinacodec.phenomena.run_all.")
    return PHENOMENON_PLOTS[name](ds, cell)
