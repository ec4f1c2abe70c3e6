"""Analyses of long and many recordings as tasks on a Dask cluster (``dask.distributed``).

A recording's response frames are cut into tasks of ``frames_per_task`` frames. Each task
runs the in-process function (:func:`~retinacodec.attribution.contributions_for_recording`,
:func:`~retinacodec.rf.instantaneous_rf`) on its frames and writes its rows in place into one
Zarr store, laid out as the in-process result (``xarray.open_zarr(path)`` gives the same
Dataset). Workers load the model from its checkpoint and the recording from its file once
each (cached per worker process); a recording in NetCDF (``.nc``) or Zarr (``.zarr``) is
opened lazily, so a task reads only its own frames. Fits of many recordings, seeds or
hyper-parameters run as tasks too (:func:`sweep`), their evaluations gathered in one Dataset.

Needs the ``scale`` extra: ``pip install "retinacodec[scale]"``.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

try:
    import dask.array as da
    from dask.distributed import Client, LocalCluster, as_completed, get_worker
except ImportError as exc:  # pragma: no cover - the extra is installed with the tests
    raise ImportError("retinacodec.scale.cluster needs Dask: pip install 'retinacodec[scale]'.") from exc

__all__ = ["cluster_client", "open_recording", "contributions_on_cluster", "irf_on_cluster", "sta_on_cluster",
           "sweep"]

PathLike = str | os.PathLike


@contextmanager
def cluster_client(client: Client | None = None, n_workers: int = 2, threads_per_worker: int = 1,
                   memory_limit: str = "4GiB") -> Iterator[Client]:
    """The given client, or a client of a new ``LocalCluster`` of worker processes, closed on exit.

    Parameters
    ----------
    client : dask.distributed.Client, optional
        A client of the user's cluster (``Client("tcp://scheduler:8786")``, dask-jobqueue ...).
    n_workers, threads_per_worker : int
        Size of the local cluster when ``client`` is None (one torch thread per Dask thread).
    memory_limit : str
        Per local worker; Dask pauses and then restarts a worker above it.
    """
    if client is not None:
        yield client
        return
    with LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True,
                      memory_limit=memory_limit, dashboard_address=None) as cluster, Client(cluster) as local:
        yield local


def _worker_threads() -> None:
    """One torch thread per Dask thread of this worker (torch would otherwise take every core)."""
    import torch

    try:
        worker = get_worker()
    except ValueError:  # called outside a worker (a synchronous scheduler)
        return
    state = getattr(worker, "state", worker)
    torch.set_num_threads(max(1, int(getattr(state, "nthreads", 1))))


@functools.lru_cache(maxsize=4)
def _cached_model(path: str, mtime: float):  # noqa: ANN202
    from retinacodec.model.checkpoint import load_model

    _worker_threads()
    return load_model(path)


@functools.lru_cache(maxsize=4)
def _cached_recording(path: str, mtime: float) -> xr.Dataset:
    from retinacodec.io import read_recording

    if path.endswith(".zarr"):
        return xr.open_zarr(path)
    if path.endswith(".nc"):
        return xr.open_dataset(path)
    return read_recording(path)


def _key(path: PathLike) -> tuple[str, float]:
    """A cache key that changes when the file is rewritten."""
    path = Path(path).resolve()
    if not path.exists():
        raise FileNotFoundError(f"no file at {path}; workers read models and recordings from paths they can reach.")
    return str(path), path.stat().st_mtime


def open_recording(path: PathLike) -> xr.Dataset:
    """A recording file as a Recording, once per process: ``.nc`` and ``.zarr`` lazily, other layouts read whole.

    Parameters
    ----------
    path : path-like
        NetCDF (``recording.to_netcdf``), Zarr (``recording.to_zarr``), or any layout
        :func:`retinacodec.io.read_recording` reads (NWB, torch-deep-retina, openretina).
    """
    return _cached_recording(*_key(path))


def _frames_slice(recording: xr.Dataset, frames: np.ndarray, history: int) -> tuple[xr.Dataset, int]:
    """The frames a chunk's windows need, loaded, and the index of its first frame in the recording."""
    lo = int(frames.min()) - history + 1
    return recording.isel(frame=slice(lo, int(frames.max()) + 1)).load(), lo


