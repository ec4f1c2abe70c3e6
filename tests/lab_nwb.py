"""Write a simulated run/freeze recording as a lab would, with pynwb (a test helper, also used by benchmarks).

The file has what labs write, and nothing of retinacodec's own: a ``Units`` table of spike
times with a ``cell_type`` column; the stimulus as an ``ImageSeries`` of shape
(frames, 1, 1) with one measured timestamp per frame (dropped frames included); and a
``trials`` table with one row per segment, a ``stimulus_type`` column
("running_noise" / "frozen_noise") and a ``trial`` column.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import xarray as xr
from pynwb import NWBHDF5IO, NWBFile
from pynwb.image import ImageSeries

from retinacodec.io.binning import frame_edges

LABELS = {"train": "running_noise", "test": "frozen_noise"}


def write_lab_nwb(rec: xr.Dataset, path: Path, seed: int = 0,
                  columns: tuple[str, str] = ("stimulus_type", "trial")) -> Path:
    """Write ``rec`` (from :func:`retinacodec.sim.simulate.simulate_run_freeze`) in a lab's NWB layout.

    Spike times are drawn uniformly inside their frame. Segments are the runs of equal
    ``block`` and trial; the trial of a running segment is that of the frozen one after it.
    ``columns`` names the trials table's label and trial-number columns.
    """
    rng = np.random.default_rng(seed)
    times = rec["time"].values
    edges = frame_edges(times)
    nwb = NWBFile(session_description="full-field flicker, run/freeze", identifier=f"lab-{path.stem}",
                  session_start_time=datetime(2024, 5, 2, 10, 0, tzinfo=timezone.utc), session_id="retina-2024-05-02")
    nwb.add_stimulus(ImageSeries(name="full_field_flicker", data=rec["stimulus"].values, unit="contrast",
                                 timestamps=times, description="binary full-field flicker, one luminance per frame"))
    nwb.add_unit_column(name="cell_type", description="functional type from the flash response")
    counts = rec["spikes"].values
    for c, cid in enumerate(rec["cell"].values):
        frame = np.repeat(np.arange(times.size), counts[:, c])
        spikes = np.sort(edges[frame] + rng.uniform(0, 1, frame.size) * np.diff(edges)[frame])
        nwb.add_unit(id=int(cid), spike_times=spikes, cell_type=str(rec["cell_type"].values[c]))
    label, number = columns
    nwb.add_trial_column(name=label, description="running (fresh) or frozen (repeated) noise")
    nwb.add_trial_column(name=number, description="trial number")
    block = rec["block"].values
    starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]])
    stops = np.r_[starts[1:], block.size]
    trial = 0
    for a, b in zip(starts, stops, strict=True):
        nwb.add_trial(start_time=edges[a], stop_time=edges[b], **{label: LABELS[block[a]], number: trial})
        trial += block[a] == "test"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path
