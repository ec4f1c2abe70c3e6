"""The `rf` command: rank-1 IRFs and the STA of a recording in one NetCDF file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from retinacodec.cli import main
from retinacodec.io import write_nwb
from retinacodec.model.bncnn import BNCNN, preset_config
from retinacodec.model.checkpoint import save_checkpoint
from retinacodec.model.windows import Normalization
from retinacodec.sim.simulate import simulate_retina


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("rf")
    rec, _ = simulate_retina(n_cells_per_type=1, size=(12, 12), train_seconds=20, test_seconds=1, n_repeats=2, seed=1)
    model = BNCNN(preset_config("sample", n_cells=3, input_size=(12, 12), history=10, kernel_sizes=(3, 3),
                                channels=(4, 4))).eval()
    norm = Normalization(float(rec["stimulus"].mean()), float(rec["stimulus"].std()))
    model.normalization = norm
    write_nwb(rec, folder / "r.nwb")
    return save_checkpoint(folder / "m.pt", model, norm), folder / "r.nwb", rec


def test_rf_writes_rank1_irfs_and_the_sta(files, tmp_path, capsys):
    ckpt, nwb, rec = files
    out = tmp_path / "rf.nc"
    assert main(["rf", str(ckpt), str(nwb), "--out", str(out), "--frames", "2120", "2140"]) == 0
    assert "rank-1 IRFs of 3 cells at 20 frames" in capsys.readouterr().out
    with xr.open_dataset(out) as irf:
        assert irf["spatial"].dims == ("frame", "cell", "y", "x") and irf.sizes["frame"] == 20
        assert np.isfinite(irf["spatial"]).all()
    with xr.open_dataset(out, group="sta") as sta:
        assert sta["sta"].dims == ("cell", "lag", "y", "x") and sta.sizes["lag"] == 10
    assert main(["rf", str(ckpt), str(nwb), "--out", str(out), "--no-sta"]) == 2  # exists, no --overwrite
    assert "already exists" in capsys.readouterr().err


def test_rf_bad_input_is_one_line(files, tmp_path, capsys):
    ckpt, nwb, _ = files
    assert main(["rf", str(ckpt), str(tmp_path / "missing.nwb"), "--out", str(tmp_path / "x.nc")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("retinacodec: error:")
    assert not (tmp_path / "x.nc").exists()
