"""The CODEC paper's analyses of contributions and modes (METHODS.md §3), on xarray objects.

Sparsity (Hoyer index), dimensionality (PCs for 95 % variance, participation ratio),
positive/negative decorrelation, the cell × mode correlation of loadings with firing rates
and a clustering of cells on it, and, for simulated data, which modes track which
ground-truth pathway drive. Features come as returned by :func:`retinacodec.codec.decompose`:
a ``feature`` dim with ``layer``, ``sign`` and ``channel`` coords.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

__all__ = [
    "cell_mode_correlation",
    "cluster_cells",
    "paper_cell_clusters",
    "dimensionality",
    "hoyer",
    "match_pathways",
    "sign_decorrelation",
    "signed_spatial_sum",
    "sparsity_by_layer",
]


def hoyer(x: xr.DataArray, dim: str = "feature") -> xr.DataArray:
    """Hoyer sparsity ``(sqrt(n) - L1/L2) / (sqrt(n) - 1)`` along one dim.

    Parameters
    ----------
    x : xarray.DataArray
        Any values; magnitudes are used.
    dim : str
        The dim of length n > 1 to measure sparsity across.

    Returns
    -------
    xarray.DataArray
        ``x`` without ``dim``: 0 for equal magnitudes, 1 for one non-zero entry, NaN for an
        all-zero vector.
    """
    n = x.sizes[dim]
    if n < 2:
        raise ValueError(f"the Hoyer index needs at least 2 values along {dim!r}; got {n}.")
    a = abs(x)
    l1, l2 = a.sum(dim), np.sqrt((a**2).sum(dim))
    out = (np.sqrt(n) - l1 / l2.where(l2 > 0)) / (np.sqrt(n) - 1)
    return out.rename("hoyer")


def signed_spatial_sum(features: xr.DataArray) -> xr.DataArray:
    """Each channel's net value, positive part plus negative part: the signed spatial sum.

    Parameters
    ----------
    features : xarray.DataArray, shape (..., feature)
        Sign-split features with ``layer``, ``sign`` and ``channel`` coords on ``feature``.

    Returns
    -------
    xarray.DataArray, shape (..., feature)
        One feature per (layer, channel), coords ``layer`` and ``channel``.
    """
    pos, neg = _sign_parts(features)
    return (pos + neg.drop_vars(["layer", "sign", "channel"]).values).drop_vars("sign")


def _sign_parts(features: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """The positive and the negative parts of sign-split features, checked to pair up channel by channel."""
    sign = features["sign"].values
    pos = features.isel(feature=np.flatnonzero(sign == "pos"))
    neg = features.isel(feature=np.flatnonzero(sign == "neg"))
    if not (np.array_equal(pos["layer"].values, neg["layer"].values)
            and np.array_equal(pos["channel"].values, neg["channel"].values)):
        raise ValueError("the features' positive and negative parts do not pair up channel by channel.")
    return pos, neg


def sparsity_by_layer(features: xr.DataArray, signed: bool = False) -> xr.DataArray:
    """Hoyer index of each sample's contribution vector, per layer.

    Parameters
    ----------
    features : xarray.DataArray, shape (..., feature)
        Sign-split features with ``layer``, ``sign`` and ``channel`` coords on ``feature``.
    signed : bool
        False: across the 2C sign-split values. True: across the C signed spatial sums
        (:func:`signed_spatial_sum`), the paper's Fig. 3 definition.

    Returns
    -------
    xarray.DataArray, shape (..., layer)
    """
    values = signed_spatial_sum(features) if signed else features
    out = values.groupby("layer").map(hoyer, dim="feature").rename("hoyer")
    out.attrs["definition"] = "signed spatial sum per channel" if signed else "sign-split parts per channel"
    return out


def dimensionality(x: xr.DataArray, dim: str = "feature", variance: float = 0.95) -> xr.Dataset:
    """Principal components for a share of the variance, and the participation ratio.

    Parameters
    ----------
    x : xarray.DataArray
        Samples; every dim other than ``dim`` indexes samples.
    dim : str
        The variables.
    variance : float
        Share of the variance to explain, in (0, 1].

    Returns
    -------
    xarray.Dataset
        ``n_components`` (int) and ``participation_ratio`` ``(Σλ)² / Σλ²`` of the covariance
        eigenvalues λ; ``explained (component)``, the cumulative variance share.
    """
    if not 0 < variance <= 1:
        raise ValueError(f"variance must be in (0, 1]; got {variance}.")
    samples = x.transpose(..., dim).values.reshape(-1, x.sizes[dim]).astype(np.float64)
    if samples.shape[0] < 2:
        raise ValueError("dimensionality needs at least 2 samples.")
    eig = np.clip(np.linalg.eigvalsh(np.cov(samples, rowvar=False))[::-1], 0, None)
    if eig.sum() == 0:
        raise ValueError("the samples have no variance.")
    cum = np.cumsum(eig) / eig.sum()
    return xr.Dataset(
        {"n_components": int(np.searchsorted(cum, variance - 1e-12) + 1),
         "participation_ratio": float(eig.sum() ** 2 / (eig**2).sum()),
         "explained": ("component", cum)},
        coords={"component": np.arange(1, eig.size + 1)}, attrs={"variance": variance},
    )


def sign_decorrelation(features: xr.DataArray) -> xr.DataArray:
    """Per sample and layer, Pearson r across channels of the positive and negative parts.

    The negative parts are taken in magnitude, so r ≈ 1 means channels that contribute
    strongly contribute strongly in both signs (as in early layers), r ≈ 0 that the two are
    unrelated.

    Parameters
    ----------
    features : xarray.DataArray, shape (..., feature)
        Sign-split features with ``layer``, ``sign`` and ``channel`` coords on ``feature``.

    Returns
    -------
    xarray.DataArray, shape (..., layer)
        NaN where one of the two vectors is constant.
    """

    def one(f: xr.DataArray) -> xr.DataArray:
        pos, neg = _sign_parts(f)
        plain = {"feature": np.arange(pos.sizes["feature"])}
        return xr.corr(pos.drop_vars(["layer", "sign", "channel"]).assign_coords(plain),
                       abs(neg).drop_vars(["layer", "sign", "channel"]).assign_coords(plain), dim="feature")

    return features.groupby("layer").map(one).rename("sign_correlation")


def cell_mode_correlation(loadings: xr.DataArray, rates: xr.DataArray) -> xr.DataArray:
    """Pearson r over frames between each mode's loading and each cell's firing rate.

    Parameters
    ----------
    loadings : xarray.DataArray, shape (frame, [cell,] mode)
        With a ``cell`` dim, cell k's own loadings are used for cell k (contribution modes);
        without, the same loadings for every cell (activation modes).
    rates : xarray.DataArray, shape (frame, cell)
        Firing rates on the same frames (aligned by the ``frame`` coord).

    Returns
    -------
    xarray.DataArray, shape (cell, mode)
        0 where a loading or a rate is constant over the frames.
    """
    loadings, rates = xr.align(loadings, rates, join="inner", exclude={"cell", "mode"})
    if loadings.sizes["frame"] < 3:
        raise ValueError("the loadings and rates share fewer than 3 frames; pass rates of the loadings' frames.")
    return xr.corr(loadings, rates, dim="frame").fillna(0.0).transpose("cell", "mode").rename("r")


def cluster_cells(corr: xr.DataArray, k_range: range | None = None, seed: int = 0,
                  standardize: bool = False) -> xr.Dataset:
    """K-means clustering of cells on their cell × mode correlation profiles, k by silhouette.

    Parameters
    ----------
    corr : xarray.DataArray, shape (cell, mode)
        From :func:`cell_mode_correlation`.
    k_range : range, optional
        Candidate cluster counts; default ``2 .. n_cells - 1``.
    seed : int
        Seeds k-means (``n_init=10``).
    standardize : bool
        Z-score each mode's correlations across cells first (scikit-learn's
        ``StandardScaler``, as the official ``5_kmeans_modes.py``; a mode constant across
        cells becomes 0).

    Returns
    -------
    xarray.Dataset
        ``cluster (cell)`` (labels ordered by cluster size, largest 0) and ``silhouette (k)``;
        attr ``k``, the chosen count.
    """
    n = corr.sizes["cell"]
    k_range = range(2, n) if k_range is None else k_range
    ks = [k for k in k_range if 2 <= k < n]
    if not ks:
        raise ValueError(f"clustering {n} cells needs candidate k in 2..{n - 1} (so at least 3 cells); "
                         f"got {list(k_range)}.")
    profiles = corr.transpose("cell", "mode").values.astype(float)
    if standardize:
        profiles = StandardScaler().fit_transform(profiles)
    ks = [k for k in ks if k <= len(np.unique(profiles, axis=0))] or ks[:1]  # no more clusters than distinct cells
    fits = {k: KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(profiles) for k in ks}
    scores = {k: silhouette_score(profiles, labels) if len(set(labels)) > 1 else -1.0 for k, labels in fits.items()}
    best = max(ks, key=lambda k: scores[k])
    sizes = np.bincount(fits[best], minlength=best)
    relabel = np.argsort(np.argsort(-sizes, kind="stable"))
    return xr.Dataset({"cluster": ("cell", relabel[fits[best]]), "silhouette": ("k", [scores[k] for k in ks])},
                      coords={"cell": corr["cell"].values, "k": ks},
                      attrs={"k": int(best), "seed": int(seed), "standardize": int(standardize)})


def paper_cell_clusters(loadings: xr.DataArray, rates: xr.DataArray) -> xr.Dataset:
    """The cell × mode correlation and its clusters as the official ``5_kmeans_modes.py``.

    Population loadings ``(frame, mode)`` are correlated with each cell's model-predicted
    rate ``(frame, cell)`` (NaN → 0), each mode's column is standardised across cells, and
    k-means (``n_init=10``, ``random_state=42``) picks k in 2..8 by silhouette.

    Returns
    -------
    xarray.Dataset
        ``r (cell, mode)`` (unstandardised), ``cluster (cell)``, ``silhouette (k)``; attr ``k``.
    """
    corr = cell_mode_correlation(loadings, rates)
    clusters = cluster_cells(corr, k_range=range(2, 9), seed=42, standardize=True)
    return clusters.assign(r=corr)


def match_pathways(loadings: xr.DataArray, drives: xr.DataArray) -> xr.Dataset:
    """Which mode's loading tracks which ground-truth pathway drive, per cell.

    Parameters
    ----------
    loadings : xarray.DataArray, shape (frame, cell, mode)
        Contribution-mode loadings.
    drives : xarray.DataArray, shape (frame, cell, pathway)
        True drives on the same frames (e.g. the simulator's ``on_drive`` and ``off_drive``
        stacked along ``pathway``).

    Returns
    -------
    xarray.Dataset
        ``r (cell, pathway, mode)``: Pearson r over frames (0 where constant);
        ``best_mode (cell, pathway)`` and ``best_r (cell, pathway)``: for each cell, one mode
        per pathway, all different, chosen to maximise the smallest r (exhaustively over
        pairs for two pathways, greedily beyond).
    """
    if loadings.sizes["mode"] == 0:
        raise ValueError("the loadings have no mode (the SAE kept none); there is nothing to match.")
    loadings, drives = xr.align(loadings, drives, join="inner", exclude={"cell", "mode", "pathway"})
    r = xr.corr(loadings, drives, dim="frame").fillna(0.0).transpose("cell", "pathway", "mode")
    best = np.zeros((r.sizes["cell"], r.sizes["pathway"]), dtype=int)
    for i, rc in enumerate(r.values):  # rc: (pathway, mode)
        if rc.shape[0] == 2 and rc.shape[1] > 1:
            # the smallest of the two r, ties (e.g. a constant drive) broken by their sum
            pair = np.minimum(rc[0][:, None], rc[1][None, :]) + 1e-3 * (rc[0][:, None] + rc[1][None, :])
            np.fill_diagonal(pair, -np.inf)
            best[i] = np.unravel_index(np.argmax(pair), pair.shape)
        else:
            taken: set[int] = set()
            for p in np.argsort(-rc.max(1)):
                order = [m for m in np.argsort(-rc[p]) if m not in taken]
                best[i, p] = order[0] if order else int(np.argmax(rc[p]))
                taken.add(int(best[i, p]))
    best_r = np.take_along_axis(r.values, best[..., None], axis=2)[..., 0]
    coords = {"cell": r["cell"].values, "pathway": r["pathway"].values}
    return xr.Dataset({"r": r, "best_mode": (("cell", "pathway"), r["mode"].values[best]),
                       "best_r": (("cell", "pathway"), best_r)}, coords=coords)
