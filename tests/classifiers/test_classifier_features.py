"""Per-image contributions and activations of classifier layers: targets, reductions, inputs, checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from retinacodec.attribution import contributions
from retinacodec.classifiers import image_activations, image_contributions, reduce_layer, tiny_vit

LAYERS = ["layer1", "layer2.0", "layer3", "layer4"]


@pytest.fixture(scope="session")
def true_class(digits_net):
    te = digits_net.test[:96]
    x, y = digits_net.images[te], digits_net.labels[te]
    return x, y, image_contributions(digits_net.model, x, LAYERS, "true", labels=y, batch_size=48)


def test_true_class_contributions_add_up_and_are_sign_split(true_class):
    x, y, c = true_class
    assert c.dims == ("image", "feature") and c.sizes["image"] == 96
    assert np.array_equal(c["label"].values, y.numpy())
    pos, neg = c.where(c["sign"] == "pos", drop=True), c.where(c["sign"] == "neg", drop=True)
    assert float(pos.min()) >= 0 and float(neg.max()) <= 0
    assert c.where(c["layer"] == "layer4", drop=True).sizes["feature"] == 2 * 64
    # completeness: the ReLU kinks inside blocks leave ~1e-2 at 20 steps; the last block is exact
    assert np.all(c.attrs["completeness_median"] < 0.05)
    assert c.attrs["completeness_median"][-1] < 1e-4


def test_true_target_is_each_images_own_logit(digits_net, true_class):
    x, y, c = true_class
    k = int(y[0])
    mine = np.flatnonzero(y.numpy() == k)
    ref = contributions(digits_net.model, x[mine], ["layer4"], f"logit:{k}", split_sign=True, reduce="space")
    ours = c.isel(image=mine).where(c["layer"] == "layer4", drop=True).values
    theirs = ref["layer4"].values[:, 0].reshape(mine.size, -1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_predicted_max_and_margin_targets(digits_net, true_class):
    x, y, c = true_class
    p = image_contributions(digits_net.model, x[:32], ["layer4"], "predicted")
    m = image_contributions(digits_net.model, x[:32], ["layer4"], "max")
    right = p["predicted"].values == y[:32].numpy()
    # where the prediction is right the predicted class is the label
    np.testing.assert_allclose(p.values[right], c.isel(image=np.flatnonzero(right))
                               .where(c["layer"] == "layer4", drop=True).values, rtol=1e-4, atol=1e-5)
    margin = image_contributions(digits_net.model, x[:8], ["layer4"], "margin")
    assert margin.attrs["target"] == "margin" and np.isfinite(margin.values).all()
    assert m.attrs["target"] == "max" and "label" not in m.coords


def test_dataloader_gives_the_same_as_a_tensor(digits_net, true_class):
    x, y, c = true_class
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[:40], y[:40]), batch_size=16)
    from_loader = image_contributions(digits_net.model, loader, ["layer4"], "true")
    np.testing.assert_allclose(from_loader.values, c.isel(image=slice(0, 40)).where(c["layer"] == "layer4", drop=True)
                               .values, rtol=1e-5, atol=1e-6)


def test_activations_before_the_block_relu_have_negative_parts(digits_net, tmp_path):
    x = digits_net.images[:64]
    pre = image_activations(digits_net.model, x, LAYERS)
    post = image_activations(digits_net.model, x, LAYERS, pre_nonlinearity=False)
    neg = pre["sign"] == "neg"
    assert float(pre.where(neg, drop=True).min()) < 0
    assert float(abs(post.where(neg, drop=True)).max()) == 0
    # the positive part after the ReLU is the positive part before it
    np.testing.assert_allclose(pre.where(~neg, drop=True).values, post.where(~neg, drop=True).values, rtol=1e-5)
    pre.to_netcdf(tmp_path / "a.nc")
    assert xr.open_dataarray(tmp_path / "a.nc").sizes["feature"] == pre.sizes["feature"]


def test_vit_tokens_are_summed_over_tokens():
    vit = tiny_vit(image_size=16, patch_size=4, in_channels=1, num_layers=2).double()
    x = torch.randn(6, 1, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    name = "encoder.layers.encoder_layer_1"
    c = image_contributions(vit, x, [name], "logit:2")
    full = contributions(vit, x, [name], "logit:2")[name].values[:, 0]  # (image, token, feature)
    expected = np.concatenate([np.clip(full, 0, None).sum(1), np.clip(full, None, 0).sum(1)], axis=1)
    np.testing.assert_allclose(c.values, expected, rtol=1e-5, atol=1e-7)
    assert c.attrs["completeness_max"][0] < 0.05  # smooth GELU and softmax: trapezoid error only
    assert reduce_layer(torch.zeros(3, 5, 7)).shape == (3, 2, 7)
    assert reduce_layer(torch.zeros(3, 4, 5, 5)).shape == (3, 2, 4)
    assert reduce_layer(torch.zeros(3, 9)).shape == (3, 2, 9)


def test_bad_input(digits_net):
    x = digits_net.images[:4]
    with pytest.raises(ValueError, match="needs labels"):
        image_contributions(digits_net.model, x, ["layer4"], "true")
    with pytest.raises(ValueError, match="CUDA"):
        image_contributions(digits_net.model, x, ["layer4"], "max", mixed_precision=True)
    with pytest.raises(ValueError, match="target must be"):
        image_contributions(digits_net.model, x, ["layer4"], "entropy")
    with pytest.raises(ValueError, match="labels for"):
        image_contributions(digits_net.model, x, ["layer4"], "true", labels=torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="unknown layer"):
        image_activations(digits_net.model, x, ["layer7"])
