"""Figures of encoded absences: xarray in, matplotlib Figure out (no torch here).

* :func:`plot_omitted_flash` — an :func:`~retinacodec.absence.omitted_flash_attribution` result:
  the response with the flash omitted and present, and the attribution per frame from the
  flash-present reference and from the zero baseline;
* :func:`plot_extreme_windows` — an :func:`~retinacodec.absence.extreme_inputs` result on
  stimulus windows: the mean of each unit's highest- and lowest-activating windows;
* :func:`plot_absence_test` — an :func:`~retinacodec.absence.absence_test` result.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from retinacodec.figures.style import DIVERGING, OKABE_ITO, journal, symmetric_limit, width_in

__all__ = ["plot_absence_test", "plot_extreme_windows", "plot_omitted_flash"]


@journal
def plot_omitted_flash(ds: xr.Dataset) -> Figure:
    """Left: the target after the omitted flash, flash omitted vs present; right: attribution per frame.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`~retinacodec.absence.omitted_flash_attribution`.
    """
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(width_in(2) * 0.8, 2.8))
    delay = ds["delay"].values
    for cond, color, label in (("actual", OKABE_ITO[1], "flash omitted"), ("reference", OKABE_ITO[0],
                                                                             "flash present (reference)")):
        ax.plot(delay, ds["response"].sel(condition=cond), color=color, label=label)
    ax.axvline(ds.attrs["response_frame"], color="0.5", lw=0.6, ls=":")
    ax.set_xlabel("frames after the omitted flash")
    ax.set_ylabel(f"target ({ds.attrs['target']})")
    ax.set_title(f"period {ds.attrs['period']} frames; dotted: explained frame")
    ax.legend(frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.12), ncols=2)
    lag = ds["lag"].values
    omitted = lag[ds["omitted"].values]
    bx.axvspan(omitted.min() - 0.5, omitted.max() + 0.5, color="0.9", lw=0)
    for base, color, label in (("reference", OKABE_ITO[0], "from flash-present reference"),
                               ("zero", OKABE_ITO[2], "from zero baseline")):
        share = float(ds["mass_fraction"].sel(baseline=base))
        bx.plot(lag, ds["profile"].sel(baseline=base), color=color, marker="o", ms=2,
                label=f"{label} ({100 * share:.0f} % on the omitted flash)")
    bx.axhline(0, color="0.6", lw=0.5)
    bx.invert_xaxis()
    bx.set_xlabel("frames before the explained frame (grey: omitted flash)")
    bx.set_ylabel("attribution, summed over space")
    bx.set_title(f"{ds.attrs['method'].replace('_', ' ')}, {ds.attrs['steps']} steps")
    bx.legend(frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.12))
    fig.tight_layout()
    return fig


@journal
def plot_extreme_windows(ds: xr.Dataset) -> Figure:
    """For each unit, the mean of its highest- and of its lowest-activating windows.

    Each unit gets a row: the spatial map of the mean window at the lag where it varies most,
    for the highest and the lowest windows, and the time course of those means at the window's
    centre pixel (the receptive-field centre of a unit read at the map's centre ``position``).

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`~retinacodec.absence.extreme_inputs` on stimulus windows (``lag`` dim).
    """
    if "lag" not in ds["input"].dims:
        raise ValueError("plot_extreme_windows needs stimulus windows (an input with a 'lag' dim).")
    units = ds["unit"].values
    mean = ds["input"].mean("rank")
    lim = symmetric_limit(mean.values)
    fig, axes = plt.subplots(len(units), 3, figsize=(width_in(1), 1.1 * len(units) + 0.3), squeeze=False,
                             width_ratios=(1, 1, 1.6))
    lag = ds["lag"].values
    for row, u in zip(axes, units, strict=True):
        m = mean.sel(unit=u)
        peak = int((m.sel(end="highest") - m.sel(end="lowest")).var(("y", "x")).argmax("lag"))
        for ax, end in zip(row[:2], ("highest", "lowest"), strict=True):
            ax.imshow(m.sel(end=end).isel(lag=peak), cmap=DIVERGING, vmin=-lim, vmax=lim)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"unit {u}, {end}\nlag {lag[peak]}", fontsize=6)
        cy, cx = m.sizes["y"] // 2, m.sizes["x"] // 2
        for end, color in (("highest", OKABE_ITO[1]), ("lowest", OKABE_ITO[0])):
            row[2].plot(lag, m.sel(end=end).isel(y=cy, x=cx), color=color, label=end)
        row[2].axhline(0, color="0.6", lw=0.5)
        row[2].invert_xaxis()
        row[2].set_ylabel("contrast (z)")
    axes[0, 2].legend(frameon=False, ncols=2, loc="lower left", bbox_to_anchor=(0, 1.0))
    axes[-1, 2].set_xlabel("frames before the response")
    fig.suptitle(f"{ds.attrs['layer']}: mean of the {ds.attrs['k']} highest / lowest windows "
                 f"(pre-nonlinearity, {ds.attrs['position']})")
    fig.tight_layout()
    return fig


@journal
def plot_absence_test(res: xr.Dataset) -> Figure:
    """Each unit's activation on its top inputs with its lowest, random and highest patches pasted.

    Bars: mean ± standard deviation; a star marks a significant drop (p ≤ alpha, uncorrected),
    two stars one that survives Benjamini–Hochberg.

    Parameters
    ----------
    res : xarray.Dataset
        From :func:`~retinacodec.absence.absence_test`.
    """
    units = res["unit"].values
    fig, ax = plt.subplots(figsize=(width_in(1), 2.0))
    colors = {"lowest": OKABE_ITO[0], "random": "0.6", "highest": OKABE_ITO[1]}
    x = np.arange(units.size)
    for i, cond in enumerate(("lowest", "random", "highest")):
        ax.errorbar(x + (i - 1) * 0.22, res["activation_mean"].sel(condition=cond),
                    res["activation_std"].sel(condition=cond), fmt="o", ms=2.5, lw=0.6, color=colors[cond],
                    label=f"{cond} patches")
    top = res["activation_mean"] + res["activation_std"]
    for j, u in enumerate(units):
        mark = "**" if bool(res["drop_bh"].sel(unit=u)) else "*" if bool(res["drop"].sel(unit=u)) else ""
        ax.text(j, float(top.sel(unit=u).max()), mark, ha="center", va="bottom")
    ax.set_xticks(x, [str(u) for u in units])
    ax.set_xlabel(f"{res.attrs['layer']} unit")
    ax.set_ylabel("activation, top inputs")
    ax.set_title(f"significant drop: {100 * res.attrs['share_drop']:.0f} % of units; after BH "
                 f"{100 * res.attrs['share_drop_bh']:.0f} %", pad=16)
    ax.legend(frameon=False, ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout()
    return fig
