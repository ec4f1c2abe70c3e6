"""Retinal phenomena as in-silico experiments on a fitted model and on the simulated retina.

Each experiment shows one classic stimulus (METHODS.md §5, with torch-deep-retina's
``retinal_phenomena.py`` defaults) to a *system*, a fitted :class:`~retinacodec.model.BNCNN`
or a :class:`~retinacodec.sim.circuit.RetinaCircuit` (the ground truth), and measures the
phenomenon per cell. Full-field stimuli are broadcast over the system's ``y × x``; bars move
along ``x``. Frames are the system's frames (10 ms at 100 Hz); times in the results are in
ms. Every experiment returns an :class:`xarray.Dataset` with the rates (``rate``, Hz), the
per-cell measures and the parameters in ``attrs``; :func:`run_all` runs all of them on a
model and a simulator and returns them with one table, model and simulator side by side.

A model sees the stimulus z-scored with its training statistics and ``history - 1`` frames of
mean grey (contrast 0) before the first frame, as the simulator does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from retinacodec.sim import stimuli
from retinacodec.sim.circuit import RetinaCircuit

__all__ = [
    "EXPERIMENTS",
    "contrast_adaptation",
    "latency_coding",
    "motion_anticipation",
    "motion_reversal",
    "osr",
    "paired_flash",
    "respond",
    "run_all",
    "step_response",
    "summary_table",
]


def _size(system: Any) -> tuple[int, int]:
    """Stimulus frame size ``(ny, nx)`` of a model or circuit."""
    if isinstance(system, RetinaCircuit):
        return tuple(system.size)
    return tuple(system.config.input_size)


def _frame_rate(system: Any) -> float:
    """Frames per second of a model or circuit."""
    if isinstance(system, RetinaCircuit):
        return float(system.frame_rate_hz)
    return float(system.metadata.get("frame_rate_hz", 100.0))


def respond(system: Any, movie: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Firing rate of every cell of a model or circuit to a contrast movie.

    Parameters
    ----------
    system : BNCNN or RetinaCircuit
        A fitted model (with ``normalization``) or a simulated retina.
    movie : ndarray, shape (n_frames, ny, nx) or (n_frames,)
        Contrast movie of the system's frame size; a 1-D profile is a full-field stimulus.
    batch_size : int
        Model windows per forward pass.

    Returns
    -------
    ndarray, shape (n_frames, n_cells), float64
        Rate in Hz at every frame (mean grey before the first frame).
    """
    size = _size(system)
    movie = np.asarray(movie, dtype=np.float32)
    if movie.ndim == 1:
        movie = np.broadcast_to(movie[:, None, None], (len(movie), *size))
    if movie.ndim != 3 or movie.shape[1:] != size:
        raise ValueError(f"the movie must have shape (frame, {size[0]}, {size[1]}) for this system; got {movie.shape}.")
    if isinstance(system, RetinaCircuit):
        return system.respond(movie)["rate"].values.astype(np.float64)
    import torch

    history = system.config.history
    padded = np.concatenate([np.zeros((history - 1, *size), np.float32), movie])
    z = torch.from_numpy(system.normalization.apply(padded))
    device = next(system.parameters()).device
    was_training = system.training
    system.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(movie), batch_size):
            idx = torch.arange(i, min(i + batch_size, len(movie)))[:, None] + torch.arange(history)[None, :]
            out.append(system(z[idx].to(device)).cpu().numpy())
    system.train(was_training)
    return np.concatenate(out).astype(np.float64) * _frame_rate(system)


def _rate_array(rate: np.ndarray, dims: tuple[str, ...], coords: dict, fps: float) -> xr.DataArray:
    """Label a rate array whose last two axes are (time, cell); time in ms from the reference frame."""
    return xr.DataArray(rate, dims=(*dims, "time", "cell"), coords=coords, attrs={"units": "Hz"})


def _time_ms(n: int, zero: int, fps: float) -> np.ndarray:
    return (np.arange(n) - zero) * 1e3 / fps


def _peak_time(rate: np.ndarray, axis: int = 0) -> np.ndarray:
    """Index of the maximum along ``axis`` refined by a parabola through its neighbours (sub-frame)."""
    rate = np.moveaxis(rate, axis, 0)
    i = np.argmax(rate, axis=0)
    n = rate.shape[0]
    inner = np.clip(i, 1, n - 2)
    a, b, c = (np.take_along_axis(rate, (inner + d)[None], axis=0)[0] for d in (-1, 0, 1))
    denom = a - 2 * b + c
    shift = np.where((i == inner) & (denom < 0), 0.5 * (a - c) / np.where(denom < 0, denom, -1.0), 0.0)
    return i + np.clip(shift, -0.5, 0.5)


