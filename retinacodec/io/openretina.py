"""Read openretina's HDF5 dataset layout (``openretina.data_io.h5_dataset_reader``, v1.1) into a Recording.

The layout
----------
A folder of sessions that share their stimuli::

    <folder>/stimuli/<name>.npy        (channels, T, ny, nx) one movie per stimulus name
    <folder>/<session>.h5 (or .hdf5)   one file per recorded session, holding
        responses_<name>               (n_neurons, T) the response to stimulus <name>
        stimulus_<name>                (channels, T, ny, nx) optional: a session's own copy of
                                       a stimulus, used instead of stimuli/<name>.npy
        session_info/<key>             optional per-session information (e.g. celltypes)

openretina concatenates the train stimuli in sorted name order and keeps the names listed as
``test_names`` (in its configuration, not in the files) apart as test stimuli.

How it becomes a Recording
--------------------------
Each stimulus with responses becomes one segment, in sorted name order, laid out on one clock
with a pause of ``gap_s`` between segments (the files store no times; frame ``i`` of a segment
starts at ``i / frame_rate_hz``). Segments named in ``test_stimuli`` form the test block; when
several are named they must show the same movie, and each becomes one repeat (in sorted name
order). Responses must be spike counts. ``session_info`` arrays with one value per neuron
become ``cell_<key>`` coordinates.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import xarray as xr

from retinacodec.io.errors import RecordingError, RecordingFileNotFoundError
from retinacodec.io.lab_layout import Segment, join_segments, resolve_pixel_size, spike_counts

__all__ = ["read_openretina", "openretina_sessions"]

_RESPONSES = "responses_"
_OWN_STIMULUS = "stimulus_"
_SESSION_SUFFIXES = (".h5", ".hdf5")


def openretina_sessions(folder: str | os.PathLike) -> list[str]:
    """Names of the sessions (``.h5`` / ``.hdf5`` file stems) in an openretina data folder, sorted."""
    folder = Path(folder)
    return sorted(p.stem for p in folder.iterdir() if p.suffix in _SESSION_SUFFIXES and p.is_file())


def read_openretina(
    path: str | os.PathLike,
    *,
    frame_rate_hz: float,
    session: str | None = None,
    test_stimuli: Sequence[str] = (),
    channel: int | None = None,
    pixel_size_um: float | None = None,
    gap_s: float = 1.0,
) -> xr.Dataset:
    """Read one session of an openretina HDF5 dataset.

    Parameters
    ----------
    path : str or path-like
        The data folder (holding ``stimuli/`` and the session files), or one session file.
    frame_rate_hz : float
        Frames per second of the stimuli and responses (openretina keeps it in its
        configuration, not in the files).
    session : str, optional
        Session (file stem) to read; needed when ``path`` is a folder with several.
    test_stimuli : sequence of str
        Stimulus names that form the test block (openretina's ``test_names``); each one is a
        repeat of the same movie. By default every stimulus is train.
    channel : int, optional
        Colour channel to keep when the stimuli have several.
    pixel_size_um : float, optional
        Stimulus pixel size on the retina (µm); 1.0 with a warning when not given, unless
        the stimulus is full-field.
    gap_s : float
        Pause placed between consecutive stimulus segments, in seconds.

    Returns
    -------
    xarray.Dataset
        A valid Recording; ``session_id`` is the session name, ``stimulus_name`` the
        stimulus names joined by ``+``, and ``source_format`` is ``"openretina-hdf5"``.

    Raises
    ------
    RecordingFileNotFoundError
        ``path`` does not exist.
    RecordingError
        The folder or file is not in this layout or is inconsistent; the message says what
        and how to fix it.

    Examples
    --------
    A folder in openretina's HDF5 layout (movies in ``stimuli/``, one file of responses per session):

    >>> import h5py
    >>> from pathlib import Path
    >>> rng = np.random.default_rng(0)
    >>> Path("openretina/stimuli").mkdir(parents=True)
    >>> for name, n in (("train_0", 200), ("repeat_0", 50)):
    ...     np.save(f"openretina/stimuli/{name}.npy", rng.normal(size=(1, n, 8, 8)).astype(np.float32))
    >>> with h5py.File("openretina/session_0.hdf5", "w") as f:
    ...     f["responses_train_0"] = rng.poisson(1.0, (3, 200)).astype(np.float32)
    ...     f["responses_repeat_0"] = rng.poisson(1.0, (3, 50)).astype(np.float32)
    >>> rec = rc.io.read_openretina("openretina", frame_rate_hz=30, test_stimuli=["repeat_0"], pixel_size_um=50)
    >>> dict(rec.sizes)
    {'frame': 250, 'y': 8, 'x': 8, 'cell': 3}
    """
    if not frame_rate_hz or frame_rate_hz <= 0:
        raise RecordingError(f"frame_rate_hz must be > 0; got {frame_rate_hz}.")
    file = _session_file(Path(path), session)
    folder = file.parent
    with h5py.File(file, "r") as f:
        names = sorted(k.removeprefix(_RESPONSES) for k in f.keys() if k.startswith(_RESPONSES))
        if not names:
            raise RecordingError(
                f"{file} has no responses_<stimulus> datasets (it holds {sorted(f.keys())}); an openretina "
                "session file stores one (n_neurons, time) array per stimulus."
            )
        missing = sorted(set(test_stimuli) - set(names))
        if missing:
            raise RecordingError(f"test stimuli {missing} have no responses in {file.name}; choose from {names}.")
        responses = {n: np.asarray(f[_RESPONSES + n][()]) for n in names}
        movies = {n: _movie(f, folder, n, channel) for n in names}
        info = {k: _plain(v[()]) for k, v in f.get("session_info", {}).items() if isinstance(v, h5py.Dataset)}
    n_neurons = _check_shapes(responses, movies)
    test = sorted(test_stimuli)
    for name in test[1:]:
        if movies[name].shape != movies[test[0]].shape or not np.array_equal(movies[name], movies[test[0]]):
            raise RecordingError(
                f"test stimuli {test[0]!r} and {name!r} show different movies; the test block is one movie "
                "repeated, so name only repeats of the same movie in test_stimuli."
            )
    segments = [
        Segment(movies[n], spike_counts(responses[n].T, f"{file.name}:{_RESPONSES}{n}"),
                np.arange(responses[n].shape[1]) / float(frame_rate_hz),
                "test" if n in test else "train", test.index(n) if n in test else -1)
        for n in names
    ]
    coords = {_cell_coord(k): v for k, v in info.items() if v.shape == (n_neurons,)}
    rec = join_segments(
        segments, gap_s, frame_rate_hz=float(frame_rate_hz),
        pixel_size_um=resolve_pixel_size(pixel_size_um, movies[names[0]].shape[1:], file),
        source_file=str(file), session_id=file.stem, stimulus_name="+".join(names),
        extra_attrs={"source_format": "openretina-hdf5", "segments": names,
                     "time_note": f"stimulus segments placed in name order, {gap_s:g} s apart (the files store "
                                  "no times)"},
    )
    return rec.assign_coords({k: ("cell", v) for k, v in coords.items()})


def _session_file(path: Path, session: str | None) -> Path:
    """The session file that ``path`` (a folder or a file) and ``session`` name."""
    if not path.exists():
        raise RecordingFileNotFoundError(f"no openretina data folder or session file at {path}.")
    if path.is_file():
        if not h5py.is_hdf5(path):
            raise RecordingError(f"{path} is not an HDF5 file; openretina session files are .h5 / .hdf5.")
        return path
    sessions = openretina_sessions(path)
    if not sessions:
        raise RecordingError(f"{path} holds no session files (.h5 / .hdf5); it is not an openretina data folder.")
    if session is None:
        if len(sessions) > 1:
            raise RecordingError(f"{path} holds {len(sessions)} sessions {sessions}; choose one with session=.")
        session = sessions[0]
    if session not in sessions:
        raise RecordingError(f"{path} has no session {session!r}; choose from {sessions}.")
    return next(p for p in path.iterdir() if p.stem == session and p.suffix in _SESSION_SUFFIXES)


def _movie(f: h5py.File, folder: Path, name: str, channel: int | None) -> np.ndarray:
    """The movie of stimulus ``name`` as (T, ny, nx) float32: the session's own copy, else stimuli/<name>.npy."""
    if _OWN_STIMULUS + name in f:
        movie, where = np.asarray(f[_OWN_STIMULUS + name][()]), f"{Path(f.filename).name}:{_OWN_STIMULUS}{name}"
    else:
        npy = folder / "stimuli" / f"{name}.npy"
        if not npy.is_file():
            raise RecordingError(
                f"stimulus {name!r} has responses but no movie: neither {npy} nor a {_OWN_STIMULUS}{name} "
                "dataset in the session file exists."
            )
        movie, where = np.load(npy, allow_pickle=False), str(npy)
    if movie.ndim != 4:
        raise RecordingError(f"{where} has shape {movie.shape}; openretina stimuli are (channels, time, ny, nx).")
    if channel is None:
        if movie.shape[0] != 1:
            raise RecordingError(
                f"{where} has {movie.shape[0]} colour channels; a Recording holds one: choose it with channel=."
            )
        channel = 0
    if not 0 <= channel < movie.shape[0]:
        raise RecordingError(f"channel {channel} does not exist in {where} ({movie.shape[0]} channels).")
    return movie[channel].astype(np.float32)


def _check_shapes(responses: dict[str, np.ndarray], movies: dict[str, np.ndarray]) -> int:
    """Check responses against movies; returns the number of neurons."""
    neurons = {n: r.shape[0] if r.ndim == 2 else -1 for n, r in responses.items()}
    if len(set(neurons.values())) != 1 or -1 in neurons.values():
        raise RecordingError(
            f"responses must be (n_neurons, time) with the same neurons for every stimulus; got shapes "
            f"{ {n: r.shape for n, r in responses.items()} }."
        )
    for n, r in responses.items():
        if r.shape[1] != movies[n].shape[0]:
            raise RecordingError(
                f"responses_{n} has {r.shape[1]} time bins but its stimulus has {movies[n].shape[0]} frames; "
                "they must match."
            )
    sizes = {m.shape[1:] for m in movies.values()}
    if len(sizes) > 1:
        raise RecordingError(f"the stimuli have different frame sizes {sorted(sizes)}; they must share one.")
    return next(iter(neurons.values()))


def _plain(value: object) -> np.ndarray:
    """An HDF5 value as an array, byte strings decoded to str."""
    arr = np.asarray(value)
    return np.char.decode(arr.astype(bytes), "utf-8") if arr.dtype.kind in "SO" else arr


def _cell_coord(key: str) -> str:
    """Coordinate name of a per-neuron session_info entry, as the NWB reader names Units columns."""
    return key if key.startswith("cell") else f"cell_{key}"
