"""History windows as strided views, and leak-free splits."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from retinacodec.model.windows import Normalization, WindowedData, split_blocks, strided_windows, valid_targets
from retinacodec.recording import make_recording


def test_strided_windows_are_views_with_the_right_frames():
    stim = torch.arange(10 * 2 * 3, dtype=torch.float32).reshape(10, 2, 3)
    win = strided_windows(stim, 4)
    assert win.shape == (7, 4, 2, 3)
    assert win.untyped_storage().data_ptr() == stim.untyped_storage().data_ptr()  # no copy
    for i in range(7):
        assert torch.equal(win[i], stim[i : i + 4])


def test_valid_targets_respect_blocks_and_pauses():
    time = np.arange(20) * 0.01
    time[12:] += 1.0  # a pause before frame 12
    mask = np.ones(20, bool)
    mask[5] = False
    got = valid_targets(time, mask, 3)
    # runs: 0-4, 6-11, 12-19 ; need 3 frames of history in the run
    assert got.tolist() == [2, 3, 4, 8, 9, 10, 11, 14, 15, 16, 17, 18, 19]


@settings(max_examples=50, deadline=None)
@given(n=st.integers(60, 400), history=st.integers(1, 20), frac=st.floats(0.05, 0.5), seed=st.integers(0, 99))
def test_split_has_no_window_overlap(n, history, frac, seed):
    targets = np.arange(history - 1, n)
    train, val = split_blocks(targets, frac, 10, history, seed)
    assert len(val) > 0 and len(train) > 0
    assert not set(train) & set(val)
    val_set = set(val.tolist())
    for t in train:  # no training window contains a validation target frame
        assert not any(f in val_set for f in range(t - history + 1, t + 1))


def test_normalization_uses_training_frames_only():
    rng = np.random.default_rng(0)
    stim = rng.normal(size=(100, 4, 4)).astype(np.float32)
    stim[80:] += 100.0  # test block with another mean
    block = np.array(["train"] * 80 + ["test"] * 20)
    repeat = np.array([-1] * 80 + [0] * 10 + [1] * 10)
    rec = make_recording(stim, np.zeros((100, 1), int), np.arange(100) * 0.01, block=block, repeat=repeat)
    data = WindowedData(rec, history=5)
    assert abs(data.normalization.mean - stim[:80].mean()) < 1e-5
    assert abs(float(data.stimulus[:80].mean())) < 1e-5
    x, y = data.batch(np.array([4, 10]))
    assert x.shape == (2, 5, 4, 4) and y.shape == (2, 1)
    torch.testing.assert_close(x[1], data.stimulus[6:11])
    assert data.targets("test", repeat=1).tolist() == list(range(94, 100))
    assert Normalization.fit(np.ones(5)).std == 1.0
