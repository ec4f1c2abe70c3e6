"""Shared figure conventions: journal widths and fonts, colour-blind-safe colours, scale bars, atomic saving."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

from retinacodec.atomic import atomic_path

__all__ = [
    "DIVERGING",
    "OKABE_ITO",
    "ONE_COLUMN_MM",
    "TWO_COLUMN_MM",
    "journal",
    "round_length",
    "save_figure",
    "scale_bar",
    "symmetric_limit",
    "width_in",
]

ONE_COLUMN_MM = 85.0
"""Width of a one-column journal figure, mm."""
TWO_COLUMN_MM = 180.0
"""Width of a two-column (full page) journal figure, mm."""

OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
"""Okabe & Ito's colour-blind-safe palette (blue, vermillion, green, purple, orange, sky, yellow, black)."""

DIVERGING = "RdBu_r"
"""Diverging map for signed values (ColorBrewer RdBu, colour-blind safe); always used with symmetric limits."""

_RC = {"font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "xtick.labelsize": 6, "ytick.labelsize": 6,
       "legend.fontsize": 6, "figure.titlesize": 8, "axes.linewidth": 0.6, "lines.linewidth": 0.9,
       "axes.spines.top": False, "axes.spines.right": False,
       "figure.dpi": 200}  # 85 mm ≈ 670 px inline in a notebook or the docs, readable; files keep save_figure's dpi
_EDITABLE_TEXT = {"svg.fonttype": "none", "pdf.fonttype": 42}  # text stays text in SVG and PDF (read at save time)

P = ParamSpec("P")
R = TypeVar("R")


def journal(func: Callable[P, R]) -> Callable[P, R]:
    """Draw a figure function's artists with journal fonts (7 pt text, 6 pt ticks), no top or right spines."""

    @functools.wraps(func)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        # only our keys are set and restored: plt.rc_context would also restore 'interactive', which pyplot turns
        # on when a notebook's inline backend loads with the first figure, and then no later figure would display
        saved = {key: mpl.rcParams[key] for key in _RC}
        mpl.rcParams.update(_RC)
        try:
            return func(*args, **kwargs)
        finally:
            mpl.rcParams.update(saved)

    return wrapped


def width_in(columns: int = 2) -> float:
    """Figure width in inches for a one- (85 mm) or two-column (180 mm) journal figure."""
    if columns not in (1, 2):
        raise ValueError(f"columns must be 1 (85 mm) or 2 (180 mm); got {columns}.")
    return (ONE_COLUMN_MM if columns == 1 else TWO_COLUMN_MM) / 25.4


def round_length(span: float, fraction: float = 0.25) -> float:
    """A round scale-bar length (1, 2 or 5 × 10^k) at most ``fraction`` of ``span`` (any unit: µm, ms ...)."""
    target = max(span * fraction, 1e-12)
    k = 10 ** np.floor(np.log10(target))
    return float(max(m * k for m in (1, 2, 5) if m * k <= target))


def symmetric_limit(values: np.ndarray, percentile: float = 100.0) -> float:
    """The limit ``v`` of a zero-centred colour scale ``[-v, v]``: a percentile of ``|values|`` (1 when all 0 or NaN).

    Parameters
    ----------
    values : ndarray
        Any shape; NaNs are ignored.
    percentile : float
        100 takes the largest magnitude; lower values saturate outliers.
    """
    finite = np.abs(np.asarray(values, dtype=float))
    finite = finite[np.isfinite(finite)]
    lim = float(np.percentile(finite, percentile)) if finite.size else 0.0
    return lim if lim > 0 else 1.0


def scale_bar(ax: Axes, length: float, label: str, *, color: str = "black", y: float = -0.04) -> AnchoredSizeBar:
    """Draw a horizontal scale bar of ``length`` x-data units just below the axes, right-aligned.

    The bar is matplotlib's :class:`~mpl_toolkits.axes_grid1.anchored_artists.AnchoredSizeBar`,
    anchored outside the plotting area: it never hides data and never changes the axes' data
    limits.

    Parameters
    ----------
    ax : matplotlib Axes
        Where to draw (the bar's length is in x data units: pixels, ms ...).
    length : float
        Bar length in x data units.
    label : str
        Text under the bar, e.g. ``"200 µm"``.
    color : str
        Bar and text colour.
    y : float
        Height of the bar's top in axes fractions (negative: below the axes).

    Returns
    -------
    AnchoredSizeBar
        The artist, added to ``ax``.
    """
    bar = AnchoredSizeBar(ax.transData, length, label, loc="upper right", bbox_to_anchor=(1.0, y),
                          bbox_transform=ax.transAxes, pad=0.0, borderpad=0.0, sep=1.5, frameon=False,
                          color=color, size_vertical=0, fontproperties=FontProperties(size=6))
    for patch in bar.size_bar.get_children():
        patch.set_linewidth(1.5)
        patch.set_capstyle("butt")
    bar.set_clip_on(False)
    ax.add_artist(bar)
    return bar


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 300) -> Path:
    """Save a figure atomically (temporary file, then rename); format from the suffix; text editable in SVG/PDF.

    Parameters
    ----------
    fig : Figure
        The figure.
    path : path-like
        ``.png``, ``.svg`` or ``.pdf``.
    dpi : int
        Resolution of raster formats (journals ask for ≥ 300).

    Returns
    -------
    pathlib.Path
    """
    with atomic_path(path) as tmp, plt.rc_context(_EDITABLE_TEXT):
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or None)
    return Path(path)
