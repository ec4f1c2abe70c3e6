"""The device=GPU paths. Run on a GPU machine; skipped where torch sees no GPU.

``RETINACODEC_TEST_DEVICE=cpu`` runs the same tests with the CPU in the GPU's place, to check on a
machine without a GPU that they run (their comparisons are then CPU against CPU).
"""

import os

import numpy as np
import pytest
import torch

from retinacodec.model.bncnn import BNCNNConfig
from retinacodec.model.evaluation import evaluate
from retinacodec.model.training import fit
from retinacodec.sim.simulate import simulate_retina

GPU = os.environ.get("RETINACODEC_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(GPU == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="session")
def rec_truth():
    return simulate_retina(size=(16, 16), train_seconds=60, test_seconds=3, n_repeats=3, n_cells_per_type=1)


def test_fit_on_cuda_matches_cpu_quality(rec_truth, tmp_path):
    rec, truth = rec_truth
    cfg = BNCNNConfig(n_cells=3, input_size=(16, 16), kernel_sizes=(7, 5))
    gpu = fit(rec, config=cfg, epochs=3, device=GPU, checkpoint=tmp_path / "m.pt", progress=False)
    assert next(gpu.parameters()).device.type == torch.device(GPU).type
    cpu = fit(rec, config=cfg, epochs=3, device="cpu", progress=False)
    s_gpu, s_cpu = evaluate(gpu, rec, truth), evaluate(cpu, rec, truth)
    assert np.isfinite(s_gpu["r_truth"].values).all()
    assert abs(s_gpu.attrs["median_r_truth"] - s_cpu.attrs["median_r_truth"]) < 0.1


def test_load_model_onto_cuda(rec_truth, tmp_path):
    from retinacodec.model.checkpoint import load_model

    rec, _ = rec_truth
    cfg = BNCNNConfig(n_cells=3, input_size=(16, 16), kernel_sizes=(7, 5))
    fit(rec, config=cfg, epochs=1, device="cpu", checkpoint=tmp_path / "m.pt", progress=False)
    model = load_model(tmp_path / "m.pt", device=GPU)
    x = torch.randn(2, 40, 16, 16)
    torch.testing.assert_close(model(x.to(GPU)).cpu(), load_model(tmp_path / "m.pt")(x), rtol=1e-4, atol=1e-5)


def test_contributions_on_cuda_equal_cpu():
    from retinacodec.attribution import contributions
    from retinacodec.model.bncnn import BNCNN

    torch.manual_seed(0)
    model = BNCNN(BNCNNConfig(n_cells=3, input_size=(16, 16), kernel_sizes=(7, 5))).eval()
    x = torch.randn(4, 40, 16, 16)
    cpu = contributions(model, x, ["layer1", "layer2"], device="cpu")
    gpu = contributions(model, x, ["layer1", "layer2"], device=GPU)
    for name in ("layer1", "layer2"):
        np.testing.assert_allclose(gpu[name].values, cpu[name].values, rtol=1e-3, atol=1e-5)


def test_sae_fits_on_cuda():
    from retinacodec.codec.sae import TopKSAE

    rng = np.random.default_rng(0)
    atoms = rng.normal(size=(6, 12))
    codes = rng.random((2000, 6)) * (rng.random((2000, 6)) < 0.3)
    x = (codes @ atoms + 0.01 * rng.normal(size=(2000, 12))).astype(np.float32)
    sae = TopKSAE(k=2, expansion=2, device=GPU, seed=0).fit(x)
    assert sae.score(x) > 0.8


@pytest.fixture(scope="session")
def fitted(rec_truth, tmp_path_factory):
    """A small model fitted on the CPU, its checkpoint, and the recording saved for workers."""
    rec, _ = rec_truth
    root = tmp_path_factory.mktemp("gpu")
    cfg = BNCNNConfig(n_cells=3, input_size=(16, 16), kernel_sizes=(7, 5))
    fit(rec, config=cfg, epochs=1, device="cpu", checkpoint=root / "m.pt", progress=False)
    rec.to_netcdf(root / "rec.nc")
    return root


def test_windowed_batches_gathered_on_the_gpu(rec_truth):
    from retinacodec.model.windows import WindowedData

    rec, _ = rec_truth
    cpu = WindowedData(rec, 40)
    gpu = WindowedData(rec, 40).to(GPU)
    t = cpu.targets("train")[:64]
    x, y = gpu.batch(t, GPU)
    assert x.device.type == torch.device(GPU).type
    torch.testing.assert_close(x.cpu(), cpu.batch(t)[0], rtol=0, atol=0)
    torch.testing.assert_close(y.cpu(), cpu.batch(t)[1], rtol=0, atol=0)


def test_predict_on_the_gpu_equals_cpu(rec_truth, fitted):
    from retinacodec.model.checkpoint import load_model
    from retinacodec.model.evaluation import predict

    rec, _ = rec_truth
    cpu = predict(load_model(fitted / "m.pt"), rec, device="cpu")
    gpu = predict(load_model(fitted / "m.pt", device=GPU), rec, device=GPU)
    np.testing.assert_allclose(gpu.values, cpu.values, rtol=1e-4, atol=1e-6)


def test_irfs_and_recording_contributions_on_the_gpu_equal_cpu(rec_truth, fitted):
    from retinacodec.attribution.recording import contributions_for_recording
    from retinacodec.model.checkpoint import load_model
    from retinacodec.rf.irf import instantaneous_rf

    rec, _ = rec_truth
    model = load_model(fitted / "m.pt")
    frames = np.arange(100, 164)
    for method in ("gradient", "integrated_gradients"):
        cpu = instantaneous_rf(model, rec, frames, method=method, rank1=True, device="cpu")
        gpu = instantaneous_rf(model, rec, frames, method=method, rank1=True, device=GPU)
        for name in ("rate", "spatial", "temporal", "singular_value"):
            np.testing.assert_allclose(np.abs(gpu[name].values), np.abs(cpu[name].values), rtol=1e-3, atol=1e-5,
                                       err_msg=f"{method} {name}")
    cpu = contributions_for_recording(model, rec, ["layer1", "layer2"], frames=frames, device="cpu")
    gpu = contributions_for_recording(model, rec, ["layer1", "layer2"], frames=frames, device=GPU)
    for name in ("layer1", "layer2", "output_difference"):
        np.testing.assert_allclose(gpu[name].values, cpu[name].values, rtol=1e-3, atol=1e-5, err_msg=name)


def test_codec_features_and_mode_map_on_the_gpu_equal_cpu(rec_truth, fitted):
    import xarray as xr

    from retinacodec.codec.features import activation_features, contribution_features
    from retinacodec.model.checkpoint import load_model
    from retinacodec.rf.modes import mode_map

    rec, _ = rec_truth
    model = load_model(fitted / "m.pt")
    frames = np.arange(100, 132)
    for features in (contribution_features, activation_features):
        cpu = features(model, rec, ["layer1", "layer2"], frames, device="cpu")
        gpu = features(model, rec, ["layer1", "layer2"], frames, device=GPU)
        np.testing.assert_allclose(gpu.values, cpu.values, rtol=1e-3, atol=1e-5, err_msg=features.__name__)
    atom = xr.DataArray(np.linspace(1, 0.1, 8), dims="feature",
                        coords={"layer": ("feature", ["layer1"] * 8), "sign": ("feature", ["pos"] * 4 + ["neg"] * 4),
                                "channel": ("feature", [0, 1, 2, 3] * 2)})
    cell = int(rec["cell"].values[0])
    cpu = mode_map(model, rec, frames[:4], atom, cell=cell, device="cpu")
    gpu = mode_map(model, rec, frames[:4], atom, cell=cell, device=GPU)
    np.testing.assert_allclose(gpu.values, cpu.values, rtol=1e-3, atol=1e-5)


def _nccl_fit(rank: int, port: int, rec_path: str, out: str) -> None:
    import os

    import xarray as xr

    os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    cfg = BNCNNConfig(n_cells=3, input_size=(16, 16), kernel_sizes=(7, 5))
    fit(xr.load_dataset(rec_path), config=cfg, epochs=1, device=GPU, checkpoint=out, distributed=True,
        progress=False)
    torch.distributed.destroy_process_group()


def test_distributed_fit_on_the_gpu(fitted, tmp_path):
    """A one-process nccl group (gloo on the CPU): DDP, the global BatchNorm and rank-0 checkpoints on the device."""
    import socket

    import torch.multiprocessing as mp

    from retinacodec.model.checkpoint import load_model

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_nccl_fit, args=(port, str(fitted / "rec.nc"), str(tmp_path / "d.pt")), nprocs=1, join=True)
    model = load_model(tmp_path / "d.pt")
    assert model.metadata["world_size"] == 1 and len(model.metadata["fit_log"]) == 1


