"""Encoded absences: units that respond when a concept is missing (METHODS.md §6; Hesse et al. 2026)."""

from retinacodec.absence.attribution import (
    absence_attribution,
    mode_projection,
    nontarget_attribution,
    omitted_flash_attribution,
    omitted_flash_windows,
)
from retinacodec.absence.plots import plot_absence_test, plot_extreme_windows, plot_omitted_flash
from retinacodec.absence.significance import absence_test, paste_patches
from retinacodec.absence.units import recording_windows, unit_activations
from retinacodec.absence.visualize import (
    default_patch,
    extreme_inputs,
    extreme_mode_windows,
    extreme_patches,
    extreme_windows,
    mode_scores,
    optimize_input,
)

__all__ = [
    "absence_attribution",
    "absence_test",
    "default_patch",
    "extreme_inputs",
    "extreme_mode_windows",
    "extreme_patches",
    "extreme_windows",
    "mode_projection",
    "mode_scores",
    "nontarget_attribution",
    "omitted_flash_attribution",
    "omitted_flash_windows",
    "optimize_input",
    "paste_patches",
    "plot_absence_test",
    "plot_extreme_windows",
    "plot_omitted_flash",
    "recording_windows",
    "unit_activations",
]
