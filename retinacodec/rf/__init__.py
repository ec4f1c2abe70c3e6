"""Receptive fields (METHODS.md §4): STAs, LN models, instantaneous RFs, rank-1 parts, ellipses, RFs per mode."""

from retinacodec.rf.compare import map_correlation, sta_reliability
from retinacodec.rf.ellipse import centre_polarity, fit_ellipse, polarity_and_latency
from retinacodec.rf.irf import instantaneous_rf
from retinacodec.rf.ln import LNModel, fit_ln
from retinacodec.rf.lowrank import mean_irf, rank1
from retinacodec.rf.modes import active_combinations, mode_combination_irfs, mode_map, select_spaced
from retinacodec.rf.sta import rf_centres, sta, sta_centres

__all__ = [
    "LNModel",
    "active_combinations",
    "centre_polarity",
    "fit_ellipse",
    "fit_ln",
    "instantaneous_rf",
    "map_correlation",
    "mean_irf",
    "mode_combination_irfs",
    "mode_map",
    "polarity_and_latency",
    "rank1",
    "rf_centres",
    "select_spaced",
    "sta",
    "sta_centres",
    "sta_reliability",
]