def _dataset(name: str, system: Any, rate: xr.DataArray, measures: dict, params: dict) -> xr.Dataset:
    kind = "simulator" if isinstance(system, RetinaCircuit) else "model"
    ds = xr.Dataset({"rate": rate, **measures})
    ds.attrs = {"experiment": name, "source": kind, "frame_rate_hz": _frame_rate(system),
                **{k: (list(v) if isinstance(v, tuple | list | np.ndarray) else v) for k, v in params.items()}}
    return ds


def step_response(system: Any, duration: int = 100, delay: int = 50, intensity: float = -1.0,
                  after: int = 50) -> xr.Dataset:
    """A full-field step of light (torch-deep-retina: 100 frames long after 50 frames of grey).

    Parameters
    ----------
    system : BNCNN or RetinaCircuit
    duration, delay, after : int
        Frames of the step, of grey before it and of grey after it.
    intensity : float
        Contrast of the step.

    Returns
    -------
    xarray.Dataset
        ``rate (time, cell)`` with time in ms from the step onset; per cell ``peak_latency_ms``
        (of the largest change from the pre-step rate) and ``transience`` (1 - sustained / peak
        change, sustained = mean over the last 20 % of the step).
    """
    fps = _frame_rate(system)
    profile = np.zeros(delay + duration + after, np.float32)
    profile[delay : delay + duration] = intensity
    r = respond(system, profile)
    base = r[:delay].mean(0)
    change = np.abs(r[delay : delay + duration] - base)
    peak = change.max(0)
    sustained = change[-max(1, duration // 5) :].mean(0)
    measures = {
        "peak_latency_ms": ("cell", _peak_time(change) * 1e3 / fps, {"units": "ms"}),
        "transience": ("cell", 1.0 - sustained / np.where(peak > 0, peak, np.nan)),
    }
    rate = _rate_array(r, (), {"time": _time_ms(len(r), delay, fps)}, fps)
    return _dataset("step", system, rate, measures, dict(duration=duration, delay=delay, intensity=intensity))


def paired_flash(system: Any, intervals: Sequence[int] = tuple(range(2, 21, 2)), duration: int = 1,
                 intensity: float = -2.0, delay: int = 40, after: int = 60) -> xr.Dataset:
    """Two full-field flashes a varying interval apart (torch-deep-retina: intervals 2-20, 1 frame, -2).

    Parameters
    ----------
    system : BNCNN or RetinaCircuit
    intervals : sequence of int
        Frames from the first flash onset to the second.
    duration : int
        Frames per flash.
    intensity : float
        Flash contrast.
    delay, after : int
        Grey frames before the first flash and after the second.

    Returns
    -------
    xarray.Dataset
        ``rate (interval, time, cell)`` with time in ms from the first flash; per interval and
        cell ``ratio``: the peak response to the second flash (the pair's response minus the
        first flash's alone) over the peak response to the first flash alone.
    """
    fps = _frame_rate(system)
    n = delay + max(intervals) + after
    single = respond(system, stimuli.flash_sequence(n, [delay], duration, intensity, size=(1, 1))[:, 0, 0])
    base = single[:delay].mean(0)
    first_peak = np.abs(single[delay:] - base).max(0)
    rates, ratio = [], []
    for ifi in intervals:
        r = respond(system, stimuli.flash_sequence(n, [delay, delay + ifi], duration, intensity, size=(1, 1))[:, 0, 0])
        rates.append(r)
        ratio.append(np.abs(r - single)[delay + ifi :].max(0) / np.where(first_peak > 0, first_peak, np.nan))
    coords = {"interval": np.asarray(intervals), "time": _time_ms(n, delay, fps)}
    measures = {"ratio": (("interval", "cell"), np.array(ratio))}
    return _dataset("paired_flash", system, _rate_array(np.array(rates), ("interval",), coords, fps), measures,
                    dict(intervals=list(intervals), duration=duration, intensity=intensity, delay=delay))


def osr(system: Any, intervals: Sequence[int] = (6, 8, 10, 12), duration: int = 2, n_flashes: int = 5,
        intensity: float = -2.0, delay: int = 50, window: int = 20) -> xr.Dataset:
    """The omitted stimulus response: a train of full-field flashes that stops (torch-deep-retina's osr).

    torch-deep-retina shows 5 flashes of 2 frames, intensity -2, every 10 frames; here the
    interval is swept so that one can test whether the response is timed to the expected,
    omitted flash (its latency after the omitted flash's onset stays about constant) or to the
    last flash (its latency after the omitted flash falls one frame per frame of period).

    Parameters
    ----------
    system : BNCNN or RetinaCircuit
    intervals : sequence of int
        Flash periods, frames (onset to onset); at least three for the slope.
    duration, n_flashes : int
        Frames per flash and flashes per train.
    intensity : float
        Flash contrast.
    delay : int
        Grey frames before the first flash.
    window : int
        Frames after the omitted flash's onset searched for the response peak.

    Returns
    -------
    xarray.Dataset
        ``rate (interval, time, cell)``, time in ms from the omitted flash's expected onset;
        per interval and cell ``latency_ms`` (peak time after the omitted onset, sub-frame),
        ``osr_peak`` (Hz), ``osr_index`` (peak after the omission over the largest response
        in the train's last period); per cell ``slope`` (least-squares change of the latency
        after the omitted flash per frame of period, frames/frame), and ``has_osr`` (the
        index's median over intervals exceeds 1). ``attrs["slope_median"]`` is the median slope over
        cells with an OSR (NaN if none).
    """
    if len(intervals) < 3:
        raise ValueError(f"give at least three intervals to measure the latency against the period; got {intervals}.")
    fps = _frame_rate(system)
    before, after = max(intervals) * n_flashes + delay, window + 20
    rates, latency, peak, index = [], [], [], []
    for p in intervals:
        first = before - n_flashes * p  # the omitted flash is due at frame `before`
        profile = stimuli.flash_sequence(before + after, [first + i * p for i in range(n_flashes)], duration,
                                         intensity, size=(1, 1))[:, 0, 0]
        r = respond(system, profile)
        rates.append(r)
        seg = r[before : before + window]
        latency.append(_peak_time(seg) * 1e3 / fps)
        peak.append(seg.max(0))
        index.append(seg.max(0) / np.maximum(r[before - p : before].max(0), 1e-9))
    latency, index = np.array(latency), np.array(index)
    period = np.asarray(intervals, float)
    slope = np.polyfit(period, latency * fps / 1e3, 1)[0]
    has = np.median(index, axis=0) > 1.0
    coords = {"interval": np.asarray(intervals), "time": _time_ms(before + after, before, fps)}
    measures = {
        "latency_ms": (("interval", "cell"), latency, {"units": "ms"}),
        "osr_peak": (("interval", "cell"), np.array(peak), {"units": "Hz"}),
        "osr_index": (("interval", "cell"), index),
        "slope": ("cell", slope, {"units": "frames per frame of period"}),
        "has_osr": ("cell", has),
    }
    ds = _dataset("osr", system, _rate_array(np.array(rates), ("interval",), coords, fps), measures,
                  dict(intervals=list(intervals), duration=duration, n_flashes=n_flashes, intensity=intensity,
                       window=window))
    ds.attrs["slope_median"] = float(np.median(slope[has])) if has.any() else float("nan")
    return ds


def latency_coding(system: Any, intensities: Sequence[float] = tuple(np.linspace(0.0, -3.0, 21)),
                   duration: int = 2, delay: int = 40, after: int = 60) -> xr.Dataset:
    """A 2-frame full-field flash after 40 frames of grey at 21 intensities from 0 to -3.

    Parameters
    ----------
    system : BNCNN or RetinaCircuit
    intensities : sequence of float
        Flash contrasts.
    duration, delay, after : int
        Frames of the flash, of grey before it and after it.

    Returns
    -------
    xarray.Dataset
        ``rate (intensity, time, cell)``, time in ms from the flash onset; per intensity and
        cell ``latency_ms`` (peak of the rate increase after the onset; NaN when the increase is
        below 1 Hz) and ``amplitude`` (Hz).
    """
    fps = _frame_rate(system)
    n = delay + duration + after
    rates = np.array([respond(system, stimuli.full_field_flash(n, delay, duration, c, size=(1, 1))[:, 0, 0])
                      for c in intensities])
    rise = rates[:, delay:] - rates[:, :delay].mean(1, keepdims=True)
    amplitude = rise.max(1)
    latency = np.where(amplitude > 1.0, _peak_time(rise, axis=1) * 1e3 / fps, np.nan)
    coords = {"intensity": np.asarray(intensities), "time": _time_ms(n, delay, fps)}
    measures = {"latency_ms": (("intensity", "cell"), latency, {"units": "ms"}),
                "amplitude": (("intensity", "cell"), amplitude, {"units": "Hz"})}
    return _dataset("latency_coding", system, _rate_array(rates, ("intensity",), coords, fps), measures,
                    dict(duration=duration, delay=delay))


def _bar_positions(size: tuple[int, int], velocity: float, start: float) -> np.ndarray:
    return start + velocity * np.arange(int(np.ceil((size[1] - 1 - 2 * start) / velocity)) + 1)


def motion_anticipation(system: Any, velocity: float = 0.08, width: float = 2.0, flash_duration: int = 2,
                        intensity: float = 1.0, interval: int = 40) -> xr.Dataset:
    """A bar moving along x vs the same bar flashed at each position (Berry et al. 1999).

    torch-deep-retina's defaults: speed 0.08, width 2, flashes of 2 frames; the speed is taken
    in pixels per frame (METHODS.md §5).

    Parameters
    ----------
    system : BNCNN or RetinaCircuit
    velocity : float
        Pixels per frame, rightwards.
    width : float
        Bar width, pixels.
    flash_duration, interval : int
        Frames each flashed bar is shown, and from one flash onset to the next.
    intensity : float
        Bar contrast.

    Returns
    -------
    xarray.Dataset
        ``rate (time, cell)`` to the moving bar (time in ms from its start),
        ``moving (position, cell)``: the rate when the moving bar's centre is at each pixel,
        ``flashed (position, cell)``: the peak rate after a flash at each pixel, and per cell
        ``anticipation_px``: the flashed profile's peak position minus the moving profile's
        (> 0: the response to motion peaks before the bar reaches where a flash is answered
        best; a response delayed by its latency alone gives about ``-velocity × latency``).
        NaN on systems one pixel wide.
    """
    size, fps = _size(system), _frame_rate(system)
    xs = np.arange(size[1], dtype=float)
    params = dict(velocity=velocity, width=width, flash_duration=flash_duration, intensity=intensity)
    if size[1] < 3:
        nan = np.full((1, 1), np.nan)
        return _dataset("motion_anticipation", system, _rate_array(nan, (), {"time": [0.0]}, fps),
                        {"anticipation_px": ("cell", [np.nan])}, {**params, "note": "the system is too narrow"})
    start = -width
    positions = start + velocity * np.arange(int(np.ceil((size[1] - 1 + 2 * width) / velocity)) + 1)
    r = respond(system, stimuli.moving_bar(positions, width, intensity, size))
    pix = np.clip(np.round(positions), -1, size[1])
    moving = np.array([r[pix == x].mean(0) for x in xs])
    fl = respond(system, stimuli.flashed_bars(xs, flash_duration, interval, width, intensity, size))
    flashed = fl.reshape(len(xs), interval, -1).max(1)
    anticipation = _peak_time(flashed) - _peak_time(moving)
    measures = {"moving": (("position", "cell"), moving, {"units": "Hz"}),
                "flashed": (("position", "cell"), flashed, {"units": "Hz"}),
                "anticipation_px": ("cell", anticipation, {"units": "px"})}
    measures["bar_position"] = ("time", positions, {"units": "px"})
    rate = _rate_array(r, (), {"time": _time_ms(len(r), 0, fps)}, fps)
    return _dataset("motion_anticipation", system, rate, measures, params).assign_coords(position=xs)


def motion_reversal(system: Any, velocity: float = 0.08, width: float = 2.0, intensity: float = 1.0,
                    window: int = 30) -> xr.Dataset:
    """A bar moving along x that reverses at the centre, vs one that continues (Schwartz et al. 2007).

    Parameters
    ----------
    system : BNCNN or RetinaCircuit
    velocity, width, intensity
        As for :func:`motion_anticipation`.
    window : int
        Frames after the reversal searched for the reversal response.

    Returns
    -------
    xarray.Dataset
        ``rate (motion, time, cell)`` for ``motion`` "reversing" and "continuing", time in ms
        from the reversal; per cell ``reversal_response`` (Hz): the peak of the reversing
        minus the continuing rate within ``window`` frames after the reversal, and
        ``reversal_ratio``: that peak over the continuing bar's peak rate.
    """
    size, fps = _size(system), _frame_rate(system)
    centre = (size[1] - 1) / 2
    n_half = int(np.ceil((centre + width) / velocity))
    t = np.arange(2 * n_half)
    onward = -width + velocity * t
    reverse = np.where(t < n_half, onward, onward[n_half] - velocity * (t - n_half))
    rates = np.array([respond(system, stimuli.moving_bar(p, width, intensity, size)) for p in (reverse, onward)])
    extra = rates[0, n_half : n_half + window] - rates[1, n_half : n_half + window]
    peak = extra.max(0)
    measures = {"reversal_response": ("cell", peak, {"units": "Hz"}),
                "reversal_ratio": ("cell", peak / np.maximum(rates[1].max(0), 1e-9))}
    coords = {"motion": ["reversing", "continuing"], "time": _time_ms(len(t), n_half, fps)}
    return _dataset("motion_reversal", system, _rate_array(rates, ("motion",), coords, fps), measures,
                    dict(velocity=velocity, width=width, intensity=intensity, window=window))


def _ln_fit(stim: np.ndarray, rate: np.ndarray, n_lags: int) -> tuple[np.ndarray, np.ndarray]:
    """Spike-triggered (rate-weighted) average filter (n_lags, cell), unit norm, lag 0 first; projections."""
    windows = np.lib.stride_tricks.sliding_window_view(stim, n_lags)[:, ::-1]  # (t, lag), lag 0 first
    r = rate[n_lags - 1 :]
    sta = windows.T @ (r - r.mean(0)) / len(r)
    sta /= np.linalg.norm(sta, axis=0, keepdims=True)
    return sta, windows @ sta


def contrast_adaptation(system: Any, contrasts: tuple[float, float] = (0.1, 0.4), n_frames: int = 4000,
                        settle: int = 500, n_lags: int = 40, n_bins: int = 12, seed: int = 0) -> xr.Dataset:
    """LN models fitted before and after a step in the contrast of full-field binary flicker.

    The first ``settle`` frames of each contrast are left out of the fit (the adapting
    transient). Each LN model is the rate-weighted average of the stimulus (unit norm) and a
    binned nonlinearity; the gain is the least-squares slope of the nonlinearity over bins that
    both contrasts cover (the low contrast's 5-95 % range), so a system without adaptation has
    a gain ratio of about 1 whatever the curvature of its output nonlinearity.

    Parameters
    ----------
    system : BNCNN or RetinaCircuit
    contrasts : (float, float)
        Contrast before and after the step.
    n_frames : int
        Frames at each contrast.
    settle : int
        Frames after each contrast onset left out.
    n_lags : int
        Length of the fitted filter, frames.
    n_bins : int
        Bins of the nonlinearity.
    seed : int
        Seeds the flicker.

    Returns
    -------
    xarray.Dataset
        ``rate (time, cell)`` (time in ms from the step); ``filter (contrast, lag, cell)``
        with lag in ms, ``nonlinearity (contrast, bin, cell)`` (Hz) at bin centres
        ``bin_centre``; per contrast and cell ``gain`` (Hz per unit of filtered stimulus) and
        ``filter_peak_ms`` (time of the filter's largest absolute value); per cell
        ``gain_ratio`` (high / low contrast).
    """
    fps = _frame_rate(system)
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0], np.float32), 2 * n_frames)
    profile = signs * np.repeat(np.asarray(contrasts, np.float32), n_frames)
    r = respond(system, profile)
    filters, projections, rates = [], [], []
    for k in range(2):
        sl = slice(k * n_frames + settle, (k + 1) * n_frames)
        f, proj = _ln_fit(profile[sl], r[sl], n_lags)
        filters.append(f)
        projections.append(proj)
        rates.append(r[sl][n_lags - 1 :])
    edges = np.quantile(projections[0], np.linspace(0.05, 0.95, n_bins + 1), axis=0)  # (bin edge, cell)
    centres = 0.5 * (edges[1:] + edges[:-1])
    nonlin = np.full((2, n_bins, r.shape[1]), np.nan)
    gain = np.full((2, r.shape[1]), np.nan)
    for k in range(2):
        for c in range(r.shape[1]):
            which = np.digitize(projections[k][:, c], edges[:, c]) - 1
            for b in range(n_bins):
                sel = which == b
                if sel.sum() >= 5:
                    nonlin[k, b, c] = rates[k][sel, c].mean()
            ok = np.isfinite(nonlin[k, :, c])
            if ok.sum() >= 3:
                gain[k, c] = np.polyfit(centres[ok, c], nonlin[k, ok, c], 1)[0]
    filters = np.array(filters)
    peak_ms = np.argmax(np.abs(filters), axis=1) * 1e3 / fps
    coords = {"time": _time_ms(len(r), n_frames, fps)}
    measures = {
        "filter": (("contrast", "lag", "cell"), filters),
        "contrast": ("contrast", list(contrasts)),
        "lag": ("lag", np.arange(n_lags) * 1e3 / fps, {"units": "ms"}),
        "nonlinearity": (("contrast", "bin", "cell"), nonlin, {"units": "Hz"}),
        "bin_centre": (("bin", "cell"), centres),
        "gain": (("contrast", "cell"), gain, {"units": "Hz per unit filtered stimulus"}),
        "filter_peak_ms": (("contrast", "cell"), peak_ms, {"units": "ms"}),
        "gain_ratio": ("cell", gain[1] / gain[0]),
    }
    rate = _rate_array(r, (), {"time": coords.pop("time")}, fps)
    return _dataset("contrast_adaptation", system, rate, measures,
                    dict(contrasts=list(contrasts), n_frames=n_frames, settle=settle, n_lags=n_lags, seed=seed))


