"""Tests for retinacodec.sim.stimuli."""

from pathlib import Path

import numpy as np
import pytest
import skimage.data

from retinacodec.sim import stimuli


def test_white_noise_is_binary_with_the_right_contrast():
    movie = stimuli.white_noise(500, size=(12, 9), contrast=0.35, seed=3)
    assert movie.shape == (500, 12, 9)
    assert movie.dtype == np.float32
    assert set(np.unique(movie)) == {np.float32(-0.35), np.float32(0.35)}
    assert abs(movie.mean()) < 0.01


def test_white_noise_checkers_are_constant_blocks():
    movie = stimuli.white_noise(50, size=(7, 10), checker=3, seed=1)
    assert movie.shape == (50, 7, 10)
    block = movie[:, 3:6, 6:9].reshape(50, -1)
    assert np.all(block == block[:, :1])
    assert np.any(movie[:, 0, 0] != movie[:, 0, 3])
    with pytest.raises(ValueError, match="checker"):
        stimuli.white_noise(5, checker=0)


def test_white_noise_is_seeded():
    a = stimuli.white_noise(20, size=(5, 5), seed=7)
    np.testing.assert_array_equal(a, stimuli.white_noise(20, size=(5, 5), seed=7))
    np.testing.assert_array_equal(a, stimuli.white_noise(20, size=(5, 5), seed=np.random.default_rng(7)))
    assert not np.array_equal(a, stimuli.white_noise(20, size=(5, 5), seed=8))


def test_natural_images_ship_with_scikit_image():
    shipped = {p.stem for p in Path(skimage.data.__file__).parent.iterdir()}
    assert set(stimuli.NATURAL_IMAGES) <= shipped
    for name in stimuli.NATURAL_IMAGES:
        img = stimuli.load_natural_image(name)
        assert img.ndim == 2 and img.min() >= 0 and img.max() <= 1 and img.std() > 0.05
    with pytest.raises(ValueError, match="unknown image"):
        stimuli.load_natural_image("not_an_image")


def test_natural_movie_shape_units_and_determinism():
    movie = stimuli.natural_movie(600, size=(20, 24), seed=2, fixation_frames=100)
    assert movie.shape == (600, 20, 24)
    assert movie.dtype == np.float32
    assert np.all(np.isfinite(movie))
    assert abs(movie.mean()) < 0.5
    assert 0.3 < movie.std() < 2.0
    np.testing.assert_array_equal(movie, stimuli.natural_movie(600, size=(20, 24), seed=2, fixation_frames=100))
    assert not np.array_equal(movie, stimuli.natural_movie(600, size=(20, 24), seed=3, fixation_frames=100))


def test_natural_movie_jitters_within_fixations_and_jumps_at_saccades():
    movie = stimuli.natural_movie(2000, size=(20, 20), seed=0, fixation_frames=50, jitter_px=1.0)
    step = np.abs(np.diff(movie, axis=0)).mean(axis=(1, 2))
    saccades = np.arange(49, 1999, 50)
    within = np.setdiff1d(np.arange(1999), saccades)
    assert np.all(step[within] > 0)  # the eye never stands still
    assert np.median(step[saccades]) > 2 * np.median(step[within])
    still = stimuli.natural_movie(100, size=(20, 20), seed=0, fixation_frames=50, jitter_px=0.0)
    np.testing.assert_array_equal(still[0], still[49])


def test_natural_movie_accepts_arrays_and_rejects_small_images():
    rng = np.random.default_rng(0)
    movie = stimuli.natural_movie(30, size=(10, 10), seed=1, images=[rng.random((80, 90))], scales=(2,))
    assert movie.shape == (30, 10, 10)
    with pytest.raises(ValueError, match="twice the frame size"):
        stimuli.natural_movie(10, size=(10, 10), images=[rng.random((30, 30))], scales=(2,))


def test_full_field_step_and_flashes():
    step = stimuli.full_field_step(10, onset=3, offset=6, intensity=0.5, size=(4, 5), baseline=-0.1)
    assert step.shape == (10, 4, 5) and step.dtype == np.float32
    np.testing.assert_allclose(step[:, 2, 3], [-0.1] * 3 + [0.5] * 3 + [-0.1] * 4)
    assert np.all(step == step[:, :1, :1])
    np.testing.assert_array_equal(stimuli.full_field_step(5, onset=2, size=(2, 2))[:, 0, 0], [0, 0, 1, 1, 1])
    flash = stimuli.full_field_flash(8, onset=2, duration=2, intensity=-1.0, size=(3, 3))
    np.testing.assert_array_equal(flash[:, 1, 1], [0, 0, -1, -1, 0, 0, 0, 0])
    seq = stimuli.flash_sequence(12, onsets=[0, 6], duration=2, intensity=[1.0, 0.5], size=(2, 2))
    np.testing.assert_array_equal(seq[:, 0, 0], [1, 1, 0, 0, 0, 0, 0.5, 0.5, 0, 0, 0, 0])
