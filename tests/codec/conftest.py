"""Fixtures of the CODEC tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from retinacodec.model.bncnn import BNCNN, preset_config
from retinacodec.model.windows import Normalization
from retinacodec.recording import make_recording


@pytest.fixture(scope="session")
def tiny():
    """A random 2-cell model on 8×8 frames and a short recording with a train and a test block."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n_train, n_test, ny = 400, 120, 8
    stim = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(n_train + n_test, ny, ny))
    block = np.r_[np.full(n_train, "train"), np.full(n_test, "test")]
    repeat = np.r_[np.full(n_train, -1), np.zeros(n_test, dtype=int)]
    rec = make_recording(stim, rng.poisson(0.2, size=(n_train + n_test, 2)), np.arange(n_train + n_test) / 100.0,
                         block=block, repeat=repeat, frame_rate_hz=100.0, pixel_size_um=50.0)
    model = BNCNN(preset_config("sample", n_cells=2, input_size=(ny, ny), history=10, kernel_sizes=(3, 3),
                                channels=(4, 4))).eval()
    model.normalization = Normalization(0.0, 1.0)
    return model, rec


@pytest.fixture
def make_features():
    """A maker of random sign-split layer1 features (frame, cell, feature): 4 channels, pos then neg."""

    def make(n_frames: int = 300, n_cells: int = 2, seed: int = 0) -> xr.DataArray:
        rng = np.random.default_rng(seed)
        values = np.abs(rng.normal(size=(n_frames, n_cells, 8))).astype(np.float32)
        values[..., 4:] *= -1
        return xr.DataArray(values, dims=("frame", "cell", "feature"), name="contributions",
                            coords={"frame": np.arange(n_frames), "cell": np.arange(n_cells),
                                    "layer": ("feature", ["layer1"] * 8),
                                    "sign": ("feature", ["pos"] * 4 + ["neg"] * 4),
                                    "channel": ("feature", [0, 1, 2, 3] * 2)})

    return make