def test_cli_fit_on_the_gpu(fitted, tmp_path):
    import subprocess
    import sys

    import xarray as xr

    from retinacodec.io import write_nwb
    from retinacodec.model.checkpoint import load_model

    write_nwb(xr.load_dataset(fitted / "rec.nc"), tmp_path / "rec.nwb")
    run = subprocess.run([sys.executable, "-m", "retinacodec", "fit", str(tmp_path / "rec.nwb"), "--out",
                          str(tmp_path / "c.pt"), "--epochs", "1", "--kernels", "7", "5", "--device", GPU],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(load_model(tmp_path / "c.pt").metadata["fit_log"]) == 1


def test_irfs_on_cluster_workers_using_the_gpu(fitted, tmp_path):
    import xarray as xr
    from dask.distributed import Client, LocalCluster

    from retinacodec.model.checkpoint import load_model
    from retinacodec.rf.irf import instantaneous_rf
    from retinacodec.scale.cluster import irf_on_cluster

    rec = xr.load_dataset(fitted / "rec.nc")
    frames = np.arange(100, 300)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        out = irf_on_cluster(fitted / "m.pt", fitted / "rec.nc", tmp_path / "irf.zarr", frames=frames, rank1=True,
                             device=GPU, frames_per_task=100, client=client)
    cpu = instantaneous_rf(load_model(fitted / "m.pt"), rec, frames, rank1=True, device="cpu")
    np.testing.assert_allclose(np.abs(xr.open_zarr(out)["spatial"].values), np.abs(cpu["spatial"].values),
                               rtol=1e-3, atol=1e-5)
