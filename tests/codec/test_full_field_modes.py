"""The default CODEC preset on a full-field (1×1) run/freeze recording: modes kept, ON and OFF cells apart.

A temporal-only model of the simulated retina's ON, OFF and ON-OFF cells. Wrong implementations
these tests catch: a default that keeps no mode (the paper's recipe here), and modes that do not
tell the cell types apart (ON and OFF cells loading most on the same mode).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import retinacodec as rc
from retinacodec.codec import decompose

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def full_field():
    torch.manual_seed(0)
    rec, truth = rc.simulate_run_freeze(n_cells=6, n_trials=12, seed=1)
    model = rc.fit(rec, seed=0, epochs=4, progress=False)
    return model, rec, truth


def test_default_keeps_modes_and_separates_on_from_off_cells(full_field):
    model, rec, _ = full_field
    ds = decompose(model, rec, progress=False)
    assert (ds["n_modes"] >= 4).all() and (ds["r2_grand"] >= 0.9).all(), ds[["n_modes", "r2_grand"]]
    assert (ds["completeness_median"] <= 1e-4).all()
    layer1 = ds.sel(mode=ds["mode_layer"] == "layer1")
    top = layer1["mode"].values[layer1["loadings"].mean("frame").argmax("mode").values]  # (cell,)
    kinds = rec["cell_type"].values
    on, off = set(top[kinds == "ON"].tolist()), set(top[kinds == "OFF"].tolist())
    assert on and off and not on & off, dict(zip(kinds.tolist(), top.tolist(), strict=True))
    counts = np.bincount((layer1["loadings"] > 0).sum("mode").values.ravel())
    assert (counts > 0).sum() >= 3  # the number of active modes varies
