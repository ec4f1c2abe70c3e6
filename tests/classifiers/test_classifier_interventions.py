"""Ablating a class's top mode (official protocol) and image components, on planted class channels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from retinacodec.classifiers import (
    channel_ranking,
    class_ablation,
    class_accuracy,
    image_contributions,
    image_modes,
    mode_ablation,
)
from retinacodec.classifiers.components import mode_components


@pytest.fixture(scope="session")
def toy(class_channels):
    model, x, y = class_channels
    c = image_contributions(model, x, ["block"], "true", labels=y)
    return model, x, y, image_modes(c, lr=5e-3, max_epochs=100)


def test_class_accuracy_with_masks(class_channels):
    model, x, y = class_channels
    assert all(v == 1.0 for v in class_accuracy(model, x, y).values())
    mask = torch.ones(20, 1, 1)
    mask[6:8] = 0  # class 3's channels
    acc = class_accuracy(model, x, y, {"block": mask})
    assert acc[3] == 0.0 and all(acc[k] == 1.0 for k in range(10) if k != 3)
    prob = class_accuracy(model, x, y, {"block": mask}, metric="probability")
    assert prob[3] < 0.2 < min(prob[k] for k in range(10) if k != 3)
    with pytest.raises(ValueError, match="metric"):
        class_accuracy(model, x, y, metric="loss")


def test_mode_ablation_hits_only_the_modes_class(toy):
    model, x, y, modes = toy
    out = mode_ablation(model, modes, x, y, "block", percent=10)
    assert out.attrs["n_zeroed"] == 2
    np.testing.assert_allclose(out["drop_target"].values, 1.0)
    np.testing.assert_allclose(out["drop_others"].values, 0.0)
    assert out.attrs["mean_selectivity"] == pytest.approx(1.0) and out.attrs["share_twice"] == 1.0
    for k in range(10):
        assert set(channel_ranking(modes, int(out["mode"].sel(**{"class": k})), "block")[:2]) == {2 * k, 2 * k + 1}


def test_class_ablation_follows_the_official_protocol(toy):
    model, x, y, modes = toy
    out = class_ablation(model, modes, x, y, "block", n_trials=5, percents=(5, 10, 50), seed=1992)
    ablate = out["ratio"].sel(kind="ablate")
    assert out["ratio"].shape == (2, 5, 3, 2)
    assert (out["target_class"] != out["off_target_class"]).all()
    # 5 % is one channel: the class's other channel still carries it; from 10 % both are zeroed
    assert float(ablate.sel(frames="target", percent=5.0).min()) == 1.0
    assert float(ablate.sel(frames="target", percent=[10.0, 50.0]).max()) == 0.0
    # zeroing half the channels can take the off-target class's too; at 5 and 10 % it never does
    assert float(ablate.sel(frames="off_target", percent=[5.0, 10.0]).min()) == 1.0
    assert float(out["selectivity"].sel(kind="ablate")) > 0.5
    preserve = out["ratio"].sel(kind="preserve", percent=10.0)
    assert float(preserve.sel(frames="target").min()) == 1.0 and float(preserve.sel(frames="off_target").max()) == 0
    with pytest.raises(ValueError, match="no mode belongs"):
        class_ablation(model, modes, x, y, "fc")


def test_components_show_where_the_class_blob_is(class_channels):
    model, x, y = class_channels
    comp = mode_components(model, x[::40], "block", [2 * k for k in range(10)], labels=y[::40], filter_size=1,
                           contrast=1.0)
    assert comp["mask"].shape == (10, 6, 6) and float(comp["mask"].max()) <= 1.0
    inside = comp["mask"].values[:, 1:5, 1:5].mean()
    ring = comp["mask"].values.sum(axis=(1, 2)) - comp["mask"].values[:, 1:5, 1:5].sum(axis=(1, 2))
    assert inside > 0.5 and ring.mean() / 20 < 0.5 * inside
    # only the chosen channels count: the odd channels alone give the same map here (each class has one of each)
    odd = mode_components(model, x[::40], "block", [2 * k + 1 for k in range(10)], labels=y[::40], filter_size=1)
    np.testing.assert_allclose(odd["gradient_x_input"].values, comp["gradient_x_input"].values, rtol=1e-5)
    with pytest.raises(ValueError, match="out of range"):
        mode_components(model, x[:2], "block", [25], labels=y[:2])
