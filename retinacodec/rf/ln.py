"""The classic linear-nonlinear (LN) model of each cell: the baseline the CNN has to beat.

pyret's recipe (Baccus lab): the linear filter is the cell's spike-triggered average over the
training frames (:func:`retinacodec.rf.sta`), the generator signal is the filter's dot
product with each normalised stimulus window, and the static nonlinearity is the mean firing
rate in equal-count bins of the generator, interpolated linearly between the bins' centres
and held constant beyond the outermost ones (pyret's ``Binterp``).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from retinacodec.model.windows import Normalization
from retinacodec.recording import validate_recording
from retinacodec.rf.sta import sta

__all__ = ["LNModel", "fit_ln"]


class LNModel:
    """A spike-triggered-average filter and a binned static nonlinearity per cell.

    Parameters
    ----------
    history : int
        Filter length in frames (lags), as the CNN's input window (40 = 400 ms at 100 Hz).
    n_bins : int
        Equal-count bins of the generator signal for the nonlinearity.
    block : {"train", "test", "other"}
        Frames the model is fitted on (response frames of this block with a full history).

    Attributes
    ----------
    filter_ : xarray.DataArray, shape (cell, lag, y, x)
        The STA in z-scored stimulus units; ``lag`` in s before the response (oldest first).
    nonlinearity_ : xarray.Dataset
        ``generator (cell, bin)`` (bin centres, z²) and ``rate (cell, bin)`` (Hz).
    normalization_ : retinacodec.model.windows.Normalization
        Stimulus z-scoring statistics of the training block.
    frame_rate_hz_ : float
        Frame rate of the recording fitted to, Hz.
    n_spikes_ : xarray.DataArray, shape (cell,)
        Spikes the filter averages.
    """

    def __init__(self, history: int = 40, n_bins: int = 20, block: str = "train") -> None:
        self.history = history
        self.n_bins = n_bins
        self.block = block

    def fit(self, recording: xr.Dataset, frames: np.ndarray | None = None, progress: bool | None = None) -> LNModel:
        """Fit the filter and the nonlinearity of every cell.

        Parameters
        ----------
        recording : xarray.Dataset
            A Recording.
        frames : ndarray of int, optional
            Response frames to fit on (default: the ``block``'s frames with a full history);
            leave a model's held-out frames out here to score both on the same unseen frames.
        progress : bool, optional
            Progress bar; default only on a terminal.

        Returns
        -------
        LNModel
            ``self``, fitted.
        """
        ds = sta(recording, self.history, block=self.block, frames=frames, n_bins=self.n_bins, progress=progress)
        self.filter_ = ds["sta"]
        self.nonlinearity_ = ds[["generator", "rate"]]
        self.normalization_ = Normalization(ds.attrs["normalization_mean"], ds.attrs["normalization_std"])
        self.frame_rate_hz_ = float(ds.attrs["frame_rate_hz"])
        self.n_spikes_ = ds["n_spikes"]
        return self

    def generator(self, recording: xr.Dataset, frames: np.ndarray | None = None,
                  chunk_size: int = 4096) -> xr.DataArray:
        """The filter's response to each stimulus window (the generator signal).

        Parameters
        ----------
        recording : xarray.Dataset
            A Recording with the fitted frame size and cells.
        frames : ndarray of int, optional
            Response frames (each with ``history - 1`` earlier frames); default every such frame.
        chunk_size : int
            Frames per step (memory: ``chunk_size × pixels × 4`` bytes per lag).

        Returns
        -------
        xarray.DataArray, shape (frame, cell)
            ``filter · window`` in z² units.
        """
        validate_recording(recording)
        self._check(recording)
        h = int(self.history)
        frames = np.arange(h - 1, recording.sizes["frame"]) if frames is None else np.asarray(frames, dtype=np.int64)
        if frames.size and (frames.min() < h - 1 or frames.max() >= recording.sizes["frame"]):
            raise ValueError(f"frames must lie in [{h - 1}, {recording.sizes['frame'] - 1}] (each needs {h - 1} "
                             f"earlier frames); got {frames.min()}..{frames.max()}.")
        filt = self.filter_.transpose("cell", "lag", "y", "x").values
        filt = filt.reshape(filt.shape[0], h, -1).astype(np.float64)  # (cell, lag, pixel)
        stim = recording["stimulus"]
        g = np.zeros((frames.size, filt.shape[0]))
        for start in range(0, frames.size, chunk_size):
            chunk = frames[start:start + chunk_size]
            lo = int(chunk.min()) - h + 1
            movie = self.normalization_.apply(stim.isel(frame=slice(lo, int(chunk.max()) + 1)).values)
            movie = movie.reshape(movie.shape[0], -1).astype(np.float64)
            for lag in range(h):  # window position lag (oldest first) of frame t is frame t - h + 1 + lag
                g[start:start + chunk.size] += movie[chunk - h + 1 + lag - lo] @ filt[:, lag, :].T
        return xr.DataArray(g, dims=("frame", "cell"),
                            coords={"frame": frames, "cell": recording["cell"].values,
                                    "time": ("frame", recording["time"].values[frames])},
                            name="generator", attrs={"units": "z^2", "long_name": "STA · stimulus window"})

    def predict(self, recording: xr.Dataset, frames: np.ndarray | None = None) -> xr.DataArray:
        """Predicted firing rate of every cell (as :func:`retinacodec.predict` for the CNN).

        Parameters
        ----------
        recording : xarray.Dataset
            A Recording with the fitted frame size and cells.
        frames : ndarray of int, optional
            Response frames; default every frame with a full history.

        Returns
        -------
        xarray.DataArray, shape (frame, cell)
            Rate in Hz: the nonlinearity interpolated at each frame's generator signal.
        """
        g = self.generator(recording, frames)
        rate = np.empty(g.shape)
        for c in range(g.shape[1]):
            x = self.nonlinearity_["generator"].values[c]
            y = self.nonlinearity_["rate"].values[c]
            ok = np.isfinite(x) & np.isfinite(y)
            rate[:, c] = np.interp(g.values[:, c], x[ok], y[ok]) if ok.any() else 0.0
        return g.copy(data=rate).rename("rate").assign_attrs(units="Hz", long_name="LN model rate")

    def _check(self, recording: xr.Dataset) -> None:
        """Raise a ValueError when ``recording`` has another frame size or other cells than the fit."""
        if not hasattr(self, "filter_"):
            raise ValueError("the LN model is not fitted yet; call fit(recording) or use fit_ln(recording).")
        shape = (self.filter_.sizes["y"], self.filter_.sizes["x"])
        if (recording.sizes["y"], recording.sizes["x"]) != shape or \
                not np.array_equal(recording["cell"].values, self.filter_["cell"].values):
            raise ValueError(f"the LN model was fitted to {shape[0]}x{shape[1]}-pixel frames of cells "
                             f"{self.filter_['cell'].values.tolist()}; predict a recording with the same frames and "
                             "cells, or fit it to this one.")


def fit_ln(recording: xr.Dataset, history: int = 40, n_bins: int = 20, *, block: str = "train",
           frames: np.ndarray | None = None, progress: bool | None = None) -> LNModel:
    """Fit the classic LN model (STA filter + binned static nonlinearity) to every cell.

    Parameters
    ----------
    recording : xarray.Dataset
        A Recording.
    history : int
        Filter length in frames; give the CNN's ``model.config.history`` to compare like with like.
    n_bins : int
        Equal-count bins of the generator signal.
    block : {"train", "test", "other"}
        Frames fitted on (response frames of the block with a full history).
    frames : ndarray of int, optional
        Response frames to fit on instead (e.g. the training frames minus a CNN's held-out ones).
    progress : bool, optional
        Progress bar; default only on a terminal.

    Returns
    -------
    LNModel
        Fitted: ``filter_ (cell, lag, y, x)``, ``nonlinearity_``; ``predict(recording, frames)``
        gives rates in Hz.

    Examples
    --------
    >>> ln = retinacodec.fit_ln(rec, history=model.config.history)       # doctest: +SKIP
    >>> scores = retinacodec.evaluate(model, rec, baseline=ln)            # doctest: +SKIP
    >>> scores["ln_r"]                                                    # doctest: +SKIP
    """
    return LNModel(history=history, n_bins=n_bins, block=block).fit(recording, frames=frames, progress=progress)
