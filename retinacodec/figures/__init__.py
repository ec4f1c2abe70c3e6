"""Figures: xarray in, matplotlib Figure out. Nothing here needs torch or a model."""

from retinacodec.figures.codec import (
    plot_cell_mode_correlation,
    plot_interventions,
    plot_loadings,
    plot_mode_atoms,
    plot_mode_vs_drive,
)
from retinacodec.figures.fit import plot_prediction
from retinacodec.figures.recording import plot_recording
from retinacodec.figures.retina import plot_contribution_panel, plot_retina_figure
from retinacodec.figures.rf import plot_mode_irf_grid, plot_rf_mosaic, plot_rf_pairs
from retinacodec.figures.stability import plot_mode_stability
from retinacodec.figures.style import save_figure

__all__ = [
    "plot_cell_mode_correlation",
    "plot_contribution_panel",
    "plot_interventions",
    "plot_loadings",
    "plot_mode_atoms",
    "plot_mode_irf_grid",
    "plot_mode_stability",
    "plot_mode_vs_drive",
    "plot_prediction",
    "plot_recording",
    "plot_retina_figure",
    "plot_rf_mosaic",
    "plot_rf_pairs",
    "save_figure",
]
