"""Stimulus generators for simulated and in-silico retina experiments.

Every generator returns a float32 array of shape ``(n_frames, ny, nx)`` in contrast units
around the mean luminance: 0 is the mean grey, ``+1`` one unit of contrast brighter, ``-1``
one unit darker. Frames are stimulus frames (10 ms each at the default 100 Hz); sizes are in
stimulus pixels. Random generators take ``seed``, an int or a ``numpy.random.Generator``, and
are deterministic for a given int seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import skimage.color
import skimage.data
import skimage.transform
from scipy import ndimage

__all__ = [
    "NATURAL_IMAGES",
    "flash_sequence",
    "flashed_bars",
    "full_field_flash",
    "full_field_step",
    "load_natural_image",
    "moving_bar",
    "natural_movie",
    "white_noise",
]

#: Photographs that ship inside scikit-image's wheel (``skimage/data``), so they load
#: without a download.
NATURAL_IMAGES = ("camera", "astronaut", "coffee", "chelsea", "rocket", "grass", "gravel", "brick")

Seed = int | np.random.Generator | None


def white_noise(
    n_frames: int,
    size: tuple[int, int] = (50, 50),
    contrast: float = 1.0,
    checker: int = 1,
    seed: Seed = 0,
) -> np.ndarray:
    """Binary checkerboard white noise.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    size : (int, int)
        Frame size ``(ny, nx)`` in pixels.
    contrast : float
        Each checker is independently ``+contrast`` or ``-contrast`` (contrast units).
    checker : int
        Edge of one checker in pixels; checkers at the bottom/right edges are cropped.
    seed : int or numpy.random.Generator
        Random seed or generator.

    Returns
    -------
    ndarray, shape (n_frames, ny, nx), float32
        Values in ``{-contrast, +contrast}``.
    """
    if checker < 1:
        raise ValueError(f"checker must be >= 1 pixel; got {checker}.")
    ny, nx = size
    rng = np.random.default_rng(seed)
    cy, cx = -(-ny // checker), -(-nx // checker)
    signs = rng.integers(0, 2, size=(n_frames, cy, cx), dtype=np.int8)
    frames = np.array([-contrast, contrast], dtype=np.float32)[signs]
    if checker > 1:
        frames = np.repeat(np.repeat(frames, checker, axis=1), checker, axis=2)[:, :ny, :nx]
    return frames


def load_natural_image(name: str) -> np.ndarray:
    """Load one of the photographs shipped with scikit-image as grey levels.

    Parameters
    ----------
    name : str
        One of :data:`NATURAL_IMAGES`.

    Returns
    -------
    ndarray, shape (height, width), float64
        Grey level in [0, 1].
    """
    if name not in NATURAL_IMAGES:
        raise ValueError(f"unknown image {name!r}; choose from {NATURAL_IMAGES}.")
    return _grey_image(name).copy()


@lru_cache(maxsize=len(NATURAL_IMAGES))
def _grey_image(name: str) -> np.ndarray:
    """Cached grey-level version of a shipped image (do not modify the returned array)."""
    image = getattr(skimage.data, name)()
    if image.ndim == 3:
        return skimage.color.rgb2gray(image[..., :3])
    return image.astype(np.float64) / np.iinfo(image.dtype).max


def _reflect(p: np.ndarray, upper: float) -> np.ndarray:
    """Fold positions ``p`` back into ``[0, upper]`` by mirror reflection."""
    m = np.mod(p, 2 * upper)
    return np.where(m > upper, 2 * upper - m, m)


def natural_movie(
    n_frames: int,
    size: tuple[int, int] = (50, 50),
    seed: Seed = 0,
    images: Sequence[str | np.ndarray] | None = None,
    fixation_frames: int = 100,
    jitter_px: float = 1.0,
    scales: Sequence[int] = (2, 3, 4),
    contrast: float = 1.0,
) -> np.ndarray:
    """Natural photographs viewed with fixational eye movements.

    The movie is a sequence of fixations of ``fixation_frames`` frames each. Each fixation
    (a saccade) picks a random image, a random down-sampling factor from ``scales`` and a
    random patch; during the fixation the patch drifts by a Gaussian random walk with
    ``jitter_px`` pixels standard deviation per frame per axis (bilinear interpolation,
    mirrored at the image borders). Each down-sampled image is z-scored over its whole area,
    so the movie is in contrast units relative to the image's mean luminance.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    size : (int, int)
        Frame size ``(ny, nx)`` in pixels.
    seed : int or numpy.random.Generator
        Random seed or generator.
    images : sequence of str or ndarray, optional
        Names from :data:`NATURAL_IMAGES` or grey-level arrays ``(height, width)``;
        defaults to all of :data:`NATURAL_IMAGES`.
    fixation_frames : int
        Frames between saccades.
    jitter_px : float
        Standard deviation of the per-frame eye-movement step, in stimulus pixels.
    scales : sequence of int
        Image pixels per stimulus pixel (box down-sampling factors); factors that leave the
        image smaller than twice the frame are skipped.
    contrast : float
        Multiplies the z-scored movie (1 = unit standard deviation per image).

    Returns
    -------
    ndarray, shape (n_frames, ny, nx), float32
        The movie in contrast units.
    """
    if fixation_frames < 1:
        raise ValueError(f"fixation_frames must be >= 1; got {fixation_frames}.")
    rng = np.random.default_rng(seed)
    ny, nx = size
    sources = [
        load_natural_image(im) if isinstance(im, str) else np.asarray(im, float)
        for im in (NATURAL_IMAGES if images is None else images)
    ]
    library = []
    for img in sources:
        for s in scales:
            small = skimage.transform.downscale_local_mean(img, (s, s))
            if small.shape[0] >= 2 * ny and small.shape[1] >= 2 * nx:
                library.append((small - small.mean()) / small.std())
    if not library:
        raise ValueError(f"no image is at least twice the frame size {size} at scales {tuple(scales)}.")
    movie = np.empty((n_frames, ny, nx), dtype=np.float32)
    iy, ix = np.mgrid[0:ny, 0:nx].astype(np.float64)
    for start in range(0, n_frames, fixation_frames):
        n = min(fixation_frames, n_frames - start)
        img = library[rng.integers(len(library))]
        max_y, max_x = img.shape[0] - ny, img.shape[1] - nx
        steps = rng.normal(0.0, jitter_px, size=(n, 2))
        steps[0] = rng.uniform(0, max_y), rng.uniform(0, max_x)
        walk = np.cumsum(steps, axis=0)
        y0 = _reflect(walk[:, 0], max_y)[:, None, None]
        x0 = _reflect(walk[:, 1], max_x)[:, None, None]
        coords = np.stack(np.broadcast_arrays(y0 + iy, x0 + ix))
        movie[start : start + n] = ndimage.map_coordinates(img, coords, order=1)
    return movie * np.float32(contrast)


def full_field_step(
    n_frames: int,
    onset: int,
    offset: int | None = None,
    intensity: float = 1.0,
    size: tuple[int, int] = (50, 50),
    baseline: float = 0.0,
) -> np.ndarray:
    """A spatially uniform step of light.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    onset : int
        First frame at ``intensity``.
    offset : int, optional
        First frame back at ``baseline``; defaults to never (the step lasts to the end).
    intensity : float
        Contrast during the step.
    size : (int, int)
        Frame size ``(ny, nx)`` in pixels.
    baseline : float
        Contrast outside the step.

    Returns
    -------
    ndarray, shape (n_frames, ny, nx), float32
    """
    profile = np.full(n_frames, baseline, dtype=np.float32)
    profile[onset:offset] = intensity
    return np.broadcast_to(profile[:, None, None], (n_frames, *size)).copy()


def full_field_flash(
    n_frames: int,
    onset: int,
    duration: int = 2,
    intensity: float = 1.0,
    size: tuple[int, int] = (50, 50),
    baseline: float = 0.0,
) -> np.ndarray:
    """One spatially uniform flash of ``duration`` frames starting at frame ``onset``.

    Parameters
    ----------
    n_frames, onset : int
        Number of frames and first flash frame.
    duration : int
        Flash length in frames.
    intensity, baseline : float
        Contrast during and outside the flash.
    size : (int, int)
        Frame size ``(ny, nx)`` in pixels.

    Returns
    -------
    ndarray, shape (n_frames, ny, nx), float32
    """
    return full_field_step(n_frames, onset, onset + duration, intensity, size, baseline)


def flash_sequence(
    n_frames: int,
    onsets: Sequence[int],
    duration: int = 2,
    intensity: float | Sequence[float] = 1.0,
    size: tuple[int, int] = (50, 50),
    baseline: float = 0.0,
) -> np.ndarray:
    """Several spatially uniform flashes, e.g. a periodic train with one flash omitted.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    onsets : sequence of int
        First frame of each flash.
    duration : int
        Flash length in frames.
    intensity : float or sequence of float
        Contrast of every flash, or one per flash.
    size : (int, int)
        Frame size ``(ny, nx)`` in pixels.
    baseline : float
        Contrast between flashes.

    Returns
    -------
    ndarray, shape (n_frames, ny, nx), float32
    """
    intensities = np.broadcast_to(np.asarray(intensity, dtype=np.float32), (len(onsets),))
    profile = np.full(n_frames, baseline, dtype=np.float32)
    for onset, value in zip(onsets, intensities, strict=True):
        profile[onset : onset + duration] = value
    return np.broadcast_to(profile[:, None, None], (n_frames, *size)).copy()


def moving_bar(
    positions: Sequence[float] | np.ndarray,
    width: float = 2.0,
    intensity: float = 1.0,
    size: tuple[int, int] = (50, 50),
) -> np.ndarray:
    """A vertical bar at a given horizontal position in each frame (anti-aliased edges).

    Parameters
    ----------
    positions : sequence of float, shape (n_frames,)
        Bar centre per frame, pixels along x (pixel ``i`` spans ``i - 0.5 .. i + 0.5``);
        e.g. ``x0 + velocity * arange(n)`` for a bar moving at ``velocity`` px/frame.
    width : float
        Bar width, pixels.
    intensity : float
        Contrast of the bar on a grey background.
    size : (int, int)
        Frame size ``(ny, nx)`` in pixels.

    Returns
    -------
    ndarray, shape (n_frames, ny, nx), float32
        Each pixel holds ``intensity`` times the fraction of it the bar covers.
    """
    centre = np.asarray(positions, dtype=np.float64)[:, None]
    x = np.arange(size[1])[None, :]
    cover = np.clip(np.minimum(x + 0.5, centre + width / 2) - np.maximum(x - 0.5, centre - width / 2), 0.0, 1.0)
    profile = (intensity * cover).astype(np.float32)
    return np.broadcast_to(profile[:, None, :], (len(centre), *size)).copy()


def flashed_bars(
    positions: Sequence[float],
    duration: int = 2,
    interval: int = 40,
    width: float = 2.0,
    intensity: float = 1.0,
    size: tuple[int, int] = (50, 50),
) -> np.ndarray:
    """Bars flashed one after another at the given positions, each followed by grey.

    Parameters
    ----------
    positions : sequence of float
        Bar centre of each flash, pixels along x.
    duration : int
        Frames each bar is shown.
    interval : int
        Frames from one flash onset to the next (the rest grey).
    width, intensity, size
        As for :func:`moving_bar`.

    Returns
    -------
    ndarray, shape (len(positions) * interval, ny, nx), float32
        Flash ``i`` starts at frame ``i * interval``.
    """
    if duration > interval:
        raise ValueError(f"the flash duration ({duration}) must not exceed the interval ({interval}).")
    frames = np.repeat(np.asarray(positions, dtype=np.float64), interval)
    movie = moving_bar(frames, width, intensity, size)
    shown = np.tile(np.arange(interval) < duration, len(positions))
    movie[~shown] = 0.0
    return movie
