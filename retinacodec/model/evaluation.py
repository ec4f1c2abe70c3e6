"""Predicting a recording with a fitted model, and scoring the prediction per cell."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from retinacodec.model.bncnn import BNCNN
from retinacodec.model.frames import choose_frames
from retinacodec.model.metrics import feve, pearson_per_cell, split_half_reliability
from retinacodec.model.training import predict_targets
from retinacodec.model.windows import WindowedData
from retinacodec.recording import repeated_responses, validate_recording

__all__ = ["MAX_FEVE", "MIN_RELIABILITY", "check_compatible", "check_provenance", "predict", "evaluate"]


#: Below this split-half reliability a cell's FEVE (r² / reliability) divides by noise.
MIN_RELIABILITY = 0.3
#: A FEVE above this exceeds the noise ceiling by more than its sampling error: the ceiling is underestimated.
MAX_FEVE = 1.1


def _fitted_to(model: BNCNN) -> str:
    """Where the model came from, for messages."""
    meta = getattr(model, "metadata", {}) or {}
    return f" (fitted to {meta['source_file']})" if meta.get("source_file") else ""


def check_compatible(model: BNCNN, recording: xr.Dataset) -> None:
    """Raise a ValueError naming the mismatch when ``model`` cannot predict ``recording``.

    Checks the frame size, the number of cells and that the recording is longer than the
    model's history.
    """
    cfg = model.config
    shape = (recording.sizes["y"], recording.sizes["x"])
    advice = "use the recording the model was fitted to, read the same way, or fit a model to this one"
    if tuple(cfg.input_size) != shape:
        raise ValueError(
            f"model/recording mismatch: the model{_fitted_to(model)} takes {cfg.input_size[0]}x{cfg.input_size[1]}"
            f"-pixel frames but the recording has {shape[0]}x{shape[1]}; {advice}."
        )
    if cfg.n_cells != recording.sizes["cell"]:
        raise ValueError(
            f"model/recording mismatch: the model{_fitted_to(model)} predicts {cfg.n_cells} cells but the "
            f"recording has {recording.sizes['cell']}; {advice}."
        )
    if recording.sizes["frame"] < cfg.history:
        raise ValueError(
            f"model/recording mismatch: the model needs {cfg.history} frames of history but the recording has "
            f"{recording.sizes['frame']} frames; {advice}."
        )


def check_provenance(model: BNCNN, recording: xr.Dataset) -> bool:
    """Warn (one line, naming both files) when ``model`` was fitted to another recording than ``recording``.

    A model fitted to another recording of the same shape predicts this one without error but
    its held-out frames, scores and receptive fields mean nothing here. Recordings are told
    apart by their session id, and by their file name when neither has a session id.

    Returns
    -------
    bool
        True when the model was fitted to this recording (or the checkpoint does not say).
    """
    meta = getattr(model, "metadata", {}) or {}
    fitted_file, fitted_session = str(meta.get("source_file", "")), str(meta.get("session_id", ""))
    this_file, this_session = str(recording.attrs.get("source_file", "")), str(recording.attrs.get("session_id", ""))
    if fitted_session or this_session:
        same = fitted_session == this_session
    else:
        same = not fitted_file or not this_file or Path(fitted_file).name == Path(this_file).name
    if not same:
        warnings.warn(
            f"the model was fitted to {fitted_file or 'another recording'} (session {fitted_session!r}), not to "
            f"{this_file or 'this recording'} (session {this_session!r}); its results here are predictions for "
            "an unseen recording.", stacklevel=2,
        )
    return same


def predict(model: BNCNN, recording: xr.Dataset, frames: np.ndarray | None = None, *, batch_size: int = 1024,
            device: str | torch.device | None = None) -> xr.DataArray:
    """Predicted firing rate of every cell.

    Parameters
    ----------
    model : BNCNN
        A fitted model with a ``normalization`` attribute (from ``fit`` or ``load_model``).
    recording : xarray.Dataset
        A Recording with the model's frame size.
    frames : ndarray of int, optional
        Target frames (each needs ``history - 1`` earlier frames). Default: every frame
        with a full history.
    batch_size : int
        Windows per forward pass.
    device : str or torch.device, optional
        Default: the model's device.

    Returns
    -------
    xarray.DataArray, shape (frame, cell)
        Rate in Hz (expected count per frame × frame rate).
    """
    validate_recording(recording)
    check_compatible(model, recording)
    device = device or next(model.parameters()).device
    data = WindowedData(recording, model.config.history, model.normalization)
    if frames is None:
        frames = np.arange(model.config.history - 1, recording.sizes["frame"])
    frames = np.asarray(frames, dtype=np.int64)
    if frames.size and (frames.min() < model.config.history - 1 or frames.max() >= recording.sizes["frame"]):
        raise ValueError(
            f"target frames must lie in {model.config.history - 1}..{recording.sizes['frame'] - 1} (each needs "
            f"{model.config.history - 1} earlier frames); got {frames.min()}..{frames.max()}."
        )
    counts = predict_targets(model, data, frames, batch_size=batch_size, device=device)
    rate = counts * float(recording.attrs["frame_rate_hz"])
    return xr.DataArray(
        rate, dims=("frame", "cell"),
        coords={"frame": frames, "cell": recording["cell"].values, "time": ("frame", recording["time"].values[frames])},
        name="rate", attrs={"units": "Hz"},
    )


def evaluate(model: BNCNN, recording: xr.Dataset, truth: xr.Dataset | None = None,
             baseline: object | None = None) -> xr.Dataset:
    """Score a model on the recording's repeated test block, per cell.

    The prediction for repeat 0's stimulus (frames with a full history inside the repeat)
    is compared with the trial-averaged response. Without repeats, the held-out frames of
    :func:`retinacodec.model.frames.choose_frames` (the unrepeated test block, else the
    model's held-out validation frames) are used against single-trial counts and FEVE is
    unavailable.

    Parameters
    ----------
    model : BNCNN
        A fitted model.
    recording : xarray.Dataset
        The recording (normally the one the model was fitted to).
    truth : xarray.Dataset, optional
        Simulator ground truth with ``rate (frame, cell)``: adds ``r_truth``.
    baseline : object with ``predict(recording, frames)``, optional
        A baseline scored on the same frames, e.g. :func:`retinacodec.fit_ln` (fit it on
        :func:`retinacodec.model.frames.training_frames` when the recording has no test block,
        so that it never saw the held-out frames): adds ``ln_r`` (and ``ln_feve``,
        ``ln_r_truth``) per cell and ``ln_median_r`` to the attrs.

    Returns
    -------
    xarray.Dataset
        Per cell: ``r`` (Pearson r with the trial average), ``feve``, ``reliability``
        (split-half, Spearman–Brown), ``r_truth`` (with the noise-free rate, if ``truth``),
        ``mean_rate_hz`` (recorded); attrs: medians (``NaN`` when unavailable), which block
        was used, and ``unreliable_cells`` (reliability below
        :data:`~retinacodec.model.evaluation.MIN_RELIABILITY` or FEVE above
        :data:`~retinacodec.model.evaluation.MAX_FEVE`: a poorly estimated noise ceiling, FEVE not
        meaningful; a warning names them).

    Raises
    ------
    ValueError
        If the model does not fit the recording (frame size, cells, history), or the
        recording has no repeats and the model's held-out frames are not in it.

    Examples
    --------
    >>> rec, truth = rc.load_sample()
    >>> model = rc.load_sample_model()
    >>> scores = rc.evaluate(model, rec, truth)
    >>> list(scores.data_vars)
    ['r', 'feve', 'reliability', 'mean_rate_hz', 'r_truth']
    >>> print(f"median r with the true rate: {scores.attrs['median_r_truth']:.2f}")
    median r with the true rate: 0.9...
    """
    history = model.config.history
    rate_hz = float(recording.attrs["frame_rate_hz"])
    validate_recording(recording)
    check_compatible(model, recording)
    has_repeats = bool(np.any(recording["repeat"].values >= 0))
    if has_repeats:
        reps = repeated_responses(recording)
        if reps.sizes["frame"] < history:
            raise ValueError(
                f"the test repeats are {reps.sizes['frame']} frames long, shorter than the model's history of "
                f"{history} frames; nothing in them can be predicted."
            )
        frames = reps["frame"].values[history - 1 :]
        observed = reps.values[:, history - 1 :, :].astype(np.float64) * rate_hz
        trial_mean = observed.mean(0)
        block = f"test ({reps.sizes['repeat']} repeats)"
    else:
        frames, rule = _unrepeated_frames(model, recording)
        warnings.warn(
            f"the recording has no repeated test block: evaluating on {rule} against single trials; FEVE is "
            "unavailable.", stacklevel=2,
        )
        observed = None
        trial_mean = recording["spikes"].values[frames].astype(np.float64) * rate_hz
        block = f"{rule}, single trial"
    pred = predict(model, recording, frames).values
    r = pearson_per_cell(pred, trial_mean)
    n_cells = recording.sizes["cell"]
    repeats = observed is not None and observed.shape[0] >= 2
    if repeats:
        fv, rel = feve(pred, observed), split_half_reliability(observed)
    else:
        fv = rel = np.full(n_cells, np.nan)
    unreliable = np.isfinite(fv) & ~((rel >= MIN_RELIABILITY) & (fv <= MAX_FEVE))
    if unreliable.any():
        ids = [int(c) for c in recording["cell"].values[unreliable]]
        warnings.warn(
            f"{len(ids)} cell(s) (ids {ids}) have split-half reliability below {MIN_RELIABILITY} or FEVE above "
            f"{MAX_FEVE}: "
            "their noise ceiling is poorly estimated (few repeats, or little stimulus-driven variance), so their "
            "FEVE is not meaningful; judge them by r instead.", stacklevel=2,
        )
    out = xr.Dataset(
        {
            "r": ("cell", r),
            "feve": ("cell", fv),
            "reliability": ("cell", rel),
            "mean_rate_hz": ("cell", recording["spikes"].values.mean(0) * rate_hz),
        },
        coords={"cell": recording["cell"].values},
        attrs={"block": block, "n_frames": int(frames.size), "median_r": float(np.nanmedian(r)),
               "median_feve": float(np.nanmedian(fv)) if np.isfinite(fv).any() else float("nan")},
    )
    if truth is not None:
        if truth.sizes["frame"] != recording.sizes["frame"]:
            raise ValueError(
                f"the truth has {truth.sizes['frame']} frames but the recording has {recording.sizes['frame']}; "
                "pass the truth of this recording."
            )
        true_rate = truth["rate"].values[frames]
        out["r_truth"] = ("cell", pearson_per_cell(pred, true_rate))
        out.attrs["median_r_truth"] = float(np.nanmedian(out["r_truth"].values))
    if baseline is not None:
        ln = np.asarray(baseline.predict(recording, frames).transpose("frame", "cell").values, dtype=np.float64)
        out["ln_r"] = ("cell", pearson_per_cell(ln, trial_mean))
        out.attrs["ln_median_r"] = float(np.nanmedian(out["ln_r"].values))
        if repeats:
            out["ln_feve"] = ("cell", feve(ln, observed))
        if truth is not None:
            out["ln_r_truth"] = ("cell", pearson_per_cell(ln, truth["rate"].values[frames]))
    if unreliable.any():
        out.attrs["unreliable_cells"] = [int(c) for c in recording["cell"].values[unreliable]]
    silent = recording["spikes"].values.sum(0) == 0
    if silent.any():
        out.attrs["silent_cells"] = [int(c) for c in recording["cell"].values[silent]]
    return out


def _unrepeated_frames(model: BNCNN, recording: xr.Dataset) -> tuple[np.ndarray, str]:
    """The held-out frames of a recording without repeats, and which they are (``choose_frames``)."""
    try:
        return choose_frames(recording, model.config.history, getattr(model, "metadata", None))
    except ValueError:
        raise ValueError(
            "the recording has no repeated test block and no unrepeated one, and the model's held-out frames "
            f"belong to the recording it was fitted to{_fitted_to(model)}; evaluate it on a recording with a "
            "test block, or label one (test_block= / --test-block)."
        ) from None
