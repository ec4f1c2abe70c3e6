"""Spike-triggered averages and the static nonlinearity of the LN model, in one streaming pass.

For response frames ``t`` of a block, with ``n_t`` spikes of a cell and the normalised window
``x_t`` (frames ``t - history + 1 .. t``), the STA is ``Σ n_t x_t / Σ n_t − Σ x_t / T``: the
spike-weighted mean window minus the plain mean window (zero for a zero-mean stimulus). It is
accumulated over contiguous chunks of frames: for each lag the chunk's frames at that lag are
a view of the chunk, so no window is ever copied (memory: one chunk of frames and the
``(cell, lag, pixel)`` sums). The LN model's static nonlinearity is then the mean rate in bins
of the generator signal ``g_t = STA · x_t`` (a second pass of the same kind).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from retinacodec.model.windows import Normalization, valid_targets
from retinacodec.recording import block_frames, validate_recording
from retinacodec.rf.coords import with_um_coords, with_units
from retinacodec.rf.stimulus import lag_coordinate, streamed_normalization

__all__ = ["rf_centres", "sta", "sta_centres"]


def _chunks(targets: np.ndarray, chunk_size: int) -> list[tuple[int, int]]:
    """Contiguous frame ranges ``[a, b)`` of at most ``chunk_size`` frames that hold all targets."""
    starts = range(int(targets[0]), int(targets[-1]) + 1, chunk_size)
    ranges = [(a, min(a + chunk_size, int(targets[-1]) + 1)) for a in starts]
    return [(a, b) for a, b in ranges if np.searchsorted(targets, b) > np.searchsorted(targets, a)]


def _lagged(stimulus: xr.DataArray, a: int, b: int, history: int, norm: Normalization) -> np.ndarray:
    """Normalised frames ``a - history + 1 .. b - 1`` as (frames, pixels); lag ``l`` is rows ``l .. l + b - a``."""
    block = norm.apply(stimulus.isel(frame=slice(a - history + 1, b)).values)
    return block.reshape(block.shape[0], -1)


def _nonlinearity(g: np.ndarray, counts: np.ndarray, n_bins: int, frame_rate_hz: float) -> tuple[np.ndarray, ...]:
    """Mean generator and rate (Hz) in ``n_bins`` equal-count bins of ``g``, per cell.

    Parameters
    ----------
    g, counts : ndarray, shape (n_targets, n_cells)

    Returns
    -------
    centre, rate, n : ndarray, shape (n_cells, n_bins)
        NaN / 0 where a cell has fewer distinct generator values than bins.
    """
    n_cells = g.shape[1]
    centre = np.full((n_cells, n_bins), np.nan)
    rate = np.full((n_cells, n_bins), np.nan)
    n = np.zeros((n_cells, n_bins), dtype=np.int64)
    for c in range(n_cells):
        edges = np.unique(np.quantile(g[:, c], np.linspace(0, 1, n_bins + 1)))
        idx = np.clip(np.searchsorted(edges, g[:, c], side="right") - 1, 0, max(edges.size - 2, 0))
        k = np.bincount(idx, minlength=n_bins)[:n_bins]
        with np.errstate(invalid="ignore", divide="ignore"):
            centre[c] = np.bincount(idx, weights=g[:, c], minlength=n_bins)[:n_bins] / k
            rate[c] = np.bincount(idx, weights=counts[:, c], minlength=n_bins)[:n_bins] / k * frame_rate_hz
        n[c] = k
    return centre, rate, n


def sta(
    recording: xr.Dataset,
    history: int = 40,
    *,
    block: str = "train",
    frames: np.ndarray | None = None,
    n_bins: int = 20,
    nonlinearity: bool = True,
    chunk_size: int = 4096,
    progress: bool | None = None,
) -> xr.Dataset:
    """Spike-triggered average of every cell, and the binned static nonlinearity.

    Parameters
    ----------
    recording : xarray.Dataset
        A Recording.
    history : int
        Frames per window (lags), 40 = 400 ms at 100 Hz.
    block : {"train", "test", "other"}
        Frames used: response frames of this block whose whole history lies in it.
    frames : ndarray of int, optional
        Response frames to average over instead (e.g. a block's frames minus a model's
        held-out ones); each needs ``history - 1`` earlier frames. The normalisation is still
        the training block's.
    n_bins : int
        Equal-count bins of the generator signal for the nonlinearity.
    nonlinearity : bool
        Also estimate the static nonlinearity (a second pass over the frames).
    chunk_size : int
        Frames read per step (memory: ``(chunk_size + history) × ny × nx × 4`` bytes).
    progress : bool, optional
        Show a progress bar; default only on a terminal.

    Returns
    -------
    xarray.Dataset
        ``sta (cell, lag, y, x)``: the STA in z-scored stimulus units (training-block
        statistics), ``lag`` in seconds before the spike (window order: oldest first);
        ``n_spikes (cell)``. With ``nonlinearity``: ``generator (cell, bin)``, the mean of
        ``g = STA · window`` in each bin (z²); ``rate (cell, bin)``, the mean firing rate there
        (Hz); ``bin_frames (cell, bin)``. A cell without spikes gets an all-zero STA. Attributes:
        the parameters, ``frame_rate_hz``, ``pixel_size_um`` and the normalisation. Coordinates
        ``y_um``/``x_um`` (µm) beside the pixel indices; every variable has a ``units`` attribute.

    Examples
    --------
    >>> rec, truth = rc.simulate_retina(seed=0, train_seconds=60, test_seconds=2, n_repeats=2)
    >>> result = rc.rf.sta(rec)
    >>> result["sta"].dims
    ('cell', 'lag', 'y', 'x')
    >>> parts = rc.rf.rank1(result["sta"])
    >>> ellipses = rc.rf.fit_ellipse(parts["spatial"], pixel_size_um=50)
    >>> int(ellipses["centre_y"].sel(cell=0).round()), int(truth["position_y"].sel(cell=0).round())  # vs the truth
    (13, 14)
    """
    validate_recording(recording)
    if int(history) < 1 or int(chunk_size) < 1 or int(n_bins) < 2:
        raise ValueError(f"history and chunk_size must be >= 1 and n_bins >= 2; got {history}, {chunk_size}, {n_bins}.")
    history = int(history)
    if frames is None:
        targets = valid_targets(recording["time"].values, recording["block"].values == block, history)
    else:
        targets = np.unique(np.asarray(frames, dtype=np.int64))
        if targets.size and (targets[0] < history - 1 or targets[-1] >= recording.sizes["frame"]):
            raise ValueError(f"frames must lie in [{history - 1}, {recording.sizes['frame'] - 1}] (each needs "
                             f"{history - 1} earlier frames); got {targets[0]}..{targets[-1]}.")
    if targets.size == 0:
        raise ValueError(f"the recording has no {block!r} frames with a full {history}-frame history; "
                         "use a longer block, another block= or a shorter history.")
    stim = recording["stimulus"]
    norm = streamed_normalization(stim, block_frames(recording, "train") if block == "train" or frames is not None
                                  else targets)
    counts = recording["spikes"].values.astype(np.float32)
    n_cells, (ny, nx) = counts.shape[1], (recording.sizes["y"], recording.sizes["x"])
    valid = np.zeros(counts.shape[0], dtype=bool)
    valid[targets] = True
    weights = np.concatenate([counts * valid[:, None], valid[:, None].astype(np.float32)], axis=1)
    chunks = _chunks(targets, int(chunk_size))
    sums = np.zeros((n_cells + 1, history, ny * nx))
    bar = tqdm(total=len(chunks) * (2 if nonlinearity else 1), desc="sta", unit="chunk",
               disable=(not progress) if progress is not None else None)
    with bar:
        for a, b in chunks:
            # frame f of the chunk is lag l of response f + history - 1 - l: one matrix product for all lags
            pad = np.zeros((history - 1, n_cells + 1), np.float32)
            padded = np.concatenate([pad, weights[a:b], pad])
            lagged = np.lib.stride_tricks.sliding_window_view(padded, history, axis=0)  # (frames, cell+1, history)
            lagged = lagged[:, :, ::-1].reshape(lagged.shape[0], -1)
            sums += (lagged.T @ _lagged(stim, a, b, history, norm)).reshape(sums.shape)
            bar.update(1)
        n_spikes = (counts * valid[:, None]).sum(axis=0, dtype=np.float64)
        mean_window = sums[n_cells] / targets.size
        with np.errstate(invalid="ignore", divide="ignore"):
            spike_mean = np.where(n_spikes[:, None, None] > 0, sums[:n_cells] / n_spikes[:, None, None], mean_window)
        filters = (spike_mean - mean_window).astype(np.float32)  # (cell, lag, pixel)
        if nonlinearity:
            g = np.zeros((targets.size, n_cells), dtype=np.float64)
            for a, b in chunks:
                proj = (_lagged(stim, a, b, history, norm) @ filters.reshape(-1, ny * nx).T).reshape(-1, n_cells,
                                                                                                   history)
                gen = sum(proj[lag:lag + b - a, :, lag] for lag in range(history))
                lo, hi = np.searchsorted(targets, [a, b])
                g[lo:hi] = gen[targets[lo:hi] - a]
                bar.update(1)
    rate_hz = float(recording.attrs["frame_rate_hz"])
    ds = xr.Dataset(
        {"sta": (("cell", "lag", "y", "x"), filters.reshape(n_cells, history, ny, nx)),
         "n_spikes": ("cell", n_spikes)},
        coords={"cell": recording["cell"].values, "lag": lag_coordinate(history, rate_hz)},
    )
    if nonlinearity:
        centre, rate, n = _nonlinearity(g, counts[targets], int(n_bins), rate_hz)
        ds["generator"] = (("cell", "bin"), centre)
        ds["rate"] = (("cell", "bin"), rate)
        ds["bin_frames"] = (("cell", "bin"), n)
        ds["generator"].attrs["long_name"] = "generator signal STA · window (z²)"
        ds["rate"].attrs["units"] = "Hz"
    ds["sta"].attrs.update(units="z-scored stimulus", long_name="spike-triggered average", frame_rate_hz=rate_hz,
                           pixel_size_um=float(recording.attrs["pixel_size_um"]))
    ds = with_units(with_um_coords(ds, float(recording.attrs["pixel_size_um"])),
                    {"n_spikes": "spikes", "generator": "z^2", "bin_frames": "frames"})
    ds.attrs.update(
        history=history, block=block, n_windows=int(targets.size), frame_rate_hz=rate_hz,
        pixel_size_um=float(recording.attrs["pixel_size_um"]), normalization_mean=norm.mean,
        normalization_std=norm.std, n_bins=int(n_bins) if nonlinearity else 0,
        method="spike-weighted mean window minus mean window, streamed",
    )
    return ds


def sta_centres(filters: xr.DataArray) -> np.ndarray:
    """Pixel of the largest ``|STA|`` at each cell's strongest lag.

    Parameters
    ----------
    filters : xarray.DataArray, dims (cell, lag, y, x)

    Returns
    -------
    ndarray, shape (n_cells, 2)
        ``(y, x)`` pixel indices; the frame's centre for an all-zero filter.
    """
    f = np.abs(filters.transpose("cell", "lag", "y", "x").values)
    ny, nx = f.shape[2:]
    flat = f.reshape(f.shape[0], -1).argmax(axis=1)
    _, y, x = np.unravel_index(flat, f.shape[1:])
    out = np.stack([y, x], axis=1).astype(np.float64)
    out[f.reshape(f.shape[0], -1).max(axis=1) == 0] = ((ny - 1) / 2, (nx - 1) / 2)
    return out


def rf_centres(recording: xr.Dataset, history: int = 40) -> list[tuple[float, float]]:
    """Receptive-field centres from the spike-triggered average of the training block.

    The STA is accumulated in one streaming pass (:func:`sta`), so memory
    does not grow with the recording.

    Parameters
    ----------
    recording : xarray.Dataset
        A Recording.
    history : int
        Lags searched, in frames.

    Returns
    -------
    list of (float, float)
        ``(y, x)`` in pixels of the pixel with the largest ``|STA|`` at its strongest lag, one
        per cell (the frame's centre for a cell without spikes).
    """
    filters = sta(recording, history, nonlinearity=False)["sta"]
    return [(float(y), float(x)) for y, x in sta_centres(filters)]
