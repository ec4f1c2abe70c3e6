"""Contributions and IRFs on a 2-worker LocalCluster equal the in-process result exactly; sweeps gather scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from dask.distributed import Client, LocalCluster

from retinacodec.attribution.recording import contributions_for_recording
from retinacodec.model.bncnn import BNCNNConfig
from retinacodec.model.checkpoint import load_model
from retinacodec.model.training import fit
from retinacodec.rf.irf import instantaneous_rf
from retinacodec.scale import contributions_on_cluster, irf_on_cluster, sta_on_cluster, sweep
from retinacodec.sim.simulate import simulate_retina

pytestmark = pytest.mark.xdist_group("dask_cluster")  # the module's fixtures are built once, on one worker

CONFIG = {"n_cells": 3, "history": 10, "input_size": (14, 14), "channels": (4, 4), "kernel_sizes": (5, 3)}


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    rec, truth = simulate_retina(n_cells_per_type=1, size=(14, 14), train_seconds=20, test_seconds=3, n_repeats=2)
    rec.to_netcdf(root / "rec.nc")
    truth.to_netcdf(root / "truth.nc")
    torch.manual_seed(0)
    fit(rec, config=BNCNNConfig(**CONFIG), epochs=1, checkpoint=root / "model.pt", progress=False)
    return root


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as c:
        yield c


def _assert_same(cluster: xr.Dataset, local: xr.Dataset, rtol: float = 0.0) -> None:
    """Equal values (bit for bit by default) and coordinates, the same dims and the in-process attributes."""
    assert set(cluster.variables) == set(local.variables)
    for name, var in local.variables.items():
        assert cluster[name].dims == var.dims, name
        if rtol and var.dtype.kind == "f":
            np.testing.assert_allclose(cluster[name].values, var.values, rtol=rtol, atol=rtol, err_msg=name)
        else:
            np.testing.assert_array_equal(cluster[name].values, var.values, err_msg=name)
    for key, value in local.attrs.items():
        assert np.array_equal(np.asarray(cluster.attrs[key]), np.asarray(value)), key


def test_contributions_on_two_workers_equal_in_process(files, client, tmp_path):
    rec = xr.load_dataset(files / "rec.nc")
    model = load_model(files / "model.pt")
    frames = np.arange(200, 200 + 3 * 96 + 17)  # 4 tasks, the last one partial
    local = contributions_for_recording(model, rec, ["layer1", "layer2"], frames=frames, chunk_size=32, steps=8)
    out = contributions_on_cluster(files / "model.pt", files / "rec.nc", ["layer1", "layer2"], tmp_path / "c.zarr",
                                   frames=frames, chunk_size=32, frames_per_task=96, client=client, steps=8)
    result = xr.open_zarr(out).load()
    _assert_same(result, local)
    assert result.attrs["cluster_tasks"] == 4 and result.attrs["cluster_workers"] == 2
    assert not list(tmp_path.glob(".c.tmp-*"))  # the temporary store was renamed
    with pytest.raises(FileExistsError, match="overwrite"):
        contributions_on_cluster(files / "model.pt", files / "rec.nc", "layer1", out, frames=frames, client=client)
    with pytest.raises(ValueError, match="multiple of chunk_size"):
        contributions_on_cluster(files / "model.pt", files / "rec.nc", "layer1", tmp_path / "d.zarr", frames=frames,
                                 chunk_size=32, frames_per_task=50, client=client)


@pytest.mark.parametrize("rank1", [True, False])
def test_irfs_on_two_workers_equal_in_process(files, client, tmp_path, rank1):
    rec = xr.load_dataset(files / "rec.nc")
    model = load_model(files / "model.pt")
    local = instantaneous_rf(model, rec, rank1=rank1)  # default frames: test repeat 0
    out = irf_on_cluster(files / "model.pt", files / "rec.nc", tmp_path / "irf.zarr", rank1=rank1,
                         frames_per_task=100, client=client)
    _assert_same(xr.open_zarr(out).load(), local)
    with pytest.raises(ValueError, match="crop"):
        irf_on_cluster(files / "model.pt", files / "rec.nc", tmp_path / "x.zarr", crop=5, client=client)


def test_sweep_of_two_seeds_gathers_evaluations(files, client, tmp_path):
    runs = [{"recording": files / "rec.nc", "truth": str(files / "truth.nc"), "config": BNCNNConfig(**CONFIG),
             "epochs": 1, "seed": seed} for seed in (0, 1)]
    ev = sweep(runs, tmp_path / "runs", client=client)
    assert ev.sizes["run"] == 2 and list(ev["seed"].values) == [0, 1]
    assert {"r", "feve", "r_truth", "median_r_truth", "fit_seconds"} <= set(ev.data_vars)
    assert np.isfinite(ev["r_truth"].values).all()
    # each run's checkpoint is its fit: reloading it reproduces the gathered evaluation
    from retinacodec.model.evaluation import evaluate

    again = evaluate(load_model(str(ev["checkpoint"].values[1])), xr.load_dataset(files / "rec.nc"),
                     xr.load_dataset(files / "truth.nc"))
    np.testing.assert_allclose(ev["r_truth"].sel(run=1).values, again["r_truth"].values, rtol=1e-6)
    assert ev["r_truth"].sel(run=0).values.tolist() != ev["r_truth"].sel(run=1).values.tolist()


def test_stas_of_two_recordings_equal_in_process(files, client):
    from retinacodec.rf.sta import sta

    stas = sta_on_cluster({"a": files / "rec.nc", "b": files / "rec.nc"}, client=client, history=10, n_bins=5)
    local = sta(xr.load_dataset(files / "rec.nc"), history=10, n_bins=5)
    assert list(stas) == ["a", "b"]
    for ds in stas.values():  # the STA's matrix products: BLAS may sum in another order with other thread counts
        _assert_same(ds, local, rtol=1e-5)
