"""Quality measures of a sparse autoencoder: reconstruction R² and code statistics."""

from __future__ import annotations

import numpy as np

__all__ = ["DENSE_FRACTION", "code_statistics", "r2_score"]

#: An atom is *dense* when it is active on more than this share of the samples.
DENSE_FRACTION = 0.5


def r2_score(x: np.ndarray, x_hat: np.ndarray, reference: str = "feature") -> float:
    """Pooled coefficient of determination of a reconstruction.

    ``1 - sum((x - x_hat)**2) / sum((x - m)**2)``, both sums over all samples and features,
    where ``m`` is

    - ``reference="feature"``: each feature's mean over the samples (the usual pooled R²);
    - ``reference="grand"``: the one mean of every entry of ``x``, as bscope's ``r2_score``
      (which the CODEC paper reports). It is never below the per-feature R², and the two
      differ most when the features' means differ (e.g. sign-split contributions, whose
      positive parts are positive and negative parts negative).

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_features)
        The data.
    x_hat : ndarray, shape (n_samples, n_features)
        Its reconstruction.
    reference : {"feature", "grand"}
        The mean the total sum of squares is taken about.

    Returns
    -------
    float
        R²; 1 is perfect, 0 is as good as predicting the reference mean.
    """
    if reference not in ("feature", "grand"):
        raise ValueError(f"reference must be 'feature' or 'grand'; got {reference!r}.")
    x = np.asarray(x, dtype=np.float64)
    x_hat = np.asarray(x_hat, dtype=np.float64)
    residual = np.sum((x - x_hat) ** 2)
    total = np.sum((x - (x.mean(axis=0) if reference == "feature" else x.mean())) ** 2)
    if total == 0:
        raise ValueError(f"the samples have no variance around their {reference} mean; R² is undefined.")
    return float(1.0 - residual / total)


def code_statistics(codes: np.ndarray, dense_fraction: float = DENSE_FRACTION) -> dict[str, float]:
    """Sparsity of codes: mean L0, and the shares of dead and dense atoms.

    Parameters
    ----------
    codes : ndarray, shape (n_samples, n_atoms)
        Codes (loadings); a code is *active* where it is non-zero.
    dense_fraction : float
        An atom is dense when active on more than this share of the samples.

    Returns
    -------
    dict
        ``l0``: mean number of active atoms per sample; ``dead_fraction``: share of the atoms
        never active on these samples; ``dense_fraction``: share of the atoms active on more
        than ``dense_fraction`` of them.
    """
    active = np.asarray(codes) != 0
    rate = active.mean(axis=0)
    return {
        "l0": float(active.sum(axis=1).mean()),
        "dead_fraction": float(np.mean(rate == 0)),
        "dense_fraction": float(np.mean(rate > dense_fraction)),
    }
