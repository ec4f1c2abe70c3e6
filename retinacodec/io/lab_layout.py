"""Pieces shared by the importers of lab HDF5 layouts (:mod:`retinacodec.io.tdr`, :mod:`retinacodec.io.openretina`).

Lab layouts keep a recording as separate segments (a train movie, a test movie and its repeats,
one array per stimulus) without one clock for all of them. :func:`join_segments` lays the
segments out one after another on one clock, with a pause between them so that model history
windows never span two segments; :func:`spike_counts` checks that responses are counts;
:func:`resolve_pixel_size` supplies the pixel size these layouts do not store.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from retinacodec.io.errors import RecordingError, RecordingWarning
from retinacodec.recording import make_recording

__all__ = ["Segment", "join_segments", "spike_counts", "resolve_pixel_size"]


@dataclass
class Segment:
    """One contiguous piece of a recording.

    Attributes
    ----------
    stimulus : ndarray, shape (T, ny, nx)
        Frames shown.
    spikes : ndarray of int, shape (T, n_cells)
        Spike counts per frame.
    onsets : ndarray, shape (T,)
        Frame onsets in seconds on the segment's own clock (only differences matter after
        the first segment).
    block : str
        ``"train"`` or ``"test"``.
    repeat : int
        Repeat index of a test segment, ``-1`` otherwise.
    """

    stimulus: np.ndarray
    spikes: np.ndarray
    onsets: np.ndarray
    block: str
    repeat: int = -1


def join_segments(segments: list[Segment], gap_s: float, **recording_args: object) -> xr.Dataset:
    """One Recording from segments laid out one after another.

    Parameters
    ----------
    segments : list of Segment
        In order; the first keeps its onsets, each later one starts ``gap_s`` after the end
        of the previous one (its last onset plus its median frame interval).
    gap_s : float
        Pause between segments, in seconds; must exceed half a frame interval so that windows
        never span two segments.
    **recording_args
        Passed to :func:`retinacodec.recording.make_recording` (``frame_rate_hz``,
        ``pixel_size_um``, provenance, ``extra_attrs``, ``cell_ids``).

    Returns
    -------
    xarray.Dataset
        A valid Recording with ``n_frames = sum(T)``.
    """
    if gap_s < 0:
        raise ValueError(f"gap_s must be >= 0 seconds; got {gap_s}.")
    times, end = [], None
    for seg in segments:
        onsets = np.asarray(seg.onsets, dtype=np.float64)
        if end is not None:
            onsets = onsets - onsets[0] + end + gap_s
        dt = float(np.median(np.diff(onsets))) if onsets.size > 1 else 0.0
        end = onsets[-1] + dt
        times.append(onsets)
    return make_recording(
        np.concatenate([s.stimulus for s in segments]),
        np.concatenate([s.spikes for s in segments]),
        np.concatenate(times),
        block=np.concatenate([np.full(len(s.onsets), s.block) for s in segments]),
        repeat=np.concatenate([np.full(len(s.onsets), s.repeat) for s in segments]),
        **recording_args,
    )


def spike_counts(values: np.ndarray, name: str) -> np.ndarray:
    """Spike counts as int32, checked to be whole and non-negative.

    Parameters
    ----------
    values : ndarray
        Counts of any numeric dtype, any shape.
    name : str
        Where they came from, for the error message.

    Returns
    -------
    ndarray of int32, same shape.

    Raises
    ------
    RecordingError
        Non-finite, negative or fractional values (smoothed rates or calcium traces).
    """
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.floating):
        ok = np.isfinite(values) & (values == np.round(values))
        if not np.all(ok):
            bad = values[~ok].ravel()[0]
            raise RecordingError(
                f"{name} holds non-integer values (e.g. {float(bad):g}); a Recording needs spike counts per "
                "frame, not firing rates or fluorescence."
            )
    elif not np.issubdtype(values.dtype, np.integer):
        raise RecordingError(f"{name} has dtype {values.dtype}; spike counts must be numbers.")
    if np.any(values < 0):
        raise RecordingError(f"{name} has negative values; spike counts must be >= 0.")
    return values.astype(np.int32)


def resolve_pixel_size(given: float | None, frame_shape: tuple[int, ...], path: Path) -> float:
    """The pixel size to record: ``given``, else 1.0 µm (with a warning unless the stimulus is full-field).

    Parameters
    ----------
    given : float or None
        Pixel size in µm chosen by the caller.
    frame_shape : tuple of int
        ``(ny, nx)`` of the stimulus.
    path : Path
        The file, named in the warning.
    """
    if given is not None:
        return float(given)
    if tuple(frame_shape) != (1, 1):
        warnings.warn(
            f"{path.name} does not store the stimulus pixel size; using 1.0 um. Pass pixel_size_um= to set it.",
            RecordingWarning,
            stacklevel=3,
        )
    return 1.0