#: Every experiment by name, in the order :func:`run_all` runs them.
EXPERIMENTS: dict[str, Callable[..., xr.Dataset]] = {
    "step": step_response,
    "paired_flash": paired_flash,
    "osr": osr,
    "latency_coding": latency_coding,
    "motion_anticipation": motion_anticipation,
    "motion_reversal": motion_reversal,
    "contrast_adaptation": contrast_adaptation,
}


def _median(values: xr.DataArray | np.ndarray) -> float:
    values = np.asarray(values, float)
    return float(np.nanmedian(values)) if np.isfinite(values).any() else float("nan")


def _measures(results: dict[str, xr.Dataset]) -> dict[str, tuple[float, str]]:
    """One number per phenomenon (median over cells): name -> (value, unit)."""
    out: dict[str, tuple[float, str]] = {}
    s = results["step"]
    out["step: peak latency"] = (_median(s["peak_latency_ms"]), "ms")
    out["step: transience"] = (_median(s["transience"]), "1 - sustained/peak")
    p = results["paired_flash"]
    out[f"paired flash: 2nd/1st response, {int(p.interval[0])} frames apart"] = (_median(p["ratio"][0]), "ratio")
    out[f"paired flash: 2nd/1st response, {int(p.interval[-1])} frames apart"] = (_median(p["ratio"][-1]), "ratio")
    o = results["osr"]
    cells = o["has_osr"].values
    out["OSR: cells with an OSR"] = (float(cells.mean()), "fraction")
    out["OSR: latency after omitted flash, slope vs period"] = (o.attrs["slope_median"], "frame/frame")
    for p_ in o.interval.values:
        out[f"OSR: latency after omitted flash, period {int(p_)}"] = (
            _median(o["latency_ms"].sel(interval=p_).values[cells]) if cells.any() else float("nan"), "ms")
    lc = results["latency_coding"]
    out["latency coding: latency at intensity -0.6"] = (_median(lc["latency_ms"].sel(intensity=-0.6, method="nearest")),
                                                        "ms")
    out["latency coding: latency at intensity -3"] = (_median(lc["latency_ms"].sel(intensity=-3.0, method="nearest")),
                                                      "ms")
    out["motion anticipation: distance"] = (_median(results["motion_anticipation"]["anticipation_px"]), "px")
    mr = results["motion_reversal"]
    # most cells are never reached by the bar or do not answer the reversal (ratio ~0, a median of nothing): the
    # measure is that of the most responsive cell, the one the figure shows
    best = int(np.nanargmax(mr["reversal_response"].values)) if np.isfinite(mr["reversal_response"]).any() else None
    out["motion reversal: extra peak after the reversal, most responsive cell"] = (
        float(mr["reversal_response"].values[best]) if best is not None else float("nan"), "Hz")
    out["motion reversal: that cell's extra peak / its continuing peak"] = (
        float(mr["reversal_ratio"].values[best]) if best is not None else float("nan"), "ratio")
    ca = results["contrast_adaptation"]
    out["contrast adaptation: gain high / low"] = (_median(ca["gain_ratio"]), "ratio")
    for k, c in enumerate(ca.contrast.values):
        out[f"contrast adaptation: filter peak at contrast {c:g}"] = (_median(ca["filter_peak_ms"][k]), "ms")
    return out


