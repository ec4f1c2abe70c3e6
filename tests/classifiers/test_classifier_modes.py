"""SAE modes of classifier layers, the class correlation and the per-layer statistics, on planted ground truth."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from retinacodec.classifiers import (
    RESNET_PRESET,
    class_correlation,
    image_contributions,
    image_modes,
    layer_statistics,
    select_part,
    top_modes,
)
from retinacodec.codec.sae import CodecSAE

FAST = {"lr": 5e-3, "max_epochs": 100}  # the preset's 300 epochs at lr 5e-5 are for the benchmark


@pytest.fixture(scope="session")
def toy_modes(class_channels):
    model, x, y = class_channels
    c = image_contributions(model, x, ["block"], "true", labels=y)
    return c, image_modes(c, **FAST)


def test_preset_is_the_official_resnet_run():
    assert RESNET_PRESET == {"expansion": 3.0, "threshold": 0.8, "lr": 5e-5, "max_epochs": 300, "l1": 5e-5,
                             "batch_size": 128, "step_lr": None, "plateau_lr": (0.5, 10), "drop_last": False}


def test_plateau_schedule_halves_the_rate_when_the_loss_stalls():
    x = np.random.default_rng(0).normal(size=(64, 4))
    # at a rate this small the loss cannot improve by the scheduler's 1e-4 relative threshold
    sae = CodecSAE(expansion=1, lr=1e-7, max_epochs=4, step_lr=None, plateau_lr=(0.5, 0), dropout=0.0).fit(x)
    # the first epoch sets the best loss; each later one fails to beat it and halves the rate for the next
    assert [h["lr"] for h in sae.history_] == pytest.approx([1e-7, 1e-7, 5e-8, 2.5e-8])
    steady = CodecSAE(expansion=1, lr=1e-7, max_epochs=4, dropout=0.0).fit(x)  # the retina's StepLR(25)
    assert steady.history_[-1]["lr"] == pytest.approx(1e-7)
    with pytest.raises(ValueError, match="not both"):
        CodecSAE(expansion=1, max_epochs=1, step_lr=(25, 0.98), plateau_lr=(0.5, 10)).fit(x)


def test_each_class_gets_a_mode_on_its_own_channels(toy_modes):
    c, ds = toy_modes
    assert ds.sizes["feature"] == 20 and set(ds["sign"].values) == {"pos"}
    corr = class_correlation(ds["loadings"])
    tops = top_modes(corr)
    assert corr.dims == ("mode", "class") and tops["top_r"].min() > 0.8
    for k in range(10):
        atom = ds["modes"].sel(mode=int(tops["top_mode"].sel(sae="block", **{"class": k}))).values
        assert set(np.argsort(-atom)[:2]) == {2 * k, 2 * k + 1}
    assert float(tops["share_selective"].sel(sae="block")) > 0.5


def test_select_part(toy_modes):
    c, _ = toy_modes
    assert select_part(c, "both").sizes["feature"] == 40
    assert float(select_part(c, "negative").min()) >= 0
    net = select_part(c, "net")
    np.testing.assert_allclose(net.values, select_part(c, "positive").values - select_part(c, "negative").values)
    with pytest.raises(ValueError, match="part must be"):
        select_part(c, "absolute")


def test_class_correlation_of_planted_loadings():
    labels = np.repeat(np.arange(3), 10)
    load = np.zeros((30, 2))
    load[labels == 1, 0] = 1.0  # mode 0: an indicator of class 1
    load[:, 1] = np.arange(30)  # mode 1: ramps with the class
    da = xr.DataArray(load, dims=("image", "mode"), coords={"mode": [0, 1], "mode_layer": ("mode", ["a", "a"]),
                                                            "label": ("image", labels)})
    r = class_correlation(da)
    assert r.sel(mode=0, **{"class": 1}) == pytest.approx(1.0)
    assert r.sel(mode=0, **{"class": 0}) == pytest.approx(-0.5)
    assert int(top_modes(r)["top_mode"].sel(sae="a", **{"class": 2})) == 1
    with pytest.raises(ValueError, match="one label per image"):
        class_correlation(da, labels=labels[:5])


def test_layer_statistics_on_planted_features():
    rng = np.random.default_rng(0)
    n = 200
    one_hot = np.zeros((n, 8))
    one_hot[np.arange(n), rng.integers(0, 4, n)] = rng.uniform(1, 2, n)  # one positive channel per image
    dense = rng.uniform(1, 2, (n, 4))
    values = np.concatenate([one_hot, np.concatenate([dense, -dense], 1)], axis=1)  # layer a: sparse, layer b: dense
    coords = {"layer": ("feature", ["a"] * 8 + ["b"] * 8), "sign": ("feature", (["pos"] * 4 + ["neg"] * 4) * 2),
              "channel": ("feature", list(range(4)) * 4)}
    f = xr.DataArray(values, dims=("image", "feature"), coords=coords)
    st = layer_statistics(f, f, variance=0.9)
    assert st["hoyer"].sel(source="contributions", layer="a") == pytest.approx(1.0)
    assert float(st["hoyer"].sel(layer="b", source="activations")) < 0.2
    assert float(st["sign_correlation"].sel(layer="b", source="activations")) == pytest.approx(1.0)
    assert int(st["n_components"].sel(layer="a", source="contributions")) in (3, 4)
    assert st["n_channels"].sel(layer="b", source="contributions") == 4
