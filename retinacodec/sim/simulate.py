"""A simulated experiment: a ground-truth retina shown a training movie and repeated test clips.

:func:`simulate_retina` runs a :class:`~retinacodec.sim.circuit.RetinaCircuit` on a stimulus
laid out like a real recording and draws Poisson spikes, returning the Recording and the
circuit's noise-free internals (the ground truth every later analysis is checked against).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import xarray as xr
from scipy import signal

from retinacodec.atomic import save_netcdf
from retinacodec.recording import make_recording
from retinacodec.sim.circuit import RetinaCircuit
from retinacodec.sim.stimuli import flash_sequence, natural_movie, white_noise

__all__ = [
    "STIMULI",
    "RetinaCircuit",
    "flash_trains",
    "load_truth",
    "save_truth",
    "simulate_retina",
    "simulate_run_freeze",
]

STIMULI = ("white_noise", "natural")


def _movie(kind: str, n_frames: int, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """``n_frames`` of the named stimulus, shape (n_frames, ny, nx), float32 contrast."""
    if kind == "white_noise":
        return white_noise(n_frames, size=size, seed=rng)
    return natural_movie(n_frames, size=size, seed=rng)


def flash_trains(n_frames: int, size: tuple[int, int], rng: np.random.Generator,
                 periods: tuple[int, int] = (5, 15), n_flashes: tuple[int, int] = (3, 8), duration: int = 2,
                 intensity: float = -2.0, pause: tuple[int, int] = (30, 60)) -> np.ndarray:
    """Full-field flash trains with random periods, each followed by grey (the OSR's training stimulus).

    Parameters
    ----------
    n_frames : int
        Length of the movie.
    size : (int, int)
        Frame size ``(ny, nx)``.
    rng : numpy.random.Generator
        Draws each train's period, flash count and pause.
    periods, n_flashes, pause : (int, int)
        Inclusive ranges, in frames or flashes, drawn uniformly per train.
    duration : int
        Frames per flash.
    intensity : float
        Flash contrast (torch-deep-retina's OSR: -2).

    Returns
    -------
    ndarray, shape (n_frames, ny, nx), float32
    """
    onsets, t = [], 0
    while t < n_frames:
        period = int(rng.integers(periods[0], periods[1] + 1))
        count = int(rng.integers(n_flashes[0], n_flashes[1] + 1))
        onsets += [t + i * period for i in range(count)]
        t += count * period + int(rng.integers(pause[0], pause[1] + 1))
    return flash_sequence(n_frames, [o for o in onsets if o < n_frames], duration, intensity, size)


def simulate_retina(
    n_cells_per_type: int = 3,
    size: tuple[int, int] = (20, 20),
    train_seconds: float = 300.0,
    test_seconds: float = 10.0,
    n_repeats: int = 5,
    stimulus: str = "white_noise",
    frame_rate_hz: float = 100.0,
    pixel_size_um: float = 50.0,
    seed: int = 0,
    circuit: RetinaCircuit | None = None,
    gap_seconds: float = 1.0,
    flash_train_fraction: float = 0.0,
) -> tuple[xr.Dataset, xr.Dataset]:
    """Simulate a recording from a ground-truth retinal circuit.

    The movie is one non-repeated training block (block ``"train"``), then ``n_repeats``
    repeats of one test clip (block ``"test"``, ``repeat`` 0, 1, ...), each preceded by
    ``gap_seconds`` of mean grey (block ``"other"``). Frames are contiguous: frame ``i``
    starts at ``i / frame_rate_hz`` seconds. The circuit sees grey before frame 0. Because
    the grey gap (1 s by default) outlasts the circuit's memory (about 0.7 s), every test
    repeat has the same noise-free rate (up to float32 rounding, ~1e-6 relative); only the
    Poisson spikes differ.

    Parameters
    ----------
    n_cells_per_type : int
        ON, OFF and ON-OFF cells each (ignored when ``circuit`` is given).
    size : (int, int)
        Stimulus size ``(ny, nx)`` in pixels.
    train_seconds, test_seconds : float
        Length of the training block and of one test repeat, s.
    n_repeats : int
        Number of test repeats (0 for none).
    stimulus : {"white_noise", "natural"}
        Binary single-pixel white noise of unit contrast, or jittered natural images
        (:func:`retinacodec.sim.stimuli.natural_movie`).
    frame_rate_hz : float
        Frame rate, Hz (one spike-count bin per frame).
    pixel_size_um : float
        Edge of one stimulus pixel on the retina, µm.
    seed : int
        Seeds everything: the circuit is ``RetinaCircuit.random(..., seed=seed)`` calibrated
        to the stimulus class, and the movies and spikes use independent streams.
    circuit : RetinaCircuit, optional
        Use this circuit instead of a random one; its size and frame rate must match.
    gap_seconds : float
        Grey before each test repeat, s.
    flash_train_fraction : float
        Share of the training block (in 4-s segments chosen at random) replaced by full-field
        dark flash trains (:func:`~retinacodec.sim.simulate.flash_trains`: periods 50-150 ms,
        3-8 flashes, then grey), so
        that a model learns the omitted stimulus response of a circuit with
        :class:`~retinacodec.sim.circuit.OmittedStimulusResonance`. 0 (default): none.

    Returns
    -------
    recording : xarray.Dataset
        A Recording (see :mod:`retinacodec.recording`) with attrs ``simulated = 1``, ``seed``
        and the circuit parameters.
    truth : xarray.Dataset
        Aligned with the recording (same ``frame``, ``time``, ``block``, ``repeat`` and ``cell``
        coordinates): ``on_drive``, ``off_drive``, ``amacrine``, ``generator`` (frame, cell)
        in generator units, ``rate`` (frame, cell) in Hz, and per cell ``cell_type``
        (``"ON"``, ``"OFF"``, ``"ON-OFF"``), ``position_y``, ``position_x``, ``rf_sigma``
        (pixels) and the circuit weights.

    Examples
    --------
    >>> rec, truth = rc.simulate_retina(seed=0, train_seconds=20, test_seconds=2, n_repeats=2)
    >>> dict(rec.sizes)
    {...'cell': 9}
    >>> truth["cell_type"].values.tolist()
    ['ON', 'ON', 'ON', 'OFF', 'OFF', 'OFF', 'ON-OFF', 'ON-OFF', 'ON-OFF']
    """
    if stimulus not in STIMULI:
        raise ValueError(f"stimulus must be one of {STIMULI}; got {stimulus!r}.")
    if not 0.0 <= flash_train_fraction <= 1.0:
        raise ValueError(f"flash_train_fraction must lie in [0, 1]; got {flash_train_fraction}.")
    size = (int(size[0]), int(size[1]))
    if circuit is None:
        calibration = "natural" if stimulus == "natural" else "white_noise"
        circuit = RetinaCircuit.random(n_cells_per_type, size, frame_rate_hz, seed=seed, calibration=calibration)
    elif tuple(circuit.size) != size or circuit.frame_rate_hz != frame_rate_hz:
        raise ValueError(
            f"the circuit was built for size {tuple(circuit.size)} at {circuit.frame_rate_hz} Hz; "
            f"got size={size}, frame_rate_hz={frame_rate_hz}. Pass matching values."
        )
    train_rng, test_rng, spike_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    n_train = round(train_seconds * frame_rate_hz)
    n_test = round(test_seconds * frame_rate_hz)
    n_gap = round(gap_seconds * frame_rate_hz)
    test_clip = _movie(stimulus, n_test, size, test_rng)
    grey = np.zeros((n_gap, *size), dtype=np.float32)
    train = _movie(stimulus, n_train, size, train_rng)
    if flash_train_fraction > 0:
        flash_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(4)[3])
        segment = round(4.0 * frame_rate_hz)
        n_segments = n_train // segment
        for i in flash_rng.choice(n_segments, round(flash_train_fraction * n_segments), replace=False):
            train[i * segment : (i + 1) * segment] = flash_trains(segment, size, flash_rng)
    movie = np.concatenate([train, *[grey, test_clip] * n_repeats])
    block = np.concatenate([np.full(n_train, "train"), *[np.full(n_gap, "other"), np.full(n_test, "test")] * n_repeats])
    repeat = np.concatenate(
        [np.full(n_train, -1), *[np.r_[np.full(n_gap, -1), np.full(n_test, r)] for r in range(n_repeats)]]
    )

    response = circuit.respond(movie)
    spikes = spike_rng.poisson(response["rate"].values / frame_rate_hz)
    attrs = {
        "simulated": 1,
        "seed": int(seed),
        "gap_seconds": float(gap_seconds),
        "provenance": f"retinacodec.simulate_retina(stimulus={stimulus!r}, seed={seed})",
        **circuit.attrs(),
        **({"flash_train_fraction": float(flash_train_fraction)} if flash_train_fraction > 0 else {}),
    }
    recording = make_recording(
        movie,
        spikes,
        np.arange(len(movie)) / frame_rate_hz,
        block=block,
        repeat=repeat,
        frame_rate_hz=frame_rate_hz,
        pixel_size_um=pixel_size_um,
        session_id=f"simulated-{stimulus}-seed{seed}",
        stimulus_name=stimulus,
        extra_attrs=attrs,
    )
    truth = response.assign_coords({name: recording[name] for name in ("frame", "time", "cell", "block", "repeat")})
    # per-frame quantities in float32: ample precision, half the size on disk
    truth = truth.assign({k: v.astype(np.float32) for k, v in truth.data_vars.items() if "frame" in v.dims})
    truth.attrs.update(attrs, frame_rate_hz=float(frame_rate_hz), stimulus_name=stimulus)
    return recording, truth


def simulate_run_freeze(
    n_cells: int = 8,
    n_trials: int = 40,
    run_frames: int = 1800,
    freeze_frames: int = 600,
    frame_rate_hz: float = 75.0,
    dropped_frames: int = 5,
    seed: int = 0,
    field_px: int = 12,
    repeats: bool = True,
    n_ln_cells: int = 0,
    flicker: Literal["binary", "gaussian"] = "binary",
) -> tuple[xr.Dataset, xr.Dataset]:
    """A full-field flicker experiment with a run/freeze design, timed like a real monitor.

    Every trial shows ``run_frames`` of fresh full-field flicker ("running" noise, the
    training data) and then ``freeze_frames`` of one "frozen" sequence that is the same in
    every trial (the test repeats). The monitor drops ``dropped_frames`` refreshes at random:
    the frame before stays on screen for two refreshes, so the retina sees it twice as long
    and its onset-to-onset interval is doubled; frame onsets also jitter by 0.1 ms, as a
    photodiode measures them. The ground-truth circuit (ON, OFF and ON-OFF cells) sees the
    flicker over a ``field_px × field_px`` patch; the Recording's stimulus is that one
    luminance per frame, shape (frame, 1, 1).

    With ``repeats=False`` the held-out stretches are fresh noise too: the test block is a set
    of unrepeated chunks (``repeat`` -1), as in recordings whose held-out data were never
    repeated. ``n_ln_cells`` adds cells that are exactly linear-nonlinear, whose true filter
    the truth holds (to check an LN fit or an STA against).

    Parameters
    ----------
    n_cells : int
        Ganglion cells (ON, OFF, ON-OFF in turn).
    n_trials : int
        Trials, each running then frozen noise.
    run_frames, freeze_frames : int
        Frames of running and of frozen noise per trial.
    frame_rate_hz : float
        Monitor refresh rate, Hz.
    dropped_frames : int
        Refreshes dropped over the whole recording.
    seed : int
        Seeds the circuit, the noise, the dropped frames and the spikes.
    field_px : int
        Edge of the patch the circuit sees, pixels (the circuit needs room for its RFs).
    repeats : bool
        Repeat one frozen sequence in every trial (True), or show fresh noise in the held-out
        stretches too (False: unrepeated test chunks).
    n_ln_cells : int
        LN cells added after the circuit's: ON and OFF in turn, each the circuit's ON or
        (sign-inverted) OFF bipolar temporal filter followed by
        ``30 Hz · softplus(1.5 g − 0.5)``; cell type ``"LN-ON"`` / ``"LN-OFF"``.
    flicker : {"binary", "gaussian"}
        Each frame's contrast: −1 or +1 at random, or drawn from a unit Gaussian (as in labs
        that show Gaussian flicker). For Gaussian flicker the STA is proportional to the
        frame-averaged gradient of the rate (Stein's lemma); for binary flicker only nearly.

    Returns
    -------
    recording : xarray.Dataset
        A Recording with ``stimulus (frame, 1, 1)`` in contrast units, ``block`` "train"
        (running) / "test" (frozen), ``repeat`` = trial index of frozen frames (-1 without
        ``repeats``), measured frame ``time``, and the cell types as the ``cell_type`` coordinate.
    truth : xarray.Dataset
        ``rate (frame, cell)``: the noise-free rate in Hz averaged over each frame's
        time on screen, with the recording's coordinates. With LN cells, ``filter (cell, lag)``:
        each LN cell's true linear filter (unit L2 norm, per frame of stimulus), ``lag`` in s
        before the response with lag 0 first, NaN for the circuit's cells.
    """
    rng_circuit, rng_noise, rng_drop, rng_spikes = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))
    circuit = RetinaCircuit.random(-(-n_cells // 3), (field_px, field_px), frame_rate_hz,
                                   seed=int(rng_circuit.integers(2**31)), calibration="full_field")
    if flicker not in ("binary", "gaussian"):
        raise ValueError(f"flicker={flicker!r}: use 'binary' or 'gaussian'.")

    def noise(size: int) -> np.ndarray:
        if flicker == "binary":
            return rng_noise.choice(np.array([-1.0, 1.0], dtype=np.float32), size)
        return rng_noise.standard_normal(size).astype(np.float32)

    frozen = noise(freeze_frames)
    trials = [np.r_[noise(run_frames), frozen if repeats else noise(freeze_frames)] for _ in range(n_trials)]
    values = np.concatenate(trials).astype(np.float32)
    n = values.size
    held = np.ones(n, dtype=np.int64)  # refreshes each frame stays on screen
    held[rng_drop.choice(np.arange(1, n - 1), dropped_frames, replace=False)] = 2
    shown = np.repeat(np.arange(n), held)  # frame on screen at each refresh
    response = circuit.respond(np.broadcast_to(values[shown, None, None], (shown.size, field_px, field_px)))
    rate = response["rate"].values[:, :n_cells]
    cell_type = response["cell_type"].values[:n_cells]
    if n_ln_cells:
        filters = np.stack([circuit.temporal_filter("on") if i % 2 == 0 else -circuit.temporal_filter("off")
                            for i in range(n_ln_cells)], axis=1)  # (lag, ln cell), lag 0 first
        g = signal.fftconvolve(values[shown, None].astype(np.float64), filters, axes=0)[: shown.size]
        rate = np.concatenate([rate, 30.0 * np.logaddexp(0.0, 1.5 * g - 0.5)], axis=1)
        cell_type = np.r_[cell_type, np.where(np.arange(n_ln_cells) % 2 == 0, "LN-ON", "LN-OFF")]
    first_refresh = np.r_[0, np.cumsum(held)[:-1]]
    frame_rate = np.add.reduceat(rate, first_refresh, axis=0) / held[:, None]
    counts = np.add.reduceat(rng_spikes.poisson(rate / frame_rate_hz), first_refresh, axis=0)
    times = 1.0 + first_refresh / frame_rate_hz + rng_spikes.normal(0.0, 1e-4, n)
    trial_of = np.repeat(np.arange(n_trials), run_frames + freeze_frames)
    in_freeze = np.tile(np.r_[np.zeros(run_frames, bool), np.ones(freeze_frames, bool)], n_trials)
    recording = make_recording(
        values[:, None, None], counts, times,
        block=np.where(in_freeze, "test", "train"), repeat=np.where(in_freeze & repeats, trial_of, -1),
        frame_rate_hz=frame_rate_hz, session_id=f"simulated-run-freeze-seed{seed}",
        stimulus_name="full_field_flicker",
        extra_attrs={"simulated": 1, "seed": int(seed), "dropped_frames": int(dropped_frames),
                     "repeats": int(repeats), "flicker": flicker},
    ).assign_coords(cell_type=("cell", cell_type))
    truth = xr.Dataset({"rate": (("frame", "cell"), frame_rate.astype(np.float32), {"units": "Hz"})},
                       coords={k: recording[k] for k in ("frame", "time", "cell", "block", "repeat")})
    if n_ln_cells:
        true_filter = np.full((n_cells + n_ln_cells, filters.shape[0]), np.nan)
        true_filter[n_cells:] = filters.T
        truth["filter"] = xr.DataArray(true_filter, dims=("cell", "lag"), attrs={"units": "1 (unit L2 norm)"},
                                       coords={"lag": ("lag", np.arange(filters.shape[0]) / frame_rate_hz,
                                                       {"units": "s", "long_name": "time before the response"})})
    return recording, truth


#: Per-frame truth variables written by :func:`save_truth` (``generator`` is their sum).
TRUTH_DRIVES = ("on_drive", "off_drive", "amacrine", "rate")
#: Written too when the circuit had it (:class:`~retinacodec.sim.circuit.OmittedStimulusResonance`).
OPTIONAL_DRIVES = ("resonant",)


def save_truth(truth: xr.Dataset, path: str | os.PathLike, significant_digits: int = 4) -> Path:
    """Write a simulator truth compactly and atomically (NetCDF).

    ``generator`` (= ``on_drive + off_drive - amacrine`` [``+ resonant``]) and the per-frame coordinates
    shared with the recording (``time``, ``block``, ``repeat``) are left out, and the
    per-frame drives keep ``significant_digits`` significant digits (netCDF4 quantisation),
    which makes the file about 2.5× smaller. :func:`load_truth` restores all of them.

    Parameters
    ----------
    truth : xarray.Dataset
        From :func:`simulate_retina`.
    path : path-like
        Destination ``.nc`` file.
    significant_digits : int
        Decimal digits kept of each per-frame drive and rate.

    Returns
    -------
    pathlib.Path
    """
    compact = truth.drop_vars(["generator", "time", "block", "repeat"], errors="ignore")
    drives = [v for v in (*TRUTH_DRIVES, *OPTIONAL_DRIVES) if v in compact]
    return save_netcdf(compact, path, significant_digits=dict.fromkeys(drives, significant_digits))


def load_truth(path: str | os.PathLike, recording: xr.Dataset | None = None) -> xr.Dataset:
    """Read a truth file written by :func:`save_truth`.

    Parameters
    ----------
    path : path-like
        The ``.nc`` file.
    recording : xarray.Dataset, optional
        The matching Recording: its ``time``, ``block`` and ``repeat`` coordinates are
        attached (it must have the same number of frames).

    Returns
    -------
    xarray.Dataset
        With ``generator (frame, cell)`` recomputed.
    """
    truth = xr.load_dataset(path)
    missing = [v for v in TRUTH_DRIVES if v not in truth]
    if missing:
        raise ValueError(f"{path} is not a simulator truth file: it lacks {missing}.")
    truth["generator"] = truth["on_drive"] + truth["off_drive"] - truth["amacrine"]
    if "resonant" in truth:
        truth["generator"] = truth["generator"] + truth["resonant"]
    if recording is not None:
        if recording.sizes["frame"] != truth.sizes["frame"]:
            raise ValueError(
                f"the truth in {path} has {truth.sizes['frame']} frames but the recording has "
                f"{recording.sizes['frame']}; they come from different simulations."
            )
        truth = truth.assign_coords({k: recording[k] for k in ("time", "block", "repeat")})
    return truth