def summary_table(results: dict[str, dict[str, xr.Dataset]]) -> pd.DataFrame:
    """One row per measured phenomenon, one column per system (median over cells).

    Parameters
    ----------
    results : dict
        ``{"model": {...}, "simulator": {...}}`` of experiment results by name (from
        :func:`run_all`'s first return value, per source).

    Returns
    -------
    pandas.DataFrame
        Index: the measure; columns: each source and ``unit``.
    """
    columns = {src: _measures(res) for src, res in results.items()}
    first = next(iter(columns.values()))
    table = pd.DataFrame({src: {k: v[0] for k, v in m.items()} for src, m in columns.items()})
    table["unit"] = [first[k][1] for k in table.index]
    table.index.name = "measure"
    return table


def run_all(model: Any, circuit: RetinaCircuit | None = None, experiments: Sequence[str] | None = None,
            progress: bool = False, **options: dict) -> tuple[dict[str, xr.Dataset], pd.DataFrame]:
    """Run every experiment on a fitted model and on a simulated retina.

    Parameters
    ----------
    model : BNCNN
        A fitted model.
    circuit : RetinaCircuit, optional
        The ground truth, normally the circuit the model's recording came from. Default:
        ``RetinaCircuit.phenomena(n_cells_per_type=1, size=(12, 12), seed=0)``, a reference
        retina with the omitted-stimulus and contrast-adaptation mechanisms.
    experiments : sequence of str, optional
        Names from :data:`EXPERIMENTS` (default all; the table needs all).
    progress : bool
        Show a progress bar.
    **options : dict
        Keyword arguments per experiment, e.g. ``osr={"intervals": (6, 9, 12)}``.

    Returns
    -------
    results : dict of str to xarray.Dataset
        Per experiment, the model's and the simulator's results concatenated along
        ``source`` ("model", "simulator"); cells are matched by index (NaN where one has
        fewer cells); attrs that differ are kept as ``<name>_model`` and ``<name>_simulator``.
    table : pandas.DataFrame
        :func:`summary_table` of the two, or None when not every experiment ran.

    Examples
    --------
    Two of the experiments, on the sample model and on the simulated retina it was fitted to:

    >>> model = rc.load_sample_model()
    >>> circuit = rc.sim.RetinaCircuit.random(seed=0)
    >>> results, table = rc.phenomena.run_all(model, circuit, experiments=["step", "osr"])
    >>> sorted(results)
    ['osr', 'step']
    """
    from tqdm.auto import tqdm

    names = list(EXPERIMENTS) if experiments is None else list(experiments)
    unknown = set(names) - set(EXPERIMENTS) | set(options) - set(EXPERIMENTS)
    if unknown:
        raise ValueError(f"unknown experiment(s) {sorted(unknown)}; choose from {list(EXPERIMENTS)}.")
    if circuit is None:
        circuit = RetinaCircuit.phenomena(n_cells_per_type=1, size=(12, 12), seed=0)
    per_source: dict[str, dict[str, xr.Dataset]] = {"model": {}, "simulator": {}}
    for name in tqdm(names, desc="phenomena", disable=not progress):
        for src, system in (("model", model), ("simulator", circuit)):
            ds = EXPERIMENTS[name](system, **options.get(name, {}))
            per_source[src][name] = ds.assign_coords(cell=np.arange(ds.sizes["cell"]))
    results = {}
    for name in names:
        pair = [per_source[s][name] for s in ("model", "simulator")]
        merged = xr.concat(pair, dim="source", join="outer", combine_attrs="drop_conflicts")
        for key in set(pair[0].attrs) - set(merged.attrs) - {"source"}:  # differing attrs, kept per source
            merged.attrs.update({f"{key}_{src}": ds.attrs[key]
                                 for src, ds in zip(("model", "simulator"), pair, strict=True)})
        results[name] = merged.assign_coords(source=["model", "simulator"])
    table = summary_table(per_source) if set(names) == set(EXPERIMENTS) else None
    return results, table
