"""Reading and writing Recordings as NWB files.

:func:`read_nwb` reads the layouts labs use for retinal data (Units + an image,
optical or index stimulus series + an intervals table of blocks); :func:`write_nwb`
writes a Recording that :func:`read_nwb` reads back identically. :func:`read_tdr` and
:func:`read_openretina` import torch-deep-retina's and openretina's HDF5 layouts;
:func:`read_recording` reads any of them.
"""

from retinacodec.coded_stimulus import CodedMovie
from retinacodec.io.binning import bin_spikes
from retinacodec.io.errors import RecordingError, RecordingFileNotFoundError, RecordingWarning
from retinacodec.io.formats import read_recording, recording_format
from retinacodec.io.nwb_read import inspect_nwb, read_nwb, stimulus_names, unit_columns
from retinacodec.io.nwb_write import write_nwb
from retinacodec.io.openretina import openretina_sessions, read_openretina
from retinacodec.io.tdr import read_tdr

__all__ = [
    "CodedMovie",
    "RecordingError",
    "RecordingFileNotFoundError",
    "RecordingWarning",
    "bin_spikes",
    "inspect_nwb",
    "openretina_sessions",
    "read_nwb",
    "read_openretina",
    "read_recording",
    "read_tdr",
    "recording_format",
    "stimulus_names",
    "unit_columns",
    "write_nwb",
]
