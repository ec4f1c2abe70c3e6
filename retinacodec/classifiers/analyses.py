"""The CODEC paper's classifier analyses on per-image features and modes (METHODS.md §3).

- :func:`class_correlation`: Pearson r over images between each mode's loading and each
  class's indicator; :func:`top_modes`: each class's best mode per layer and the share of
  modes with r > 0.2 (official ``bic.get_top_mode`` and ``mode_summary`` statistics);
- :func:`layer_statistics`: per layer, Hoyer sparsity, positive/negative correlation and
  dimensionality of the contributions next to the activations.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from retinacodec.codec.analyses import dimensionality, sign_decorrelation, sparsity_by_layer

__all__ = ["class_correlation", "layer_statistics", "top_modes"]


def class_correlation(loadings: xr.DataArray, labels: xr.DataArray | np.ndarray | None = None) -> xr.DataArray:
    """Pearson r over images between each mode's loading and each class's 0/1 indicator.

    Parameters
    ----------
    loadings : xarray.DataArray, dims (image, mode)
        From :func:`~.modes.image_modes`.
    labels : array, shape (image,), optional
        Class of each image; default the loadings' ``label`` coord.

    Returns
    -------
    xarray.DataArray, dims (mode, class)
        0 where a mode never loads (constant loading); coord ``mode_layer`` kept.
    """
    if labels is None:
        if "label" not in loadings.coords:
            raise ValueError("the loadings carry no 'label' coord; pass labels=.")
        labels = loadings["label"].values
    labels = np.asarray(labels)
    if labels.shape != (loadings.sizes["image"],):
        raise ValueError(f"need one label per image ({loadings.sizes['image']}); got shape {labels.shape}.")
    classes = np.unique(labels)
    onehot = xr.DataArray((labels[:, None] == classes[None]).astype(float), dims=("image", "class"),
                          coords={"class": classes})
    load = loadings.drop_vars([c for c in loadings.coords if c not in ("mode", "mode_layer")]).assign_coords(
        image=np.arange(loadings.sizes["image"]))
    r = xr.corr(load, onehot.assign_coords(image=load["image"].values), dim="image").fillna(0.0)
    return r.transpose("mode", "class").rename("r")


def top_modes(corr: xr.DataArray, threshold: float = 0.2) -> xr.Dataset:
    """Each class's most correlated mode per layer, and how many modes are class-selective.

    Parameters
    ----------
    corr : xarray.DataArray, dims (mode, class)
        From :func:`class_correlation`, with coord ``mode_layer``.
    threshold : float
        A mode is class-selective when its largest r over classes exceeds it (0.2 as the
        paper's class-coverage figures).

    Returns
    -------
    xarray.Dataset, dims (sae, class) and (sae,)
        ``top_mode`` and ``top_r``: the mode (``mode`` coord) with the largest r for each class
        in each SAE; ``share_selective``: share of the SAE's modes with max r > ``threshold``;
        ``n_modes``.
    """
    saes = list(dict.fromkeys(corr["mode_layer"].values.tolist()))
    top, best, share, count = [], [], [], []
    for sae in saes:
        sub = corr.where(corr["mode_layer"] == sae, drop=True)
        idx = sub.values.argmax(0)
        top.append(sub["mode"].values[idx])
        best.append(sub.values[idx, np.arange(sub.sizes["class"])])
        share.append(float((sub.max("class") > threshold).mean()) if sub.sizes["mode"] else np.nan)
        count.append(int(sub.sizes["mode"]))
    return xr.Dataset({"top_mode": (("sae", "class"), np.asarray(top, dtype=int)),
                       "top_r": (("sae", "class"), np.asarray(best)),
                       "share_selective": ("sae", share), "n_modes": ("sae", count)},
                      coords={"sae": saes, "class": corr["class"].values}, attrs={"threshold": threshold})


def _one_source(features: xr.DataArray, variance: float) -> xr.Dataset:
    layers = list(dict.fromkeys(features["layer"].values.tolist()))
    hoyer = sparsity_by_layer(features).mean("image")
    hoyer_net = sparsity_by_layer(features, signed=True).mean("image")
    sign_r = sign_decorrelation(features).mean("image", skipna=True)
    dims = [dimensionality(features.isel(feature=np.flatnonzero(features["layer"].values == name)),
                           variance=variance) for name in layers]
    return xr.Dataset({
        "hoyer": hoyer.sel(layer=layers), "hoyer_net": hoyer_net.sel(layer=layers),
        "sign_correlation": sign_r.sel(layer=layers),
        "n_components": ("layer", [int(d["n_components"]) for d in dims]),
        "participation_ratio": ("layer", [float(d["participation_ratio"]) for d in dims]),
        "n_channels": ("layer", [int((features["layer"].values == n).sum() // 2) for n in layers]),
    }, coords={"layer": layers})


def layer_statistics(contributions: xr.DataArray, activations: xr.DataArray | None = None, *,
                     variance: float = 0.9) -> xr.Dataset:
    """Per layer: sparsity, positive/negative correlation and dimensionality, contributions vs activations.

    Parameters
    ----------
    contributions, activations : xarray.DataArray, dims (image, feature)
        Sign-split features (:func:`~.features.image_contributions`,
        :func:`~.features.image_activations`, best read before the nonlinearity).
    variance : float
        Share of the variance the principal components must explain (0.9).

    Returns
    -------
    xarray.Dataset, dims (source, layer)
        ``hoyer``: mean over images of the Hoyer index across the layer's 2C sign-split
        values (1: one value carries everything, 0: all equal); ``hoyer_net``: the same across
        the C net values (positive + negative, the paper's Fig. 3); ``sign_correlation``: mean
        over images of Pearson r across channels between the positive parts and the
        magnitudes of the negative parts (NaN where one is constant, e.g. after a ReLU);
        ``n_components``: principal components of the 2C values over images for ``variance``
        of their variance; ``participation_ratio`` (Σλ)²/Σλ² of the same; ``n_channels``.
    """
    sources = {"contributions": contributions} | ({} if activations is None else {"activations": activations})
    parts = [_one_source(f, variance) for f in sources.values()]
    out = xr.concat(parts, dim=xr.DataArray(list(sources), dims="source", name="source"))
    out.attrs.update(variance=variance, dimensionality="principal components for `variance` of the variance, "
                     "and the participation ratio")
    return out
