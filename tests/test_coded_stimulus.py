"""A stimulus read as its 8-bit codes (``read_nwb(compact=...)``) reads, validates, fits and predicts as float32."""

import numpy as np
import pytest
import torch

import retinacodec as rc
from retinacodec.coded_stimulus import CodedMovie, coded_movie
from retinacodec.io import nwb_read
from retinacodec.model.windows import WindowedData
from retinacodec.sample import load_sample, load_sample_model, sample_paths


@pytest.fixture(scope="module")
def coded_file(tmp_path_factory):
    """A simulated binary white-noise recording written to NWB (stored as uint8 codes), and its truth."""
    rec, truth = rc.simulate_retina(seed=3, train_seconds=40, test_seconds=2, n_repeats=2)
    path = tmp_path_factory.mktemp("coded") / "rec.nwb"
    rc.write_nwb(rec, path)
    return path, truth


def test_compact_recording_holds_codes_and_reads_as_float32(coded_file):
    path, _ = coded_file
    full, compact = rc.read_nwb(path, compact=False), rc.read_nwb(path, compact=True)
    movie = coded_movie(compact["stimulus"])
    assert coded_movie(full["stimulus"]) is None and isinstance(movie, CodedMovie)
    assert movie.codes.dtype == np.uint8 and movie.codes.nbytes * 4 == full["stimulus"].values.nbytes
    assert compact["stimulus"].dtype == np.float32 and compact["stimulus"].shape == full["stimulus"].shape
    np.testing.assert_array_equal(compact["stimulus"].values, full["stimulus"].values)
    part = compact.isel(frame=slice(100, 300), x=slice(2, 9))
    assert coded_movie(part["stimulus"]) is None  # a part decodes what it reads
    np.testing.assert_array_equal(part["stimulus"].values, full["stimulus"].values[100:300, :, 2:9])
    assert rc.validate_recording(compact) is compact


def test_compact_is_chosen_by_size_and_not_with_reshaping(coded_file, monkeypatch):
    path, _ = coded_file
    assert coded_movie(rc.read_nwb(path)["stimulus"]) is None  # small: float32 as before
    monkeypatch.setattr(nwb_read, "COMPACT_BYTES", 0)
    assert coded_movie(rc.read_nwb(path)["stimulus"]) is not None
    cropped = rc.read_nwb(path, compact=True, crop=(0, 0, 10, 10))
    assert coded_movie(cropped["stimulus"]) is None and cropped.sizes["y"] == 10


def test_validation_and_windows_never_decode_the_whole_movie(coded_file, monkeypatch):
    rec = rc.read_nwb(coded_file[0], compact=True)
    whole, decode, decoded = coded_movie(rec["stimulus"]).shape, CodedMovie.decode, []

    def checked(self, codes):
        if np.shape(codes) == whole:
            raise AssertionError("decoded the whole movie")
        decoded.append(np.shape(codes)[0])
        return decode(self, codes)

    monkeypatch.setattr(CodedMovie, "decode", checked)
    rc.validate_recording(rec)
    assert decoded == []  # codes cannot be NaN: nothing to check
    WindowedData(rec, 40)  # the statistics, a chunk of training frames at a time; the windows are codes
    assert 0 < max(decoded) <= 4096


def test_windows_of_codes_are_the_normalised_frames(coded_file):
    path, _ = coded_file
    full, compact = rc.read_nwb(path, compact=False), rc.read_nwb(path, compact=True)
    a, b = WindowedData(full, 40), WindowedData(compact, 40)
    assert b.stimulus.dtype == torch.uint8
    assert b.stimulus.data_ptr() == coded_movie(compact["stimulus"]).codes.ctypes.data  # shared, not copied
    assert a.normalization == b.normalization
    targets = a.targets("train")[::50]
    torch.testing.assert_close(b.batch(targets)[0], a.batch(targets)[0], rtol=0, atol=1e-5)


def test_the_sample_read_as_codes_fits_and_predicts_as_float32():
    """The shipped model predicts the sample read either way alike; a fit on the codes learns as usual."""
    nwb, _ = sample_paths()
    rec, truth = load_sample()
    compact = rc.read_nwb(nwb, compact=True)
    assert coded_movie(compact["stimulus"]) is not None
    model = load_sample_model()
    frames = np.flatnonzero(rec["block"].values == "test")[:: 7]
    np.testing.assert_allclose(rc.predict(model, compact, frames).values, rc.predict(model, rec, frames).values,
                               rtol=1e-4, atol=1e-6)
    fitted = rc.fit(compact, seed=0, epochs=2, progress=False)
    assert rc.evaluate(fitted, compact, truth).attrs["median_r_truth"] > 0.85
