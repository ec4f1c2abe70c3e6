"""Reshaping a stimulus as it is read: crop, downsample, and resample to a fixed bin width.

These are the options of :func:`retinacodec.io.read_nwb` (``crop=``, ``downsample=``,
``bin_ms=``) and of every ``retinacodec`` command that reads a recording (``--crop``,
``--downsample``, ``--bin-ms``). The options used are recorded in the Recording's
``preprocessing`` attribute (JSON text), and from there in a fitted model's provenance,
so that ``evaluate`` can prepare another reading of the file the same way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from retinacodec.io.errors import RecordingError

__all__ = ["Preprocessing", "crop_movie", "downsample_movie", "resample_times"]


class Preprocessing(dict):
    """The reshaping options used on a recording: ``crop``, ``downsample``, ``bin_ms`` (unset ones left out)."""

    @classmethod
    def of(cls, crop: Sequence[int] | None = None, downsample: int | None = None,
           bin_ms: float | None = None) -> Preprocessing:
        """The options that are set, checked."""
        out = cls()
        if crop is not None:
            crop = [int(v) for v in crop]
            if len(crop) != 4 or crop[0] < 0 or crop[1] < 0 or crop[2] < 1 or crop[3] < 1:
                raise RecordingError(
                    f"crop must be TOP LEFT HEIGHT WIDTH in pixels (top, left >= 0; height, width >= 1); got {crop}."
                )
            out["crop"] = crop
        if downsample is not None and int(downsample) != 1:
            if int(downsample) < 1:
                raise RecordingError(f"downsample must be a whole factor >= 1; got {downsample}.")
            out["downsample"] = int(downsample)
        if bin_ms is not None:
            if not float(bin_ms) > 0:
                raise RecordingError(f"bin_ms must be > 0; got {bin_ms}.")
            out["bin_ms"] = float(bin_ms)
        return out

    @classmethod
    def from_json(cls, text: str | None) -> Preprocessing:
        """The options stored by :meth:`to_json` (empty for ``None`` or ``""``)."""
        return cls(json.loads(text)) if text else cls()

    def to_json(self) -> str:
        """JSON text for a NetCDF-safe attribute."""
        return json.dumps(dict(self), sort_keys=True)


def crop_movie(movie: np.ndarray, crop: Sequence[int]) -> np.ndarray:
    """Cut a window out of every frame.

    Parameters
    ----------
    movie : ndarray, shape (n_frames, ny, nx)
    crop : (top, left, height, width)
        The window in pixels; it must lie inside the frame.

    Returns
    -------
    ndarray, shape (n_frames, height, width)
    """
    top, left, height, width = (int(v) for v in crop)
    ny, nx = movie.shape[1:]
    if top + height > ny or left + width > nx:
        raise RecordingError(
            f"crop {top} {left} {height} {width} (top left height width) reaches outside the {ny}x{nx} "
            "stimulus; choose a window inside it."
        )
    return np.ascontiguousarray(movie[:, top : top + height, left : left + width])


def downsample_movie(movie: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor × factor`` blocks of pixels (incomplete blocks at the bottom/right are dropped).

    Parameters
    ----------
    movie : ndarray, shape (n_frames, ny, nx)
    factor : int
        Block edge in pixels.

    Returns
    -------
    ndarray, shape (n_frames, ny // factor, nx // factor), float32
    """
    n, ny, nx = movie.shape
    my, mx = ny // factor, nx // factor
    if my < 1 or mx < 1:
        raise RecordingError(f"downsample {factor} is larger than the {ny}x{nx} stimulus; use a smaller factor.")
    blocks = movie[:, : my * factor, : mx * factor].reshape(n, my, factor, mx, factor)
    return blocks.mean(axis=(2, 4), dtype=np.float64).astype(np.float32)


def resample_times(frame_times: np.ndarray, frame_end: float, bin_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Regular bins of width ``bin_s`` over the stimulus period, and the frame on screen in each.

    Parameters
    ----------
    frame_times : ndarray, shape (n_frames,)
        Measured frame onsets in seconds (dropped frames included: a frame stays on screen
        until the next onset).
    frame_end : float
        End of the last frame, seconds.
    bin_s : float
        Bin width, seconds.

    Returns
    -------
    onsets : ndarray, shape (n_bins,)
        Bin onsets ``frame_times[0] + k * bin_s``, every bin ending by ``frame_end``.
    shown : ndarray of int, shape (n_bins,)
        Index of the frame on screen at each bin onset.
    """
    n_bins = int(np.floor((frame_end - frame_times[0]) / bin_s + 1e-9))
    if n_bins < 2:
        raise RecordingError(f"a bin width of {bin_s * 1e3:g} ms leaves fewer than 2 bins; choose a smaller one.")
    onsets = frame_times[0] + np.arange(n_bins) * bin_s
    return onsets, np.searchsorted(frame_times, onsets, side="right") - 1
