"""A stimulus held as its stored integer codes and decoded to float32 frame by frame.

NWB stores most stimulus movies as 8-bit codes with a ``conversion`` and an ``offset``
(``value = code * conversion + offset``; retinacodec's writer does so whenever that is exact).
Decoded to float32 a movie takes four times the memory: a 1-hour 50×50 recording at 100 Hz is
0.9 GB of codes and 3.6 GB of float32. :func:`retinacodec.io.read_nwb` keeps a large coded
movie as a :class:`CodedMovie` behind a lazily indexed xarray variable: the Recording's
``stimulus`` is still float32 (frame, y, x) to every reader (``.values``, ``.isel``), decoded on
access, while :class:`retinacodec.model.windows.WindowedData` (the fit, predictions) works on
the codes themselves (:func:`coded_movie`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

__all__ = ["CodedMovie", "coded_movie", "lazy_stimulus"]

_DECODE_FRAMES = 4096  # frames decoded at a time, bounding the float64 temporaries


class CodedMovie(BackendArray):
    """Integer codes of a movie and the affine map to its values.

    Parameters
    ----------
    codes : ndarray of unsigned or signed integers, shape (n_frames, ny, nx)
        Stored codes, C-contiguous.
    conversion, offset : float
        ``value = code * conversion + offset``, computed in float64 and rounded to float32
        (as NWB defines them and as :func:`retinacodec.io.read_nwb` decodes in-memory movies).

    Indexing with numpy keys (``movie[frames]``) or xarray's indexers returns float32 values.
    """

    def __init__(self, codes: np.ndarray, conversion: float = 1.0, offset: float = 0.0) -> None:
        if not np.issubdtype(codes.dtype, np.integer) or codes.ndim != 3:
            raise ValueError(f"codes must be integers of shape (frame, y, x); got {codes.dtype} {codes.shape}.")
        self.codes = np.ascontiguousarray(codes)
        self.conversion = float(conversion)
        self.offset = float(offset)
        self.shape = self.codes.shape
        self.dtype = np.dtype(np.float32)

    @property
    def ndim(self) -> int:
        return 3

    def __len__(self) -> int:
        return self.shape[0]

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Float32 values of some codes (first axis: frames), decoded a block of frames at a time."""
        codes = np.asarray(codes)
        if codes.ndim == 0:
            return np.float32(codes * self.conversion + self.offset)
        out = np.empty(codes.shape, dtype=np.float32)
        for start in range(0, codes.shape[0], _DECODE_FRAMES):  # float64 temporaries of one block only
            out[start:start + _DECODE_FRAMES] = codes[start:start + _DECODE_FRAMES] * self.conversion + self.offset
        return out

    def __getitem__(self, key):  # noqa: ANN001, ANN204
        if isinstance(key, indexing.ExplicitIndexer):  # from xarray: outer indexing, one vector at most
            return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER_1VECTOR,
                                                      self._raw_getitem)
        return self._raw_getitem(key)

    def _raw_getitem(self, key) -> np.ndarray:  # noqa: ANN001
        return self.decode(np.asarray(self.codes[key]))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:  # noqa: ANN001
        values = self.decode(self.codes)
        return values if dtype is None else values.astype(dtype)

    def normalized(self, mean: float, std: float) -> tuple[float, float]:
        """``(scale, shift)`` with ``(value - mean) / std == code * scale + shift``."""
        return self.conversion / std, (self.offset - mean) / std


def lazy_stimulus(movie: CodedMovie) -> xr.Variable:
    """The Recording's ``stimulus`` variable (frame, y, x) over a coded movie, decoded on access."""
    return xr.Variable(("frame", "y", "x"), indexing.LazilyIndexedArray(movie))


def coded_movie(stimulus: xr.DataArray) -> CodedMovie | None:
    """The :class:`CodedMovie` behind a Recording's whole ``stimulus``, or None.

    None when the stimulus is an ordinary array, or a lazily indexed part of a coded movie
    (after ``rec.isel(frame=...)``): readers then decode what they read.
    """
    data = getattr(stimulus.variable, "_data", None)  # xarray keeps the lazy array here, undecoded
    if not isinstance(data, indexing.LazilyIndexedArray) or not isinstance(data.array, CodedMovie):
        return None
    whole = all(isinstance(k, slice) and k == slice(None) for k in data.key.tuple)
    return data.array if whole and data.shape == data.array.shape else None
