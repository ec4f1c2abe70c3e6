"""Normalised stimulus frames and history windows read chunk by chunk, never the whole movie.

The receptive-field passes read a recording's stimulus one chunk of frames at a time (a
lazily loaded recording is read only there), so their memory does not grow with its length.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from retinacodec.model.windows import Normalization, streamed_normalization

__all__ = ["lag_coordinate", "streamed_normalization", "window_batch"]


def lag_coordinate(history: int, frame_rate_hz: float) -> xr.DataArray:
    """The ``lag`` coordinate of a history window: seconds before the response frame.

    Window position ``l`` (0 = oldest, as the model's input channels) lies
    ``(history - 1 - l) / frame_rate_hz`` seconds before the frame it predicts.
    """
    lag = xr.DataArray((history - 1 - np.arange(history)) / float(frame_rate_hz), dims="lag")
    lag.attrs.update(units="s", long_name="time before the response")
    return lag


def window_batch(stimulus: xr.DataArray, frames: np.ndarray, history: int,
                 normalization: Normalization) -> np.ndarray:
    """The normalised history windows of some response frames.

    Parameters
    ----------
    stimulus : xarray.DataArray, dims (frame, y, x)
        The recording's stimulus (source units).
    frames : ndarray of int, shape (n,)
        Response frames, each ``>= history - 1``; close together for efficiency (only the
        frames from ``min(frames) - history + 1`` to ``max(frames)`` are read).
    history : int
        Frames per window.
    normalization : Normalization
        Applied to the frames read.

    Returns
    -------
    ndarray, shape (n, history, ny, nx), float32
        Window ``i`` holds frames ``frames[i] - history + 1 .. frames[i]``, oldest first.
    """
    lo = int(frames.min()) - history + 1
    block = normalization.apply(stimulus.isel(frame=slice(lo, int(frames.max()) + 1)).values)
    idx = (frames - lo)[:, None] - np.arange(history - 1, -1, -1)[None, :]
    return block[idx]
