"""Read torch-deep-retina's HDF5 recordings (the Baccus-lab ``train``/``test`` layout) into a Recording.

The layout
----------
One file per experiment and stimulus (``<expt>/<stimulus>.h5``, e.g. ``15-10-07/naturalscene.h5``),
with a ``train`` and a ``test`` group of the same shape::

    <group>/stimulus                   (T, ny, nx)  the frames shown, one per time bin
    <group>/time                       (T,)         onset of each bin in seconds (10 ms bins)
    <group>/response/binned            (n_cells, T) spike counts per bin
    <group>/response/firing_rate_<w>ms (n_cells, T) the counts smoothed by a <w> ms Gaussian, in Hz
    test/repeats/cell<NN>              (n_repeats, T) spike counts of each repeat of the test
                                       stimulus, one dataset per cell (``NN`` = row + 1)
    train/stas/cell<NN>                spike-triggered averages (not read)

torch-deep-retina trains on ``firing_rate_10ms``; a Recording holds the spike counts those rates
were smoothed from (``response/binned``), so the smoothed rates are not read. Files whose
repeats are stacked as one ``test/repeats/binned`` dataset, shape (n_repeats, n_cells, T), are
read as well.

How it becomes a Recording
--------------------------
The train frames come first (block ``"train"``, at their recorded times), then one copy of the
test stimulus per repeat (block ``"test"``, repeat ``0 .. n_repeats - 1``). The file keeps one
clock per group and no times for the repeats, so each repeat is placed after the previous
segment with a pause of ``gap_s`` (which keeps model history windows from spanning two
segments); the attribute ``time_note`` says so. Without ``test/repeats`` the test group's own
``response/binned`` becomes the single repeat 0.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import h5py
import numpy as np
import xarray as xr

from retinacodec.io.errors import RecordingError, RecordingFileNotFoundError
from retinacodec.io.lab_layout import Segment, join_segments, resolve_pixel_size, spike_counts

__all__ = ["read_tdr"]

_CELL_KEY = re.compile(r"^cell(\d+)$")


def read_tdr(
    path: str | os.PathLike,
    *,
    frame_rate_hz: float | None = None,
    pixel_size_um: float | None = None,
    gap_s: float = 1.0,
) -> xr.Dataset:
    """Read a torch-deep-retina HDF5 recording.

    Parameters
    ----------
    path : str or path-like
        The ``.h5`` file.
    frame_rate_hz : float, optional
        Bins per second; needed only when a group has no ``time`` dataset (then bin ``i``
        starts at ``i / frame_rate_hz``).
    pixel_size_um : float, optional
        Stimulus pixel size on the retina (µm); the layout does not store it, so 1.0 is
        used with a warning unless the stimulus is full-field.
    gap_s : float
        Pause placed between the train segment and each test repeat, in seconds.

    Returns
    -------
    xarray.Dataset
        A valid Recording (see :mod:`retinacodec.recording`); ``session_id`` is the
        experiment folder (e.g. ``"15-10-07"``), ``stimulus_name`` the file stem, and
        ``source_format`` is ``"torch-deep-retina"``.

    Raises
    ------
    RecordingFileNotFoundError
        ``path`` does not exist.
    RecordingError
        The file is not in this layout or is inconsistent; the message names the dataset.

    Examples
    --------
    A file in torch-deep-retina's layout (``train`` and ``test`` groups, each with the stimulus, the
    frame times and the responses; the test block's repeats per cell):

    >>> import h5py
    >>> rng = np.random.default_rng(0)
    >>> with h5py.File("naturalscene.h5", "w") as f:
    ...     for group, n in (("train", 300), ("test", 50)):
    ...         f[f"{group}/stimulus"] = rng.integers(0, 256, (n, 8, 8), dtype=np.uint8)
    ...         f[f"{group}/time"] = 0.01 * np.arange(n)
    ...         f[f"{group}/response/binned"] = rng.poisson(0.5, (2, n)).astype(float)
    ...     for cell in ("cell01", "cell02"):
    ...         f[f"test/repeats/{cell}"] = rng.poisson(0.5, (3, 50)).astype(float)
    >>> rec = rc.io.read_tdr("naturalscene.h5", pixel_size_um=50)
    >>> dict(rec.sizes), round(rec.attrs["frame_rate_hz"], 6)
    ({'frame': 450, 'y': 8, 'x': 8, 'cell': 2}, 100.0)
    """
    path = Path(path)
    if not path.is_file():
        raise RecordingFileNotFoundError(f"no torch-deep-retina file at {path}.")
    if not h5py.is_hdf5(path):
        raise RecordingError(f"{path} is not an HDF5 file; torch-deep-retina recordings are .h5 files.")
    with h5py.File(path, "r") as f:
        if "train" not in f:
            raise RecordingError(
                f"{path} has no 'train' group (top level: {sorted(f.keys())}); a torch-deep-retina file "
                "holds train/stimulus, train/time and train/response/binned."
            )
        stim, spikes, time = _group(f, "train", frame_rate_hz)
        segments = [Segment(stim, spikes, time, "train")]
        if "test" in f:
            t_stim, t_spikes, t_time = _group(f, "test", frame_rate_hz)
            if t_stim.shape[1:] != stim.shape[1:]:
                raise RecordingError(
                    f"test/stimulus frames are {t_stim.shape[1:]} pixels but train/stimulus frames are "
                    f"{stim.shape[1:]}; both groups must show frames of one size."
                )
            if t_spikes.shape[1] != spikes.shape[1]:
                raise RecordingError(
                    f"test/response/binned has {t_spikes.shape[1]} cells but train/response/binned has "
                    f"{spikes.shape[1]}; both groups must hold the same cells."
                )
            reps = _repeats(f, spikes.shape[1], len(t_time))
            reps = t_spikes[None] if reps is None else reps
            segments += [Segment(t_stim, rep, t_time, "test", r) for r, rep in enumerate(reps)]
    if len(time) < 2:
        raise RecordingError(f"{path} has fewer than 2 train bins; the frame rate cannot be known.")
    return join_segments(
        segments, gap_s, frame_rate_hz=float(1.0 / np.median(np.diff(time))),
        pixel_size_um=resolve_pixel_size(pixel_size_um, stim.shape[1:], path),
        source_file=str(path), session_id=path.parent.name, stimulus_name=path.stem,
        extra_attrs={
            "source_format": "torch-deep-retina",
            "time_note": f"test repeats placed after the train segment, {gap_s:g} s apart (the file has "
                         "no times for repeats)",
        },
    )


def _group(f: h5py.File, name: str, frame_rate_hz: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stimulus (T, ny, nx), spike counts (T, n_cells) and bin onsets (T,) of one group."""
    g = f[name]
    if "stimulus" not in g:
        raise RecordingError(f"{f.filename} has no {name}/stimulus dataset; it holds {sorted(g.keys())}.")
    stim = np.asarray(g["stimulus"][()])
    if stim.ndim == 1:
        stim = stim[:, None, None]
    if stim.ndim != 3:
        raise RecordingError(
            f"{name}/stimulus has shape {stim.shape}; expected (time, ny, nx) or (time,) for a full field."
        )
    response = g.get("response")
    if response is None or "binned" not in response:
        rates = sorted(k for k in response.keys() if k.startswith("firing_rate")) if response is not None else []
        raise RecordingError(
            f"{f.filename} has no {name}/response/binned (spike counts per bin)"
            + (f"; it has only the smoothed rates {rates}, which cannot be turned back into counts" if rates else "")
            + ". Add the binned spike counts to the file."
        )
    binned = np.asarray(response["binned"][()])
    if binned.ndim != 2 or binned.shape[1] != stim.shape[0]:
        raise RecordingError(
            f"{name}/response/binned has shape {binned.shape}; expected (n_cells, {stim.shape[0]}) to match "
            f"{name}/stimulus."
        )
    if "time" in g:
        time = np.asarray(g["time"][()], dtype=np.float64).ravel()
        if time.shape != (stim.shape[0],):
            raise RecordingError(f"{name}/time has {time.size} values but {name}/stimulus has {stim.shape[0]} frames.")
    elif frame_rate_hz is not None:
        time = np.arange(stim.shape[0]) / float(frame_rate_hz)
    else:
        raise RecordingError(f"{f.filename} has no {name}/time dataset; pass frame_rate_hz= to time the bins.")
    return stim, spike_counts(binned.T, f"{name}/response/binned"), time


