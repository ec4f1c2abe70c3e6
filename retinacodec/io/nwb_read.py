"""Read an NWB file of a retinal recording into a Recording (``xarray.Dataset``).

What is read
------------
Spikes
    The ``Units`` table (``spike_times``; ``obs_intervals`` are checked against the
    stimulus period). One-dimensional per-unit columns become ``cell`` coordinates
    (named ``cell_<column>`` unless they already start with ``cell``); when each unit
    has one electrode, its id and position become ``cell_electrode``,
    ``cell_electrode_x`` and ``cell_electrode_y``.
Stimulus
    An ``ImageSeries`` / ``OpticalSeries`` in ``nwbfile.stimulus`` with its frames in
    the file, or an ``IndexSeries`` whose ``indexed_images`` (an ``Images`` container,
    e.g. in ``stimulus_template``) holds the images shown. Frames are timed by
    ``timestamps`` or by ``starting_time`` + ``rate``. Frames are stored
    ``[frame][x][y]`` by the NWB schema; files that store ``[frame][y][x]`` are read
    with ``stimulus_axes="yx"``.
Blocks
    An intervals table (``TimeIntervals``), labelled as described in
    :mod:`retinacodec.io.blocks`. With none, every frame is ``"train"``.

Spikes are binned on the stimulus frame edges (:func:`retinacodec.io.binning.bin_units`),
or on regular bins of ``bin_ms`` (see :mod:`retinacodec.io.resample`).
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
import xarray as xr
from pynwb import NWBHDF5IO, NWBFile
from pynwb.base import Images
from pynwb.epoch import TimeIntervals
from pynwb.image import ImageSeries, IndexSeries

from retinacodec.coded_stimulus import CodedMovie
from retinacodec.io.binning import bin_units, frame_edges, long_intervals
from retinacodec.io.blocks import Labelling, label_column, label_frames
from retinacodec.io.errors import RecordingError, RecordingFileNotFoundError, RecordingWarning
from retinacodec.io.metadata import decode_metadata
from retinacodec.io.resample import Preprocessing, crop_movie, downsample_movie, resample_times
from retinacodec.io.units import describe_unit_columns, load_units
from retinacodec.recording import make_recording

__all__ = ["inspect_nwb", "read_nwb", "stimulus_names", "unit_columns"]

#: The keyword options of :func:`read_nwb` (and :func:`inspect_nwb`).
_OPTIONS = ("stimulus", "intervals", "test_block", "block_column", "repeat_column", "pixel_size_um", "stimulus_axes",
            "crop", "downsample", "bin_ms", "compact")

#: Above this many bytes of float32 frames, ``read_nwb(compact=None)`` keeps an integer-coded movie as its codes.
COMPACT_BYTES = 2**30


@dataclass
class _Stimulus:
    """A stimulus series loaded into memory."""

    name: str
    movie: np.ndarray | CodedMovie  # (n_frames, ny, nx) float32, or its integer codes
    times: np.ndarray  # (n_frames,) seconds
    rate: float | None
    field_of_view: np.ndarray | None  # metres, (width, height[, depth])
    comments: str


def read_nwb(
    path: str | os.PathLike,
    *,
    stimulus: str | None = None,
    intervals: str | Literal[False] | None = None,
    test_block: str | None = None,
    block_column: str | None = None,
    repeat_column: str | None = None,
    pixel_size_um: float | None = None,
    stimulus_axes: Literal["xy", "yx"] = "xy",
    crop: tuple[int, int, int, int] | None = None,
    downsample: int | None = None,
    bin_ms: float | None = None,
    compact: bool | None = None,
) -> xr.Dataset:
    """Read a retinal recording from an NWB file.

    Parameters
    ----------
    path : str or path-like
        The ``.nwb`` (HDF5) file.
    stimulus : str, optional
        Name of the stimulus series to use; needed when the file has several.
    intervals : str or False, optional
        Name of the intervals table that labels blocks (``"epochs"``, ``"trials"`` or
        one in ``nwbfile.intervals``); by default the one table with a block or
        stimulus-name column. ``False`` ignores intervals (every frame is train).
    test_block : str, optional
        Label (in the table's block or stimulus-name column) of the test block; all
        other labelled intervals become train.
    block_column, repeat_column : str, optional
        Columns of the intervals table to use for the block label and repeat index,
        instead of the recognised names.
    pixel_size_um : float, optional
        Stimulus pixel size on the retina in micrometres; by default taken from the
        file (retinacodec metadata, else an OpticalSeries ``field_of_view``), else 1.0
        with a warning.
    stimulus_axes : {"xy", "yx"}
        Order of the two image axes after the frame axis in the file: ``"xy"`` as the
        NWB schema specifies, ``"yx"`` for files that store ``[frame][row][column]``.
    crop : (top, left, height, width), optional
        Keep this window of the stimulus, in pixels.
    downsample : int, optional
        Average blocks of ``downsample × downsample`` pixels (after cropping); the pixel
        size grows by the same factor.
    bin_ms : float, optional
        Resample to regular bins of this width (ms): each bin shows the frame on screen at
        its onset and belongs to that frame's block and repeat; spikes are counted per bin.
        By default one bin per stimulus frame. The options used are recorded in the
        ``preprocessing`` attribute (JSON).
    compact : bool, optional
        Keep a movie stored as integer codes (8-bit frames, as :func:`write_nwb` and most
        labs store them) as those codes in memory, a quarter of float32, decoding frames to
        float32 whenever they are read (:mod:`retinacodec.coded_stimulus`); ``fit`` and
        ``predict`` then decode one batch at a time. None (default): when the float32 movie
        would exceed ``COMPACT_BYTES`` (1 GiB; a 1-hour 50×50 movie at 100 Hz is 3.6 GB of
        float32, 0.9 GB of codes). Ignored with ``crop``, ``downsample`` or ``bin_ms``, and for
        movies stored as floats.

    Returns
    -------
    xarray.Dataset
        A valid Recording: ``stimulus`` (frame, y, x) float32, ``spikes``
        (frame, cell) int32 counts per stimulus frame, and the coordinates and
        attributes of :mod:`retinacodec.recording`. Extra attributes that
        :func:`write_nwb` stored come back as attributes too.

    Raises
    ------
    RecordingFileNotFoundError
        ``path`` does not exist (also a ``FileNotFoundError``).
    RecordingError
        The file is not NWB, or lacks or has inconsistent parts; the message says which
        and how to fix it.

    Warns
    -----
    RecordingWarning
        Dropped frames (an interval over 1.5 times the median), spikes outside the
        stimulus period, units not observed throughout, unknown pixel size.

    Examples
    --------
    >>> nwb, _ = rc.sample.sample_paths()
    >>> rec = rc.read_nwb(nwb)
    >>> dict(rec.sizes)
    {'frame': 125500, 'y': 20, 'x': 20, 'cell': 9}
    >>> rec.attrs["frame_rate_hz"], rec.attrs["pixel_size_um"]
    (100.0, 50.0)
    >>> sorted(set(rec["block"].values.tolist()))
    ['other', 'test', 'train']
    """
    return _read_nwb(Path(path), dict(stimulus=stimulus, intervals=intervals, test_block=test_block,
                                      block_column=block_column, repeat_column=repeat_column,
                                      pixel_size_um=pixel_size_um, stimulus_axes=stimulus_axes, crop=crop,
                                      downsample=downsample, bin_ms=bin_ms, compact=compact))[0]


def inspect_nwb(path: str | os.PathLike, **options: Any) -> tuple[xr.Dataset, Labelling | None]:
    """Read a recording like :func:`read_nwb` and say how its frames were labelled.

    Parameters
    ----------
    path : str or path-like
        The ``.nwb`` file.
    **options
        The keyword arguments of :func:`read_nwb`.

    Returns
    -------
    recording : xarray.Dataset
        What :func:`read_nwb` returns.
    labelling : Labelling or None
        The intervals table, columns and rule that labelled the blocks; None when no
        table was used (every frame is train).
    """
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise TypeError(f"inspect_nwb() got unknown option(s) {unknown}; it takes those of read_nwb: {_OPTIONS}.")
    return _read_nwb(Path(path), options)


def _read_nwb(path: Path, options: dict[str, Any]) -> tuple[xr.Dataset, Labelling | None]:
    """The reading itself, for :func:`read_nwb` and :func:`inspect_nwb` (warnings point at their callers)."""
    axes = options.get("stimulus_axes", "xy")
    if axes not in ("xy", "yx"):
        raise RecordingError(f"stimulus_axes must be 'xy' or 'yx'; got {axes!r}.")
    prep = Preprocessing.of(options.get("crop"), options.get("downsample"), options.get("bin_ms"))
    block_column, test_block = options.get("block_column"), options.get("test_block")
    io, nwbfile = _open(path)
    with io:
        stim = _load_stimulus(_choose_series(nwbfile, options.get("stimulus")), axes,
                              False if prep else options.get("compact"))
        ids, spike_times, obs, cell_coords = load_units(nwbfile)
        tables = _interval_tables(nwbfile)
        table = _choose_table(tables, options.get("intervals"), block_column)
        meta = decode_metadata(stim.comments)
        session_id = meta.get("session_id", nwbfile.session_id or nwbfile.identifier)
        label_args = None if table is None else _table_columns(table)
    rate = float(meta.get("frame_rate_hz") or stim.rate or 1.0 / np.median(np.diff(stim.times)))
    edges = frame_edges(stim.times, None if stim.times.size > 1 else stim.times[0] + 1.0 / rate)
    _warn_dropped(stim)
    pixel_um = _pixel_size(options.get("pixel_size_um"), meta, stim)
    movie, times = stim.movie, stim.times
    if "crop" in prep:
        movie = crop_movie(movie, prep["crop"])
    if "downsample" in prep:
        movie, pixel_um = downsample_movie(movie, prep["downsample"]), pixel_um * prep["downsample"]
    block = repeat = labelling = None
    if label_args is not None:  # labelled on the frames as shown, before any resampling
        block, repeat, labelling = label_frames(
            times, *label_args, movie=movie, test_block=test_block, block_column=block_column,
            repeat_column=options.get("repeat_column"), table=table.name,
        )
    if "bin_ms" in prep:
        times, shown = resample_times(stim.times, edges[-1], prep["bin_ms"] / 1e3)
        movie, rate = movie[shown], 1e3 / prep["bin_ms"]
        edges = np.append(times, times[-1] + prep["bin_ms"] / 1e3)
        if block is not None:  # each bin belongs where the frame on screen at its onset belongs
            block, repeat = block[shown], repeat[shown]
    counts, outside = bin_units(spike_times, times, edges[-1])
    _warn_outside(outside, edges)
    _warn_unobserved(ids, obs, edges)
    extra = {k: v for k, v in meta.items() if k not in ("frame_rate_hz", "pixel_size_um", "session_id",
                                                       "stimulus_name")}
    if prep:
        extra["preprocessing"] = prep.to_json()
    try:
        rec = make_recording(
            movie, counts, times, cell_ids=ids, block=block, repeat=repeat,
            frame_rate_hz=rate, pixel_size_um=pixel_um,
            source_file=str(path.resolve()), session_id=str(session_id),
            stimulus_name=str(meta.get("stimulus_name", stim.name)), extra_attrs=extra,
        )
    except ValueError as err:
        raise RecordingError(f"{path}: {err}") from err
    return rec.assign_coords({k: ("cell", v) for k, v in cell_coords.items()}), labelling


def stimulus_names(path: str | os.PathLike) -> list[str]:
    """Names of the stimulus series in an NWB file that :func:`read_nwb` can read.

    Parameters
    ----------
    path : str or path-like
        The ``.nwb`` file.

    Returns
    -------
    list of str
        Series names, sorted.
    """
    io, nwbfile = _open(Path(path))
    with io:
        return sorted(_movie_series(nwbfile))


def unit_columns(path: str | os.PathLike) -> dict[str, str]:
    """What each per-unit column of an NWB file's Units table holds, under its name in the file.

    Scalar columns become ``cell`` coordinates of the Recording (named ``cell_<column>``);
    array columns (a stored STA, waveforms ...) are described by dtype and shape, and not read.
    ``path`` is the ``.nwb`` file; the result is :func:`retinacodec.io.units.describe_unit_columns`'s
    (column name → one line).
    """
    io, nwbfile = _open(Path(path))
    with io:
        return describe_unit_columns(nwbfile)


def _open(path: Path) -> tuple[NWBHDF5IO, NWBFile]:
    """Open ``path`` read-only; the caller closes the returned io."""
    if not path.exists():
        raise RecordingFileNotFoundError(f"{path} does not exist; check the path to the NWB file.")
    if path.is_dir() or not h5py.is_hdf5(path):
        raise RecordingError(
            f"{path} is not an HDF5/NWB file; convert the recording to NWB first (e.g. with neuroconv)."
        )
    try:
        io = NWBHDF5IO(str(path), "r")
    except Exception as err:
        raise RecordingError(f"{path} is HDF5 but not NWB ({err}); write it with pynwb or neuroconv.") from err
    try:
        return io, io.read()
    except Exception as err:
        io.close()
        raise RecordingError(f"{path} is HDF5 but not readable as NWB ({err}); validate it with pynwb.") from err


def _movie_series(nwbfile: NWBFile) -> dict[str, Any]:
    """The stimulus series that hold a movie: ImageSeries/OpticalSeries and IndexSeries."""
    return {k: v for k, v in nwbfile.stimulus.items() if isinstance(v, (ImageSeries, IndexSeries))}


def _choose_series(nwbfile: NWBFile, name: str | None) -> ImageSeries | IndexSeries:
    """The stimulus series named ``name``, or the only one."""
    series = _movie_series(nwbfile)
    if name is not None:
        if name in series:
            return series[name]
        what = "is not an image or index series" if name in nwbfile.stimulus else "does not exist"
        raise RecordingError(
            f"stimulus series {name!r} {what}; choose one of {sorted(series)} with stimulus=NAME."
        )
    if not series:
        others = sorted(nwbfile.stimulus)
        raise RecordingError(
            "the file has no stimulus movie (no ImageSeries, OpticalSeries or IndexSeries in "
            f"nwbfile.stimulus{'; it has ' + str(others) if others else ''}); add the stimulus to the file."
        )
    if len(series) > 1:
        raise RecordingError(
            f"the file has several stimulus series {sorted(series)}; choose one with stimulus=NAME."
        )
    return next(iter(series.values()))


def _load_stimulus(series: ImageSeries | IndexSeries, axes: str, compact: bool | None = False) -> _Stimulus:
    """Frames (n_frames, ny, nx) float32 (or their codes, see ``read_nwb``'s ``compact``), onsets and timing hints."""
    data = getattr(series, "data", None)
    coded = (isinstance(series, ImageSeries) and data is not None and np.ndim(data) == 3
             and np.issubdtype(data.dtype, np.integer))
    if coded and (compact or (compact is None and np.size(data) * 4 > COMPACT_BYTES)):
        codes = np.asarray(data[:])
        movie = CodedMovie(codes.transpose(0, 2, 1) if axes == "xy" else codes, series.conversion,
                           series.offset or 0.0)
    elif isinstance(series, IndexSeries):
        index = np.asarray(series.data[:], dtype=np.int64)
        movie = _indexed_frames(series, index)
    else:
        if series.data is None or np.size(series.data) == 0:
            raise RecordingError(
                f"stimulus series {series.name!r} keeps its frames in external files "
                f"{list(series.external_file or [])}; store the frames in the NWB file."
            )
        movie = np.asarray(series.data[:])
        if series.conversion != 1.0 or (series.offset or 0.0) != 0.0:
            movie = movie * series.conversion + (series.offset or 0.0)
    if not isinstance(movie, CodedMovie):
        movie = _checked_frames(_to_frames(movie, series.name, axes), series.name)
    fov = getattr(series, "field_of_view", None)
    return _Stimulus(
        name=series.name,
        movie=movie,
        times=_frame_times(series, movie.shape[0]),
        rate=float(series.rate) if series.rate else None,
        field_of_view=None if fov is None else np.asarray(fov[:], dtype=float),
        comments=str(series.comments or ""),
    )


def _checked_frames(movie: np.ndarray, name: str) -> np.ndarray:
    """``movie`` itself, after checking it has no NaN or infinite value."""
    if not np.all(np.isfinite(movie)):
        bad = np.unique(np.nonzero(~np.isfinite(movie))[0])
        raise RecordingError(
            f"stimulus series {name!r} has NaN or infinite values in {bad.size} frame(s) "
            f"(first: frame {bad[0]}); fill or drop those frames in the file."
        )
    return movie


def _indexed_frames(series: IndexSeries, index: np.ndarray) -> np.ndarray:
    """The images an IndexSeries points to, one per index, shape (n_frames, ...)."""
    target = series.indexed_images if series.indexed_images is not None else series.indexed_timeseries
    if isinstance(target, Images):
        images = _ordered_images(target)
        if len({im.shape for im in images}) > 1:
            raise RecordingError(
                f"the images of {target.name!r} differ in shape; resample them to one shape first."
            )
        library = np.stack(images)
    elif isinstance(target, ImageSeries) and target.data is not None:
        library = np.asarray(target.data[:])
    else:
        raise RecordingError(
            f"IndexSeries {series.name!r} points to no images; set indexed_images to an Images container."
        )
    if index.size and (index.min() < 0 or index.max() >= library.shape[0]):
        raise RecordingError(
            f"IndexSeries {series.name!r} has indices outside 0..{library.shape[0] - 1}; "
            "fix the indices or the images they point to."
        )
    return library[index]


def _natural_key(name: str) -> list:
    """Sort key putting ``img2`` before ``img10``."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _ordered_images(images: Images) -> list[np.ndarray]:
    """The images of an Images container in index order (``order_of_images``, else by name)."""
    if images.order_of_images is not None:
        ordered = list(images.order_of_images.data[:])
    else:
        ordered = [images.images[k] for k in sorted(images.images, key=_natural_key)]
    return [np.asarray(im.data[:]) for im in ordered]


def _to_frames(movie: np.ndarray, name: str, axes: str) -> np.ndarray:
    """Stored frames as (n_frames, ny, nx) float32 (RGB averaged to luminance)."""
    if movie.ndim == 4 and movie.shape[-1] in (3, 4):
        warnings.warn(
            f"stimulus series {name!r} is in colour; its RGB channels are averaged to one luminance.",
            RecordingWarning,
            stacklevel=5,
        )
        movie = movie[..., :3].mean(axis=-1)
    if movie.ndim != 3:
        raise RecordingError(
            f"stimulus series {name!r} has frames of shape {movie.shape[1:]}; 2-D images are needed."
        )
    if axes == "xy":
        movie = movie.transpose(0, 2, 1)
    return np.ascontiguousarray(movie, dtype=np.float32)


def _frame_times(series: ImageSeries | IndexSeries, n_frames: int) -> np.ndarray:
    """Frame onsets in seconds, shape (n_frames,), checked."""
    if series.timestamps is not None:
        times = np.asarray(series.timestamps[:], dtype=np.float64)
        if times.size != n_frames:
            raise RecordingError(
                f"stimulus series {series.name!r} has {n_frames} frames but {times.size} timestamps; "
                "give one timestamp per frame."
            )
    elif series.rate:
        times = float(series.starting_time or 0.0) + np.arange(n_frames) / float(series.rate)
    else:
        raise RecordingError(f"stimulus series {series.name!r} has neither timestamps nor a rate; add one.")
    bad = np.flatnonzero(~(np.diff(times) > 0))
    if bad.size:
        i = int(bad[0])
        raise RecordingError(
            f"timestamps of stimulus series {series.name!r} are not increasing: t[{i + 1}] = "
            f"{times[i + 1]:.6f} s is not after t[{i}] = {times[i]:.6f} s; fix the frame times."
        )
    return times


def _interval_tables(nwbfile: NWBFile) -> dict[str, TimeIntervals]:
    """Non-empty intervals tables: epochs, trials and those in ``nwbfile.intervals``."""
    tables = dict(nwbfile.intervals or {})
    for table in (nwbfile.epochs, nwbfile.trials):
        if table is not None:
            tables[table.name] = table
    return {k: v for k, v in tables.items() if len(v) > 0 and k != "invalid_times"}


def _choose_table(
    tables: dict[str, TimeIntervals], name: str | Literal[False] | None, block_column: str | None
) -> TimeIntervals | None:
    """The intervals table that labels blocks, or None."""
    if name is False:
        return None
    if name is not None:
        if name not in tables:
            raise RecordingError(
                f"intervals table {name!r} does not exist (or is empty); choose one of {sorted(tables)}."
            )
        return tables[name]
    usable = [t for t in tables.values() if label_column(dict.fromkeys(t.colnames), block_column)]
    if tables and not usable:
        columns = ", ".join(f"{t.name!r}: {', '.join(c for c in t.colnames if c not in ('start_time', 'stop_time'))}"
                            for t in tables.values())
        warnings.warn(
            f"no intervals table has a column retinacodec recognises as block or stimulus labels ({columns}); "
            "every frame is labelled train. Pass block_column=NAME (--block-column NAME) to use one.",
            RecordingWarning,
            stacklevel=4,
        )
    if len(usable) > 1:
        raise RecordingError(
            f"several intervals tables could label blocks {sorted(t.name for t in usable)}; "
            "choose one with intervals=NAME (or intervals=False to ignore them)."
        )
    return usable[0] if usable else None


def _table_columns(table: TimeIntervals) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Start, stop (seconds) and the other scalar columns of an intervals table."""
    columns = {
        c: np.asarray(table[c].data[:])
        for c in table.colnames
        if c not in ("start_time", "stop_time") and f"{c}_index" not in table
    }
    start = np.asarray(table.start_time.data[:], dtype=np.float64)
    stop = np.asarray(table.stop_time.data[:], dtype=np.float64)
    return start, stop, {c: v for c, v in columns.items() if v.ndim == 1}


def _pixel_size(given: float | None, meta: dict[str, Any], stim: _Stimulus) -> float:
    """Pixel size in micrometres: argument, metadata, OpticalSeries field of view, else 1.0.

    A 1×1 (full-field) stimulus has no meaningful pixel size: 1.0 without a warning.
    """
    if given is not None:
        return float(given)
    if "pixel_size_um" in meta:
        return float(meta["pixel_size_um"])
    if stim.field_of_view is not None and stim.field_of_view.size >= 1 and stim.field_of_view[0] > 0:
        return float(stim.field_of_view[0] / stim.movie.shape[2] * 1e6)
    if stim.movie.shape[1:] == (1, 1):  # full field: a pixel size means nothing
        return 1.0
    warnings.warn(
        f"the file does not give the pixel size of stimulus {stim.name!r}; using 1.0 um. "
        "Pass pixel_size_um= (--pixel-size-um) to set it.",
        RecordingWarning,
        stacklevel=4,
    )
    return 1.0


def _warn_dropped(stim: _Stimulus) -> None:
    """Warn about frame intervals over 1.5 times the median (dropped frames)."""
    long = long_intervals(stim.times)
    if long.size:
        t = stim.times
        warnings.warn(
            f"stimulus {stim.name!r}: {long.size} frame interval(s) longer than 1.5x the median "
            f"({np.median(np.diff(t)) * 1e3:.2f} ms), likely dropped frame(s); first at t = {t[long[0]]:.4f} s "
            f"(after frame {long[0]}, interval {(t[long[0] + 1] - t[long[0]]) * 1e3:.2f} ms). "
            "Spikes are binned on the actual frame times.",
            RecordingWarning,
            stacklevel=4,
        )


def _warn_outside(outside: np.ndarray, edges: np.ndarray) -> None:
    """Warn about spikes outside the stimulus period."""
    n = int(outside.sum())
    if n:
        warnings.warn(
            f"{n} spike(s) from {int(np.count_nonzero(outside))} unit(s) lie outside the stimulus period "
            f"[{edges[0]:.4f}, {edges[-1]:.4f}) s and were not counted.",
            RecordingWarning,
            stacklevel=4,
        )


def _warn_unobserved(ids: np.ndarray, obs: list[np.ndarray] | None, edges: np.ndarray) -> None:
    """Warn about units whose obs_intervals do not cover the stimulus period."""
    if obs is None:
        return
    onsets = edges[:-1]
    partial = []
    for unit_id, iv in zip(ids, obs, strict=True):
        observed = np.zeros(onsets.size, dtype=bool)
        for a, b in iv:
            observed |= (onsets >= a) & (onsets < b)
        if iv.size and not observed.all():
            partial.append(int(unit_id))
    if partial:
        warnings.warn(
            f"{len(partial)} unit(s) (ids {partial[:10]}{'...' if len(partial) > 10 else ''}) were not observed "
            "during the whole stimulus period (obs_intervals); their counts are 0 where unobserved.",
            RecordingWarning,
            stacklevel=4,
        )