def _compute(kind: str, model_path: PathLike, recording_path: PathLike, frames: np.ndarray,
             options: dict) -> xr.Dataset:
    """One chunk's result, in the in-process function's layout, with the recording's frame indices."""
    from retinacodec.attribution.recording import contributions_for_recording
    from retinacodec.rf.irf import instantaneous_rf

    model = _cached_model(*_key(model_path))
    part, lo = _frames_slice(open_recording(recording_path), frames, model.config.history)
    if kind == "contributions":
        ds = contributions_for_recording(model, part, frames=frames - lo, progress=False, **options)
    else:
        ds = instantaneous_rf(model, part, frames=frames - lo, progress=False, **options)
    return ds.assign_coords(frame=frames)


def _write_chunk(kind: str, model_path: PathLike, recording_path: PathLike, frames: np.ndarray, options: dict,
                 store: str, start: int) -> dict:
    """Compute a chunk and write its rows into the store at ``start``; return its cost."""
    t0 = time.perf_counter()
    ds = _compute(kind, model_path, recording_path, frames, options)
    ds = ds.drop_vars([name for name, var in ds.variables.items() if "frame" not in var.dims])
    ds.to_zarr(store, region={"frame": slice(start, start + frames.size)})
    return {"frames": int(frames.size), "seconds": time.perf_counter() - t0, "peak_rss_mb": _peak_rss_mb(),
            "pid": os.getpid()}


def _peak_rss_mb() -> float:
    """Peak resident memory of this process (MB): VmHWM on Linux, which starts afresh at exec.

    ``ru_maxrss`` would not do: Linux keeps it across fork and exec, so a worker process started
    by a large client would report the client's peak.
    """
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _default_frames(model_path: PathLike, recording_path: PathLike) -> np.ndarray:
    """The in-process default: :func:`retinacodec.model.frames.default_frames` (test repeat 0 ...)."""
    from retinacodec.model.frames import default_frames

    model = _cached_model(*_key(model_path))
    rec = open_recording(recording_path)
    return default_frames(rec[["time", "block", "repeat"]].load(), model.config.history,
                          getattr(model, "metadata", None))


def _irf_frames_per_pass(model_path: PathLike, recording_path: PathLike, frame: int, options: dict) -> int:
    """Frames per pass of the in-process :func:`~retinacodec.rf.instantaneous_rf` (its memory plan).

    Tasks are whole multiples of it, so that every pass holds the frames it holds in-process: a
    backward pass over another number of frames may round differently in the last bit.
    """
    import torch

    from retinacodec.attribution.hooks import model_device, prepared
    from retinacodec.device import resolve_device
    from retinacodec.rf.gradients import InputGradients
    from retinacodec.rf.irf import _cell_indices, _plan
    from retinacodec.rf.stimulus import window_batch

    model = _cached_model(*_key(model_path))
    part, lo = _frames_slice(open_recording(recording_path), np.array([frame]), model.config.history)
    device = options.get("device")
    dev = resolve_device(device) if device is not None else model_device(model)
    with prepared(model, dev):
        x1 = torch.from_numpy(window_batch(part["stimulus"], np.array([frame - lo]), model.config.history,
                                           model.normalization)).to(dev)
        grads = InputGradients(model, x1, options.get("method", "gradient"), int(options.get("steps", 20)))
        n_cells = len(_cell_indices(part, options.get("cells")))
        return _plan(model, x1, n_cells, grads.alphas.numel(), options.get("max_memory_gb", 1.0), dev)[0]


def _template(probe: xr.Dataset, frames: np.ndarray, frames_per_task: int) -> xr.Dataset:
    """The full result's layout, lazily zero: the probe's variables with ``frame`` as long as ``frames``."""
    variables = {}
    for name, var in probe.variables.items():
        if name == "frame" or "frame" not in var.dims:
            continue
        shape = tuple(frames.size if d == "frame" else n for d, n in zip(var.dims, var.shape, strict=True))
        chunks = tuple(frames_per_task if d == "frame" else n for d, n in zip(var.dims, var.shape, strict=True))
        variables[name] = xr.Variable(var.dims, da.zeros(shape, dtype=var.dtype, chunks=chunks), var.attrs)
    coords = {k: v for k, v in probe.coords.items() if "frame" not in v.dims}
    coords.update({k: variables.pop(k) for k in list(variables) if k in probe.coords})
    data = {k: v for k, v in probe.data_vars.items() if "frame" not in v.dims}
    data.update(variables)
    return xr.Dataset(data, coords={"frame": ("frame", frames), **coords}, attrs=probe.attrs)