def _repeats(f: h5py.File, n_cells: int, n_bins: int) -> np.ndarray | None:
    """Spike counts of each test repeat, shape (n_repeats, n_bins, n_cells), or None without repeats."""
    g = f.get("test/repeats")
    if g is None:
        return None
    if "binned" in g:
        reps = np.asarray(g["binned"][()])
        expected = f"(n_repeats, {n_cells}, {n_bins})"
        if reps.ndim != 3 or reps.shape[1:] != (n_cells, n_bins):
            raise RecordingError(f"test/repeats/binned has shape {reps.shape}; expected {expected}.")
        return spike_counts(reps.transpose(0, 2, 1), "test/repeats/binned")
    cells = sorted((int(m.group(1)), k) for k in g.keys() if (m := _CELL_KEY.match(k)))
    if not cells:
        return None
    if len(cells) != n_cells:
        raise RecordingError(
            f"test/repeats has {len(cells)} cell datasets but train/response/binned has {n_cells} cells; "
            "every cell needs its repeats."
        )
    arrays = [np.asarray(g[k][()]) for _, k in cells]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or next(iter(shapes))[1:] != (n_bins,) or arrays[0].ndim != 2:
        raise RecordingError(
            f"test/repeats/cell<NN> datasets have shapes {sorted(shapes)}; each must be (n_repeats, {n_bins})."
        )
    return spike_counts(np.stack(arrays, axis=-1), "test/repeats")
