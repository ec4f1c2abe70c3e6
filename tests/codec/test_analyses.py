"""The paper's analyses: sparsity (both definitions), dimensionality, sign decorrelation, cell clusters."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from retinacodec.codec import analyses


def test_hoyer_and_dimensionality():
    x = xr.DataArray([[1.0, 0, 0, 0], [1, 1, 1, 1]], dims=("sample", "feature"))
    np.testing.assert_allclose(analyses.hoyer(x).values, [1.0, 0.0])
    rng = np.random.default_rng(0)
    low = rng.normal(size=(500, 2)) @ rng.normal(size=(2, 10))
    d = analyses.dimensionality(xr.DataArray(low, dims=("sample", "feature")))
    assert int(d["n_components"]) == 2 and 1 <= float(d["participation_ratio"]) <= 2


def test_sign_decorrelation_and_sparsity_by_layer(make_features):
    f = make_features(n_frames=50)
    f[..., 4:] = -f[..., :4].values  # negative parts mirror positive parts: r = 1
    r = analyses.sign_decorrelation(f)
    assert r.dims == ("frame", "cell", "layer")
    np.testing.assert_allclose(r.values, 1.0, atol=1e-6)
    assert analyses.sparsity_by_layer(f).dims == ("frame", "cell", "layer")


def test_cell_mode_correlation_and_clustering():
    rng = np.random.default_rng(0)
    a, b = rng.random(200), rng.random(200)
    rates = xr.DataArray(np.stack([a, a + 0.01 * b, a, b, b + 0.01 * a, b], 1), dims=("frame", "cell"),
                         coords={"frame": np.arange(200), "cell": np.arange(6)})
    loadings = xr.DataArray(np.stack([a, b], 1), dims=("frame", "mode"), coords={"frame": np.arange(200)})
    corr = analyses.cell_mode_correlation(loadings, rates)
    assert corr.dims == ("cell", "mode") and corr.sel(cell=0, mode=0) > 0.99
    clusters = analyses.cluster_cells(corr)
    assert clusters.attrs["k"] == 2
    labels = clusters["cluster"].values
    assert len(set(labels[:3])) == 1 and len(set(labels[3:])) == 1 and labels[0] != labels[3]


def test_hoyer_of_the_signed_spatial_sum_differs_from_the_sign_split_one(make_features):
    """A channel whose positive and negative parts cancel is silent in the signed sum (the paper's Fig. 3)."""
    f = make_features(n_frames=1, n_cells=1)
    f[...] = np.array([2.0, 1.0, 1.0, 1.0, -2.0, -1.0, -1.0, 0.0], dtype=np.float32)
    net = analyses.signed_spatial_sum(f)
    np.testing.assert_allclose(net.values.ravel(), [0.0, 0.0, 0.0, 1.0])
    assert list(net["channel"].values) == [0, 1, 2, 3] and "sign" not in net.coords
    signed = analyses.sparsity_by_layer(f, signed=True)
    split = analyses.sparsity_by_layer(f)
    assert float(signed.squeeze()) == pytest.approx(1.0)  # one non-zero channel
    assert float(split.squeeze()) < 0.5 and signed.attrs["definition"] == "signed spatial sum per channel"
    unpaired = f.assign_coords(channel=("feature", [0, 1, 2, 3, 1, 0, 2, 3]))
    with pytest.raises(ValueError, match="do not pair up"):
        analyses.signed_spatial_sum(unpaired)


def test_paper_cell_clusters_standardise_each_mode_across_cells():
    """As 5_kmeans_modes.py: modes z-scored across cells before k-means, so a mode's scale cannot dominate."""
    rng = np.random.default_rng(1)
    a, b, c = rng.random(300), rng.random(300), rng.random(300)
    rates = xr.DataArray(np.stack([a, a, a, a + b, a + b, a + b], 1), dims=("frame", "cell"),
                         coords={"frame": np.arange(300), "cell": np.arange(6)})
    # mode 1 separates the two groups weakly; mode 0 tracks a for everyone with a large spread of r
    loadings = xr.DataArray(np.stack([a + 0.1 * c, b], 1), dims=("frame", "mode"), coords={"frame": np.arange(300)})
    out = analyses.paper_cell_clusters(loadings, rates)
    assert out["r"].dims == ("cell", "mode") and out.attrs["standardize"] == 1 and out.attrs["seed"] == 42
    labels = out["cluster"].values
    assert len(set(labels[:3])) == 1 and len(set(labels[3:])) == 1 and labels[0] != labels[3]
    # the same as z-scoring each column by hand and clustering with the official k-means settings
    z = StandardScaler().fit_transform(out["r"].values)
    manual = KMeans(n_clusters=out.attrs["k"], n_init=10, random_state=42).fit_predict(z)
    assert len({(m, c) for m, c in zip(manual, labels, strict=True)}) == out.attrs["k"]  # same partition
