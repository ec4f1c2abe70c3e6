"""The Recording data model: one ``xarray.Dataset`` per retinal recording.

Schema (checked by :func:`validate_recording`)
-----------------------------------------------
Dimensions ``frame``, ``y``, ``x``, ``cell``.

Data variables
    ``stimulus`` (frame, y, x) float32
        The movie shown, one 2-D frame per bin, in the units of the source file
        (contrast for the simulator).
    ``spikes`` (frame, cell) int32
        Spike counts binned on the stimulus frame edges: bin ``i`` covers
        ``[time[i], time[i + 1])``; the last bin ends one median frame interval
        after ``time[-1]``.

Coordinates
    ``frame`` (frame) int64
        Frame index ``0 .. n_frames - 1``.
    ``time`` (frame) float64
        Onset of each frame in seconds.
    ``cell`` (cell) int64
        Cell ids (the NWB ``Units`` ids).
    ``block`` (frame) str
        Which block each frame belongs to: ``"train"``, ``"test"`` or
        ``"other"`` (frames outside any labelled block).
    ``repeat`` (frame) int64
        Repeat index of a repeated (test) block, ``-1`` outside repeats.

Attributes
    ``frame_rate_hz`` (float), ``pixel_size_um`` (float), ``source_file`` (str),
    ``session_id`` (str), ``stimulus_name`` (str).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from retinacodec.coded_stimulus import CodedMovie, coded_movie, lazy_stimulus

__all__ = [
    "make_recording",
    "validate_recording",
    "repeated_responses",
    "block_frames",
    "BLOCK_LABELS",
]

BLOCK_LABELS = ("train", "test", "other")
REQUIRED_ATTRS = ("frame_rate_hz", "pixel_size_um", "source_file", "session_id", "stimulus_name")


def _nonfinite_frames(stimulus: xr.DataArray, chunk_size: int = 4096) -> np.ndarray:
    """Frames holding a NaN or infinite value, read a chunk of frames at a time (a coded movie has none)."""
    if coded_movie(stimulus) is not None:
        return np.zeros(0, dtype=np.int64)
    bad = []
    for start in range(0, stimulus.sizes["frame"], chunk_size):
        block = stimulus.isel(frame=slice(start, start + chunk_size)).values
        bad.append(start + np.flatnonzero(~np.isfinite(block).reshape(block.shape[0], -1).all(axis=1)))
    return np.concatenate(bad) if bad else np.zeros(0, dtype=np.int64)


def make_recording(
    stimulus: np.ndarray,
    spikes: np.ndarray,
    time: np.ndarray,
    *,
    cell_ids: Sequence[int] | np.ndarray | None = None,
    block: Sequence[str] | np.ndarray | None = None,
    repeat: Sequence[int] | np.ndarray | None = None,
    frame_rate_hz: float | None = None,
    pixel_size_um: float = 1.0,
    source_file: str = "",
    session_id: str = "",
    stimulus_name: str = "stimulus",
    extra_attrs: dict | None = None,
) -> xr.Dataset:
    """Build a validated Recording from plain arrays.

    Parameters
    ----------
    stimulus : ndarray or CodedMovie, shape (n_frames, ny, nx)
        The movie, converted to float32; a :class:`~retinacodec.coded_stimulus.CodedMovie`
        stays as its codes, decoded to float32 on access.
    spikes : ndarray, shape (n_frames, n_cells)
        Spike counts per frame (non-negative integers).
    time : ndarray, shape (n_frames,)
        Frame onsets in seconds, strictly increasing.
    cell_ids : sequence of int, shape (n_cells,), optional
        Defaults to ``0 .. n_cells - 1``.
    block : sequence of str, shape (n_frames,), optional
        Block label per frame; defaults to ``"train"`` everywhere.
    repeat : sequence of int, shape (n_frames,), optional
        Repeat index per frame, ``-1`` outside repeats; defaults to all ``-1``.
    frame_rate_hz : float, optional
        Defaults to ``1 / median(diff(time))``.
    pixel_size_um : float
        Edge of one stimulus pixel on the retina, in micrometres.
    source_file, session_id, stimulus_name : str
        Provenance.
    extra_attrs : dict, optional
        More attributes to store (must be NetCDF-serialisable).

    Returns
    -------
    xarray.Dataset
        A Recording that passed :func:`validate_recording`.
    """
    if not isinstance(stimulus, CodedMovie):
        stimulus = np.asarray(stimulus, dtype=np.float32)
    spikes = np.asarray(spikes)
    time = np.asarray(time, dtype=np.float64)
    n_frames = stimulus.shape[0] if stimulus.ndim else 0
    if spikes.ndim != 2:
        raise ValueError(f"spikes must have shape (frame, cell); got shape {spikes.shape}.")
    if np.issubdtype(spikes.dtype, np.floating):
        if not np.all(np.isfinite(spikes)) or np.any(spikes != np.round(spikes)):
            raise ValueError("spikes must be whole non-negative counts; got non-integer values.")
    spikes = spikes.astype(np.int32)
    n_cells = spikes.shape[1]
    if cell_ids is None:
        cell_ids = np.arange(n_cells)
    if block is None:
        block = np.full(n_frames, "train")
    if repeat is None:
        repeat = np.full(n_frames, -1)
    if frame_rate_hz is None:
        if time.size < 2:
            raise ValueError("frame_rate_hz is needed when the recording has fewer than 2 frames.")
        frame_rate_hz = float(1.0 / np.median(np.diff(time)))
    attrs = {
        "frame_rate_hz": float(frame_rate_hz),
        "pixel_size_um": float(pixel_size_um),
        "source_file": str(source_file),
        "session_id": str(session_id),
        "stimulus_name": str(stimulus_name),
    }
    attrs.update(extra_attrs or {})
    rec = xr.Dataset(
        data_vars={
            "stimulus": lazy_stimulus(stimulus) if isinstance(stimulus, CodedMovie) else (("frame", "y", "x"),
                                                                                          stimulus),
            "spikes": (("frame", "cell"), spikes),
        },
        coords={
            "frame": np.arange(n_frames, dtype=np.int64),
            "time": ("frame", time),
            "cell": np.asarray(cell_ids, dtype=np.int64),
            "block": ("frame", np.asarray(block, dtype=str)),
            "repeat": ("frame", np.asarray(repeat, dtype=np.int64)),
        },
        attrs=attrs,
    )
    validate_recording(rec)
    return rec


def validate_recording(rec: xr.Dataset) -> xr.Dataset:
    """Check that ``rec`` follows the Recording schema.

    Parameters
    ----------
    rec : xarray.Dataset
        The candidate Recording.

    Returns
    -------
    xarray.Dataset
        ``rec`` itself, so calls can be chained.

    Raises
    ------
    ValueError
        Naming the first thing that is wrong and how to fix it.
    """
    if not isinstance(rec, xr.Dataset):
        raise ValueError(f"a Recording is an xarray.Dataset; got {type(rec).__name__}.")
    for name, dims in (("stimulus", ("frame", "y", "x")), ("spikes", ("frame", "cell"))):
        if name not in rec.data_vars:
            raise ValueError(f"the Recording has no '{name}' variable; it needs {name} {dims}.")
        if rec[name].dims != dims:
            raise ValueError(f"'{name}' must have dims {dims}; got {rec[name].dims}.")
    if rec["stimulus"].dtype != np.float32:
        raise ValueError(f"'stimulus' must be float32; got {rec['stimulus'].dtype}. Use .astype('float32').")
    if rec.sizes["frame"] < 1:
        raise ValueError("the Recording has no frames.")
    if not np.issubdtype(rec["spikes"].dtype, np.integer):
        raise ValueError(f"'spikes' must hold integer counts; got {rec['spikes'].dtype}.")
    bad = _nonfinite_frames(rec["stimulus"])
    if bad.size:
        raise ValueError(
            f"the stimulus has NaN or infinite values in {bad.size} frame(s) (first: frame {bad[0]}); "
            "fill or drop those frames before use."
        )
    if np.any(rec["spikes"].values < 0):
        raise ValueError("'spikes' has negative counts; counts must be >= 0.")
    for coord in ("time", "cell", "block", "repeat"):
        if coord not in rec.coords:
            raise ValueError(f"the Recording has no '{coord}' coordinate.")
    time = rec["time"].values
    if rec["time"].dims != ("frame",):
        raise ValueError(f"'time' must be indexed by frame; got dims {rec['time'].dims}.")
    if time.size > 1 and not np.all(np.diff(time) > 0):
        i = int(np.argmin(np.diff(time) > 0))
        raise ValueError(
            f"frame times must be strictly increasing; time[{i + 1}] = {time[i + 1]:.6f} s "
            f"is not after time[{i}] = {time[i]:.6f} s."
        )
    if len(np.unique(rec["cell"].values)) != rec.sizes["cell"]:
        raise ValueError("cell ids must be unique.")
    blocks = set(np.unique(rec["block"].values).tolist())
    if not blocks <= set(BLOCK_LABELS):
        raise ValueError(f"unknown block labels {sorted(blocks - set(BLOCK_LABELS))}; use {BLOCK_LABELS}.")
    repeat = rec["repeat"].values
    in_test = rec["block"].values == "test"
    if np.any(repeat[~in_test] != -1):
        raise ValueError("frames outside the 'test' block must have repeat == -1.")
    missing = [a for a in REQUIRED_ATTRS if a not in rec.attrs]
    if missing:
        raise ValueError(f"the Recording lacks the attribute(s) {missing}.")
    if not rec.attrs["frame_rate_hz"] > 0:
        raise ValueError(f"frame_rate_hz must be > 0; got {rec.attrs['frame_rate_hz']}.")
    if not rec.attrs["pixel_size_um"] > 0:
        raise ValueError(f"pixel_size_um must be > 0; got {rec.attrs['pixel_size_um']}.")
    return rec


def block_frames(rec: xr.Dataset, block: str = "train") -> np.ndarray:
    """Indices of the frames in one block.

    Parameters
    ----------
    rec : xarray.Dataset
        A Recording.
    block : {"train", "test", "other"}
        The block label.

    Returns
    -------
    ndarray of int, shape (n,)
        Frame indices in increasing order.
    """
    if block not in BLOCK_LABELS:
        raise ValueError(f"unknown block {block!r}; choose one of {BLOCK_LABELS}.")
    return np.flatnonzero(rec["block"].values == block)


def repeated_responses(rec: xr.Dataset, variable: str = "spikes") -> xr.DataArray:
    """The repeated test responses aligned by repeat.

    Parameters
    ----------
    rec : xarray.Dataset
        A Recording with a ``test`` block of at least one repeat.
    variable : str
        Which variable to stack (``"spikes"`` or ``"stimulus"``).

    Returns
    -------
    xarray.DataArray, shape (repeat, frame, ...)
        ``frame`` holds the recording's frame indices of repeat 0 (the first repeat), so
        the trial average joins on ``frame`` with :func:`retinacodec.predict` output;
        ``offset`` (along ``frame``) counts frames from the start of each repeat, and
        ``attrs["first_frame"]`` gives the first frame of every repeat. Repeats of unequal
        length (a dropped frame) are cut to the shortest, and ``attrs["truncated_frames"]``
        says how many frames were dropped in total.

    Raises
    ------
    ValueError
        If the recording has no repeated test block.
    """
    rep = rec["repeat"].values
    ids = np.unique(rep[rep >= 0])
    if ids.size == 0:
        raise ValueError(
            "the recording has no repeated test block (every frame has repeat == -1); "
            "label repeats in the NWB intervals table or pass test_block= when reading."
        )
    idx = [np.flatnonzero(rep == r) for r in ids]
    n = min(len(i) for i in idx)
    truncated = int(sum(len(i) - n for i in idx))
    stacked = np.stack([rec[variable].values[i[:n]] for i in idx])
    other_dims = rec[variable].dims[1:]
    coords = {"repeat": ids, "frame": idx[0][:n], "offset": ("frame", np.arange(n))}
    for d in other_dims:
        if d in rec.coords:
            coords[d] = rec[d].values
    return xr.DataArray(
        stacked,
        dims=("repeat", "frame", *other_dims),
        coords=coords,
        name=variable,
        attrs={"truncated_frames": truncated, "first_frame": [int(i[0]) for i in idx]},
    )
