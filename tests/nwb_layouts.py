"""NWB files in the layouts labs write, built from a seed, with what each holds (for the reader tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO, NWBFile
from pynwb.base import ImageReferences, Images
from pynwb.epoch import TimeIntervals
from pynwb.image import GrayscaleImage, ImageSeries, IndexSeries, OpticalSeries

FRAME_RATE = 60.0
PIXEL_UM = 25.0
# (label in the file, expected block, expected repeat, n_frames) of consecutive segments
SEGMENTS = [("train", "train", -1, 60), ("test", "test", 0, 20), ("test", "test", 1, 20), ("gray", "other", -1, 20)]


@dataclass
class Truth:
    """What a fixture file holds, in Recording conventions."""

    path: Path
    movie: np.ndarray  # (n_frames, ny, nx)
    times: np.ndarray  # (n_frames,)
    spike_times: list[np.ndarray]  # per unit
    ids: np.ndarray
    block: np.ndarray
    repeat: np.ndarray
    unit_x: np.ndarray
    pixel_um: float = PIXEL_UM


def frame_times(n: int, rng: np.random.Generator, *, jitter: bool = True, drop_at: int | None = None,
                t0: float = 2.0) -> np.ndarray:
    """Photodiode-like frame onsets (s): 60 Hz with 3 % jitter, optionally one dropped frame."""
    dt = 1.0 / FRAME_RATE
    times = t0 + np.arange(n) * dt
    if jitter:
        times = times + rng.normal(0.0, 0.03 * dt, n)
    if drop_at is not None:
        times[drop_at:] += dt
    return times


def new_nwbfile(session_id: str = "session-1") -> NWBFile:
    """An empty NWBFile."""
    return NWBFile(
        session_description="test retina",
        identifier=f"id-{session_id}",
        session_start_time=datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc),
        session_id=session_id,
    )


def write(nwbfile: NWBFile, path: Path) -> Path:
    """Write an NWBFile to ``path``."""
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def add_units(nwbfile: NWBFile, spike_times: list[np.ndarray], ids: np.ndarray, unit_x: np.ndarray,
              obs_intervals: list | None = None, electrodes: bool = False) -> None:
    """A Units table with an ``x`` position column (and optionally obs_intervals, electrodes)."""
    if electrodes:
        device = nwbfile.create_device(name="mea")
        group = nwbfile.create_electrode_group(name="mea", description="MEA", location="retina", device=device)
        for k in range(len(ids)):
            nwbfile.add_electrode(group=group, location="retina", rel_x=30.0 * k, rel_y=-10.0 * k)
    nwbfile.add_unit_column(name="x", description="soma x position (um)")
    nwbfile.add_unit_column(name="quality", description="sorting quality")
    for k, (st, uid) in enumerate(zip(spike_times, ids, strict=True)):
        kw = {"obs_intervals": obs_intervals[k]} if obs_intervals is not None else {}
        if electrodes:
            kw["electrodes"] = [k]
        nwbfile.add_unit(spike_times=st, id=int(uid), x=float(unit_x[k]), quality="good", **kw)


def add_blocks(nwbfile: NWBFile, times: np.ndarray, convention: str) -> tuple[np.ndarray, np.ndarray]:
    """Label SEGMENTS in an intervals table; returns the expected (block, repeat) per frame."""
    edges = np.append(times, times[-1] + np.median(np.diff(times)))
    if convention == "block":
        table = TimeIntervals(name="stimulus_blocks", description="blocks")
        table.add_column(name="block", description="train/test")
        table.add_column(name="repeat", description="repeat index")
        add = table.add_interval
        nwbfile.add_time_intervals(table)
    else:  # stimulus-name column + repeat column, in epochs
        nwbfile.add_epoch_column(name="stimulus_name", description="stimulus shown")
        nwbfile.add_epoch_column(name="repeat", description="repeat index")
        add = nwbfile.add_epoch
    block, repeat, first = [], [], 0
    for label, exp_block, exp_repeat, n in SEGMENTS:
        if convention == "block":
            add(start_time=edges[first], stop_time=edges[first + n], block=label, repeat=max(exp_repeat, 0))
        elif label != "gray":  # the gray segment is left out of the table: frames become "other"
            name = {"train": "white_noise", "test": "natural_movie"}[label]
            add(start_time=edges[first], stop_time=edges[first + n], stimulus_name=name,
                repeat=max(exp_repeat, 0))
        block += [exp_block] * n
        repeat += [exp_repeat] * n
        first += n
    return np.array(block), np.array(repeat)


def build(path: Path, layout: str = "optical", *, seed: int = 0, ny: int = 4, nx: int = 5, n_cells: int = 3,
          jitter: bool = True, drop_at: int | None = None, intervals: str | None = "block",
          outside: int = 0, extra_series: bool = False, ordered_images: bool = True,
          obs_intervals: list | None = None, electrodes: bool = False) -> Truth:
    """Write an NWB file of one layout and return what it holds.

    Layouts: ``"optical"`` (OpticalSeries + jittered timestamps + field_of_view),
    ``"image_rate"`` (ImageSeries + starting_time and rate), ``"index"`` (IndexSeries into
    an Images container of GrayscaleImage in stimulus_template).
    """
    rng = np.random.default_rng(seed)
    n = sum(s[3] for s in SEGMENTS)
    nwbfile = new_nwbfile()
    times = frame_times(n, rng, jitter=jitter and layout != "image_rate", drop_at=drop_at)
    if layout == "image_rate":
        times = 2.0 + np.arange(n) / FRAME_RATE
    if layout == "index":
        library = rng.normal(size=(12, ny, nx)).astype(np.float32)
        index = rng.integers(0, 12, n)
        movie = library[index]
        images = [GrayscaleImage(name=f"img{k}", data=library[k].T, description="natural image")
                  for k in range(12)]
        order = ImageReferences(name="order_of_images", data=images) if ordered_images else None
        container = Images(name="natural_images", images=images, description="images shown",
                           order_of_images=order)
        nwbfile.add_stimulus_template(container)
        series = IndexSeries(name="natural_images_shown", data=index.astype(np.uint32), unit="N/A",
                             indexed_images=container, timestamps=times, description="image index per frame")
    else:
        movie = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(n, ny, nx))
        common = {"name": "white_noise", "data": movie.transpose(0, 2, 1), "unit": "contrast",
                  "description": "binary white noise"}
        if layout == "optical":
            series = OpticalSeries(**common, timestamps=times, distance=0.05, orientation="lower left",
                                   field_of_view=[nx * PIXEL_UM * 1e-6, ny * PIXEL_UM * 1e-6])
        else:
            series = ImageSeries(**common, starting_time=float(times[0]), rate=FRAME_RATE)
    nwbfile.add_stimulus(series)
    if extra_series:
        nwbfile.add_stimulus(ImageSeries(name="checkerboard", data=np.zeros((5, nx, ny)), unit="contrast",
                                         rate=30.0, starting_time=0.0, description="another movie"))
    end = times[-1] + np.median(np.diff(times))
    spike_times = [np.sort(rng.uniform(times[0], end, rng.integers(50, 150))) for _ in range(n_cells)]
    if outside:
        spike_times[0] = np.sort(np.concatenate([spike_times[0], times[0] - 1.0 - rng.uniform(0, 1, outside)]))
    ids = np.arange(n_cells) * 10 + 7
    unit_x = rng.uniform(0, 500, n_cells)
    add_units(nwbfile, spike_times, ids, unit_x, obs_intervals=obs_intervals, electrodes=electrodes)
    if intervals is None:
        block, repeat = np.full(n, "train"), np.full(n, -1)
    else:  # "block", "name_repeat" or "both" (two tables that could label blocks)
        block, repeat = add_blocks(nwbfile, times, "block" if intervals == "both" else intervals)
        if intervals == "both":
            add_blocks(nwbfile, times, "name_repeat")
    write(nwbfile, path)
    return Truth(path=path, movie=movie, times=times, spike_times=spike_times, ids=ids, block=block,
                 repeat=repeat, unit_x=unit_x)