def _run_frames(kind: str, model: PathLike, recording: PathLike, out: PathLike, frames: np.ndarray | None,
                frames_per_task: int, options: dict, client: Client | None, n_workers: int, overwrite: bool,
                progress: bool | None) -> Path:
    """Cut the frames into tasks, write each task's rows into one Zarr store, rename it to ``out`` when done."""
    if frames_per_task < 1:
        raise ValueError(f"frames_per_task must be >= 1; got {frames_per_task}.")
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; remove it or pass overwrite=True.")
    model, recording = Path(model).resolve(), Path(recording).resolve()
    _key(model), _key(recording)
    with cluster_client(client, n_workers) as cl:
        if frames is None:
            frames = cl.submit(_default_frames, model, recording, pure=False).result()
        frames = np.asarray(frames, dtype=np.int64)
        if frames.ndim != 1 or frames.size == 0:
            raise ValueError("frames must be a non-empty 1-d array of frame indices.")
        # the in-process function's own checks (frame range, options) run here, on one frame
        probe = cl.submit(_compute, kind, model, recording, frames[:1], options, pure=False).result()
        if kind == "irf":
            per_pass = cl.submit(_irf_frames_per_pass, model, recording, int(frames[0]), options, pure=False).result()
            frames_per_task = per_pass * max(1, round(frames_per_task / per_pass))
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.stem}.tmp-", suffix=".zarr", dir=out.parent))
        try:
            _template(probe, frames, frames_per_task).to_zarr(tmp, mode="w", compute=False, zarr_format=2)
            starts = range(0, frames.size, frames_per_task)
            futures = [cl.submit(_write_chunk, kind, model, recording, frames[s:s + frames_per_task], options,
                                 str(tmp), s, pure=False) for s in starts]
            costs = []
            with tqdm(total=frames.size, desc=kind, unit="frame",
                      disable=(not progress) if progress is not None else None) as bar:
                for future in as_completed(futures):
                    costs.append(future.result())
                    bar.update(costs[-1]["frames"])
            n_workers_used = len({c["pid"] for c in costs})
            xr.Dataset(attrs={  # mode "a" replaces the store's attributes: the result's, and the run's
                **probe.attrs, "cluster_tasks": len(costs), "cluster_frames_per_task": int(frames_per_task),
                "cluster_workers": n_workers_used,
                "cluster_task_seconds_median": float(np.median([c["seconds"] for c in costs])),
                "cluster_peak_rss_mb": float(max(c["peak_rss_mb"] for c in costs)),
            }).to_zarr(tmp, mode="a")
            if out.exists():
                shutil.rmtree(out) if out.is_dir() else out.unlink()
            os.replace(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def contributions_on_cluster(model: PathLike, recording: PathLike, layers: str | list[str], out: PathLike, *,
                             frames: np.ndarray | None = None, chunk_size: int = 256, frames_per_task: int = 4096,
                             client: Client | None = None, n_workers: int = 2, overwrite: bool = False,
                             progress: bool | None = None, **options) -> Path:
    """Contributions of hidden units for every response frame, computed as tasks on a Dask cluster.

    Parameters
    ----------
    model : path-like
        A checkpoint from :func:`retinacodec.fit` (read by every worker, once).
    recording : path-like
        The recording file (see :func:`~retinacodec.scale.cluster.open_recording`); ``.nc``/``.zarr`` are read lazily,
        each task reading its own frames and ``history - 1`` before them.
    layers : str or list of str
        Layer names, e.g. ``["layer1", "layer2"]``.
    out : path-like
        The Zarr store to write (a folder), complete or absent: written under a temporary
        name, renamed when every task is done.
    frames : ndarray of int, optional
        Response frames; default as in-process, the frames of test repeat 0.
    chunk_size : int
        Frames per attribution pass inside a task, as in-process.
    frames_per_task : int
        Frames per task, and the Zarr chunk along ``frame``; a multiple of ``chunk_size``
        keeps every pass the same as in-process, so the result is bit-for-bit the same.
    client : dask.distributed.Client, optional
        The cluster to use; default a ``LocalCluster`` of ``n_workers`` single-threaded
        processes, closed afterwards.
    n_workers : int
        Workers of that local cluster.
    overwrite : bool
        Replace ``out`` if it exists.
    progress : bool, optional
        A bar over frames done; default only on a terminal.
    **options
        Of :func:`~retinacodec.attribution.contributions` (``method``, ``steps``, ``reduce`` ...).

    Returns
    -------
    pathlib.Path
        ``out``; ``xarray.open_zarr(out)`` holds the Dataset of
        :func:`~retinacodec.attribution.contributions_for_recording`, with attributes
        ``cluster_tasks``, ``cluster_workers``, ``cluster_task_seconds_median`` and
        ``cluster_peak_rss_mb`` (the largest peak resident memory of a worker process).
    """
    if frames_per_task % chunk_size:
        raise ValueError(f"frames_per_task ({frames_per_task}) must be a multiple of chunk_size ({chunk_size}), "
                         "so that every attribution pass is the in-process one.")
    options = {"layers": layers, "chunk_size": chunk_size, **options}
    return _run_frames("contributions", model, recording, out, frames, frames_per_task, options, client, n_workers,
                       overwrite, progress)


def irf_on_cluster(model: PathLike, recording: PathLike, out: PathLike, *, frames: np.ndarray | None = None,
                   cells: object = None, frames_per_task: int = 1024, client: Client | None = None,
                   n_workers: int = 2, overwrite: bool = False, progress: bool | None = None, **options) -> Path:
    """Instantaneous receptive fields at every response frame, computed as tasks on a Dask cluster.

    Parameters
    ----------
    model, recording, out, frames, client, n_workers, overwrite, progress
        As :func:`contributions_on_cluster`.
    cells : cell id or sequence of cell ids, optional
        Which cells; default all.
    frames_per_task : int
        Frames per task and Zarr chunk along ``frame``, rounded to a whole number of the
        in-process passes (whose size follows ``max_memory_gb``), so that the result is
        bit-for-bit the in-process one.
    **options
        Of :func:`~retinacodec.rf.instantaneous_rf`: ``method``, ``steps``, ``rank1``,
        ``max_memory_gb``, ``device``. ``crop`` is refused: in-process its windows are
        placed from the first chunk's frames, which a task does not see.

    Returns
    -------
    pathlib.Path
        ``out``; ``xarray.open_zarr(out)`` holds the Dataset of
        :func:`~retinacodec.rf.instantaneous_rf`, plus the ``cluster_*`` attributes.
    """
    if options.get("crop") is not None:
        raise ValueError("crop is not available on a cluster (its windows are placed from the first chunk's "
                         "frames); keep rank1=True or the full IRFs, and crop the saved maps afterwards.")
    options = {"cells": cells, **options}
    return _run_frames("irf", model, recording, out, frames, frames_per_task, options, client, n_workers, overwrite,
                       progress)


def _sta_task(recording: PathLike, options: dict) -> xr.Dataset:
    from retinacodec.rf.sta import sta

    return sta(open_recording(recording).load(), progress=False, **options)


def sta_on_cluster(recordings: Mapping[str, PathLike], *, client: Client | None = None, n_workers: int = 2,
                   progress: bool | None = None, **options) -> dict[str, xr.Dataset]:
    """Spike-triggered averages of many recordings, one task each.

    One recording's STA is a single streamed pass whose memory does not grow with its length
    (:func:`~retinacodec.rf.sta`), so the unit of work is the recording.

    Parameters
    ----------
    recordings : mapping of name to path-like
        The recordings.
    client, n_workers, progress
        As :func:`contributions_on_cluster`.
    **options
        Of :func:`~retinacodec.rf.sta` (``history``, ``block``, ``n_bins`` ...).

    Returns
    -------
    dict of str to xarray.Dataset
        Each recording's STA Dataset (their cells differ, so they are not stacked).
    """
    paths = {name: Path(p).resolve() for name, p in recordings.items()}
    for p in paths.values():
        _key(p)
    with cluster_client(client, n_workers) as cl:
        futures = {cl.submit(_sta_task, p, options, pure=False): name for name, p in paths.items()}
        done = {}
        for future in tqdm(as_completed(futures), total=len(futures), desc="sta", unit="recording",
                           disable=(not progress) if progress is not None else None):
            done[futures[future]] = future.result()
    return {name: done[name] for name in paths}


def _fit_task(index: int, run: dict, out_dir: str) -> xr.Dataset:
    """Fit one run, save its checkpoint, and return its evaluation with the run's labels."""
    import torch

    from retinacodec.model.evaluation import evaluate
    from retinacodec.model.training import fit

    _worker_threads()
    run = dict(run)
    rec = open_recording(run.pop("recording")).load()
    truth_path = run.pop("truth", None)
    truth = xr.load_dataset(truth_path) if truth_path is not None else None
    checkpoint = Path(out_dir) / f"run{index:04d}.pt"
    t0 = time.perf_counter()
    model = fit(rec, checkpoint=checkpoint, progress=False, device=run.pop("device", "cpu"), **run)
    seconds = time.perf_counter() - t0
    ev = evaluate(model, rec, truth)
    medians = {k: float(v) for k, v in ev.attrs.items() if k.startswith("median_")}
    ev = ev.assign(**medians, fit_seconds=seconds, epochs=len(model.metadata["fit_log"]),
                   best_val_r=max(e["val_r"] for e in model.metadata["fit_log"]))
    ev.attrs = {}
    return ev.expand_dims(run=[index]).assign_coords(checkpoint=("run", [str(checkpoint)]),
                                                     torch_threads=("run", [torch.get_num_threads()]))


def sweep(runs: Sequence[Mapping], out_dir: PathLike, *, client: Client | None = None, n_workers: int = 2,
          progress: bool | None = None) -> xr.Dataset:
    """Fit many models as tasks (recordings × seeds × hyper-parameters) and gather their evaluations.

    Parameters
    ----------
    runs : sequence of mappings
        One per fit: ``recording`` (path, see :func:`~retinacodec.scale.cluster.open_recording`), optionally ``truth``
        (a simulator truth NetCDF, adds ``r_truth``), and any keyword of
        :func:`retinacodec.fit` (``seed``, ``preset``, ``config``, ``epochs``, ``lr``,
        ``batch_size``, ``max_minutes`` ...). Build them with ``itertools.product``.
    out_dir : path-like
        Checkpoints are written there as ``run0000.pt`` ...
    client, n_workers, progress
        As :func:`contributions_on_cluster`; each fit takes one worker thread.

    Returns
    -------
    xarray.Dataset
        :func:`~retinacodec.model.evaluation.evaluate`'s per-cell scores with a ``run``
        dimension (cells joined by id: NaN where a run's recording lacks a cell), the median
        scores, ``fit_seconds``, ``epochs`` and ``best_val_r`` per run, and as ``run``
        coordinates the checkpoint and every plain-valued field of the runs.
    """
    if not runs:
        raise ValueError("runs is empty; give at least one {'recording': path, ...}.")
    runs = [dict(r) for r in runs]
    for i, r in enumerate(runs):
        if "recording" not in r:
            raise ValueError(f"run {i} has no 'recording'; each run needs {{'recording': path, ...}}.")
        r["recording"] = str(Path(r["recording"]).resolve())
        _key(r["recording"])
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with cluster_client(client, n_workers) as cl:
        futures = [cl.submit(_fit_task, i, r, str(out_dir), pure=False) for i, r in enumerate(runs)]
        evals = []
        for future in tqdm(as_completed(futures), total=len(futures), desc="sweep", unit="fit",
                           disable=(not progress) if progress is not None else None):
            evals.append(future.result())
    result = xr.concat(sorted(evals, key=lambda e: int(e["run"][0])), dim="run", join="outer", coords="minimal",
                       data_vars="all")
    labels = {k for r in runs for k, v in r.items() if isinstance(v, str | int | float | bool)}
    for k in sorted(labels):
        values = [r.get(k, "") for r in runs]
        result = result.assign_coords({k: ("run", np.asarray([str(v) for v in values])
                                           if any(isinstance(v, str) for v in values) else np.asarray(values))})
    result.attrs["description"] = "evaluations of a sweep of fits (retinacodec.scale.sweep)"
    return result
