"""Goodness-of-fit measures for predicted firing rates.

All functions take arrays with time on the first axis and cells on the last.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["pearson_per_cell", "split_half_reliability", "feve"]


def pearson_per_cell(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation over time, one value per cell.

    Parameters
    ----------
    a, b : ndarray, shape (n_frames, n_cells)
        Two responses (any units).

    Returns
    -------
    ndarray, shape (n_cells,)
        ``NaN`` where either response is constant (e.g. a cell that never spikes).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"responses must have the same shape; got {a.shape} and {b.shape}.")
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    denom = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(axis=0) / denom
    return np.where(denom > 0, r, np.nan)


def split_half_reliability(repeats: np.ndarray, n_splits: int = 50, seed: int = 0) -> np.ndarray:
    """Reliability of the trial-averaged response, from split halves of the repeats.

    For random halves A, B of the repeats, ``r_half = corr(mean_A, mean_B)``; the
    Spearman–Brown formula ``2 r / (1 + r)`` extrapolates to the mean of all repeats. The
    result is the share of the trial average's variance that is stimulus-driven, i.e. the
    largest squared correlation any model can reach with the trial average.

    Parameters
    ----------
    repeats : ndarray, shape (n_repeats, n_frames, n_cells)
        Responses to the same stimulus.
    n_splits : int
        Random splits averaged (all splits when fewer exist).
    seed : int
        Chooses the splits.

    Returns
    -------
    ndarray, shape (n_cells,)
        Reliability in [0, 1] (clipped), ``NaN`` where undefined.
    """
    repeats = np.asarray(repeats, dtype=np.float64)
    n = repeats.shape[0]
    if n < 2:
        raise ValueError(f"split-half reliability needs >= 2 repeats; got {n}.")
    rng = np.random.default_rng(seed)
    rs = []
    for _ in range(n_splits):
        perm = rng.permutation(n)
        a, b = perm[: n // 2], perm[n // 2 :]
        rs.append(pearson_per_cell(repeats[a].mean(0), repeats[b].mean(0)))
    with warnings.catch_warnings():  # all-NaN columns (silent cells) stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        r = np.nanmean(np.stack(rs), axis=0)
    return np.clip(2 * r / (1 + r), 0.0, 1.0)


def feve(prediction: np.ndarray, repeats: np.ndarray, n_splits: int = 50, seed: int = 0) -> np.ndarray:
    """Fraction of explainable variance explained, per cell.

    ``FEVE = r(prediction, trial average)² / reliability``, the squared correlation
    relative to the split-half noise ceiling (:func:`split_half_reliability`). 1 means the
    model explains all the stimulus-driven variance the repeats can reveal.

    Parameters
    ----------
    prediction : ndarray, shape (n_frames, n_cells)
        Predicted rate.
    repeats : ndarray, shape (n_repeats, n_frames, n_cells)
        Recorded responses to repeats of the same stimulus.
    n_splits, seed
        Passed to :func:`split_half_reliability`.

    Returns
    -------
    ndarray, shape (n_cells,)
        ``NaN`` where the reliability is 0 or undefined.
    """
    r = pearson_per_cell(prediction, np.asarray(repeats).mean(0))
    rel = split_half_reliability(repeats, n_splits=n_splits, seed=seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rel > 0, r**2 / rel, np.nan)
