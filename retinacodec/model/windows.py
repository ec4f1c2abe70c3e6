"""Stimulus history windows as strided views, and leak-free train/validation splits.

A model sees, for target frame ``t``, the stimulus frames ``t - history + 1 .. t``. The
windows of a whole recording are one ``as_strided`` view of shape
``(n_frames - history + 1, history, ny, nx)`` over the stimulus itself: no 40× copy. Only a
batch is ever materialised (``windows[idx]``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from retinacodec.coded_stimulus import coded_movie
from retinacodec.recording import block_frames

__all__ = ["Normalization", "streamed_normalization", "strided_windows", "valid_targets", "split_blocks",
           "WindowedData"]


@dataclass(frozen=True)
class Normalization:
    """Stimulus z-scoring statistics, computed on training frames only.

    Parameters
    ----------
    mean, std : float
        Mean and standard deviation of the training stimulus (source units).
    """

    mean: float
    std: float

    @classmethod
    def fit(cls, stimulus: np.ndarray) -> Normalization:
        """Statistics of ``stimulus`` (any shape); a constant stimulus gets std 1."""
        std = float(np.std(stimulus, dtype=np.float64))
        return cls(mean=float(np.mean(stimulus, dtype=np.float64)), std=std if std > 0 else 1.0)

    def apply(self, stimulus: np.ndarray, chunk_size: int = 4096) -> np.ndarray:
        """``(stimulus - mean) / std`` as float32, same shape, computed ``chunk_size`` frames (first axis) at a time.

        Done in chunks, a long movie needs no float32 temporaries beside the result.
        """
        stimulus = np.asarray(stimulus, dtype=np.float32)
        out = np.empty(stimulus.shape, dtype=np.float32)
        if stimulus.ndim == 0:
            return ((stimulus - self.mean) / self.std).astype(np.float32)
        for start in range(0, stimulus.shape[0], chunk_size):
            part = out[start:start + chunk_size]
            np.subtract(stimulus[start:start + chunk_size], self.mean, out=part)
            np.divide(part, self.std, out=part)
        return out


def streamed_normalization(stimulus: xr.DataArray, frames: np.ndarray, chunk_size: int = 4096) -> Normalization:
    """Mean and standard deviation of some stimulus frames, accumulated chunk by chunk in float64.

    Parameters
    ----------
    stimulus : xarray.DataArray, dims (frame, y, x)
    frames : ndarray of int, shape (n,)
        Frames to include (e.g. the training block), increasing.
    chunk_size : int
        Frames read at a time.

    Returns
    -------
    Normalization
        Same statistics as ``Normalization.fit(stimulus[frames])``, without that copy.
    """
    if frames.size == 0:
        raise ValueError("no frames to compute stimulus statistics on; the recording needs a train block.")
    total = total_sq = 0.0
    count = 0
    for start in range(0, frames.size, chunk_size):
        part = frames[start:start + chunk_size]
        block = stimulus.isel(frame=slice(int(part[0]), int(part[-1]) + 1)).values
        x = block[part - part[0]].astype(np.float64)
        total += float(x.sum())
        total_sq += float((x * x).sum())
        count += x.size
    mean = total / count
    std = float(np.sqrt(max(total_sq / count - mean * mean, 0.0)))
    return Normalization(mean=mean, std=std if std > 0 else 1.0)


def strided_windows(stimulus: torch.Tensor, history: int) -> torch.Tensor:
    """All history windows of a movie as a view.

    Parameters
    ----------
    stimulus : torch.Tensor, shape (n_frames, ny, nx)
        Contiguous movie.
    history : int
        Frames per window.

    Returns
    -------
    torch.Tensor, shape (n_frames - history + 1, history, ny, nx)
        Window ``i`` holds frames ``i .. i + history - 1`` and predicts frame
        ``i + history - 1``. Shares memory with ``stimulus``.
    """
    if stimulus.ndim != 3:
        raise ValueError(f"stimulus must be (frame, y, x); got shape {tuple(stimulus.shape)}.")
    n = stimulus.shape[0]
    if n < history:
        raise ValueError(
            f"the stimulus has {n} frames, fewer than the model's history of {history}; "
            "use a longer recording or a shorter history."
        )
    stimulus = stimulus.contiguous()
    s0, s1, s2 = stimulus.stride()
    return stimulus.as_strided((n - history + 1, history, *stimulus.shape[1:]), (s0, s0, s1, s2))


def valid_targets(time: np.ndarray, mask: np.ndarray, history: int, gap_factor: float = 1.5) -> np.ndarray:
    """Target frames whose whole history lies in ``mask`` and is continuous in time.

    Parameters
    ----------
    time : ndarray, shape (n_frames,)
        Frame onsets in seconds.
    mask : ndarray of bool, shape (n_frames,)
        Frames allowed in a window (e.g. one block).
    history : int
        Frames per window.
    gap_factor : float
        A jump between frames longer than ``gap_factor`` × the median frame interval
        breaks continuity (a pause in the recording).

    Returns
    -------
    ndarray of int, shape (n_valid,)
        Frame indices ``t`` such that frames ``t - history + 1 .. t`` are all allowed.
    """
    mask = np.asarray(mask, dtype=bool)
    if time.size > 1:
        dt = np.diff(time)
        breaks = np.flatnonzero(dt > gap_factor * np.median(dt)) + 1
    else:
        breaks = np.array([], dtype=int)
    brk = np.zeros(mask.size, dtype=bool)
    brk[breaks] = True
    # a run of allowed, continuous frames starts where the previous frame is not allowed or
    # the recording paused; position within the run = frames since its start + 1
    starts = mask & (np.concatenate([[True], ~mask[:-1]]) | brk)
    frame = np.arange(mask.size)
    run_start = np.maximum.accumulate(np.where(starts, frame, 0))
    return np.flatnonzero(mask & (frame - run_start + 1 >= history))


def split_blocks(targets: np.ndarray, validation_fraction: float, n_chunks: int, history: int,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split target frames into train and validation by contiguous chunks of time.

    The targets are cut into ``n_chunks`` contiguous chunks, a random ``validation_fraction``
    of them is held out, and training targets whose window overlaps a validation chunk (the
    ``history - 1`` frames after it) are dropped, so no stimulus frame is shared between a
    training window and a validation target.

    Parameters
    ----------
    targets : ndarray of int, shape (n,)
        Candidate target frames, increasing.
    validation_fraction : float
        Share of chunks held out, in (0, 1).
    n_chunks : int
        Number of contiguous chunks (fewer if chunks would be shorter than ``2 × history``).
    history : int
        Window length in frames.
    seed : int
        Chooses the held-out chunks.

    Returns
    -------
    train, validation : ndarray of int
        Target frames of each split.
    """
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1); got {validation_fraction}.")
    # chunks of at least 2 × history frames, so dropping overlaps never empties the training set
    n_chunks = max(2, min(n_chunks, targets.size // (2 * history)))
    if targets.size < 4:
        raise ValueError(f"only {targets.size} target frames: too few to split into training and validation.")
    chunks = np.array_split(targets, n_chunks)
    n_val = max(1, int(round(validation_fraction * n_chunks)))
    rng = np.random.default_rng(seed)
    val_ids = set(rng.choice(n_chunks, size=n_val, replace=False).tolist())
    val = np.concatenate([c for i, c in enumerate(chunks) if i in val_ids])
    train = np.concatenate([c for i, c in enumerate(chunks) if i not in val_ids])
    # drop training targets whose window reaches back into a validation chunk
    val_mask = np.zeros(int(targets.max()) + history + 1, dtype=bool)
    val_mask[val] = True
    csum = np.concatenate([[0], np.cumsum(val_mask)])
    lo = np.clip(train - history + 1, 0, None)
    overlap = csum[train + 1] - csum[lo] > 0
    train = train[~overlap]
    if train.size == 0:
        raise ValueError(f"no training windows are left after holding out validation chunks of {targets.size} "
                         f"targets with a {history}-frame history; use a longer recording.")
    return train, val


class WindowedData:
    """A recording prepared for a model: normalised stimulus, counts, and target frames.

    Parameters
    ----------
    recording : xarray.Dataset
        A Recording.
    history : int
        Frames per window.
    normalization : Normalization, optional
        Defaults to statistics of the training block.

    Attributes
    ----------
    stimulus : torch.Tensor, shape (n_frames, ny, nx)
        Normalised stimulus, float32; or, for a stimulus read as its integer codes
        (:mod:`retinacodec.coded_stimulus`), those codes, decoded and normalised batch by batch
        (a quarter of the memory; the codes are shared with the recording, not copied).
    spikes : torch.Tensor, shape (n_frames, n_cells)
        Counts as float32.
    windows : torch.Tensor, shape (n_frames - history + 1, history, ny, nx)
        Strided view; window ``t - history + 1`` predicts frame ``t``.

    Notes
    -----
    The normalisation statistics are accumulated chunk by chunk
    (:func:`streamed_normalization`), so no copy of the training frames is made.
    """

    def __init__(self, recording: xr.Dataset, history: int, normalization: Normalization | None = None) -> None:
        if normalization is None:
            train = block_frames(recording, "train")
            normalization = streamed_normalization(
                recording["stimulus"], train if train.size else np.arange(recording.sizes["frame"]))
        self.normalization = normalization
        self.history = int(history)
        self.time = recording["time"].values
        self.block = recording["block"].values
        self.repeat = recording["repeat"].values
        coded = coded_movie(recording["stimulus"])
        if coded is None:
            self.stimulus = torch.from_numpy(normalization.apply(recording["stimulus"].values))
            self._decode: tuple[float, float] | None = None
        else:
            self.stimulus = torch.from_numpy(coded.codes)
            self._decode = coded.normalized(normalization.mean, normalization.std)
        self.spikes = torch.from_numpy(recording["spikes"].values.astype(np.float32))
        self.windows = strided_windows(self.stimulus, self.history)

    def targets(self, block: str = "train", repeat: int | None = None) -> np.ndarray:
        """Target frames of one block (optionally one repeat) with a full history inside it."""
        mask = self.block == block
        if repeat is not None:
            mask &= self.repeat == repeat
        return valid_targets(self.time, mask, self.history)

    def batch(self, targets: np.ndarray, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Materialise the windows and counts of some target frames.

        Parameters
        ----------
        targets : ndarray of int, shape (batch,)
            Target frame indices (each >= history - 1).
        device : str or torch.device
            Where to put the batch.

        Returns
        -------
        x : torch.Tensor, shape (batch, history, ny, nx)
        y : torch.Tensor, shape (batch, n_cells)
        """
        # torch.tensor copies: targets may be a read-only view (an xarray index)
        idx = torch.tensor(np.asarray(targets), dtype=torch.long, device=self.stimulus.device)
        x = self.windows[idx - (self.history - 1)]
        y = self.spikes[idx]
        x = x.to(device, non_blocking=True)
        if self._decode is not None:  # codes: normalised values are code * scale + shift
            x = x.to(torch.float32).mul_(self._decode[0]).add_(self._decode[1])
        return x, y.to(device, non_blocking=True)

    def to(self, device: torch.device | str) -> WindowedData:
        """Move the stimulus and counts to ``device`` (in place), so batches are gathered there.

        On a GPU this keeps the whole movie in device memory (``n_frames × ny × nx`` float32,
        e.g. 1 GB for 100,000 frames of 50×50) and each batch is one gather on the device,
        with no host-to-device copy per step.

        Returns
        -------
        WindowedData
            ``self``.
        """
        self.stimulus = self.stimulus.to(device)
        self.spikes = self.spikes.to(device)
        self.windows = strided_windows(self.stimulus, self.history)
        return self
