"""The device="cuda" paths. Run on a GPU machine; skipped where torch sees no GPU."""

import numpy as np
import pytest
import torch

from retinacodec.model.bncnn import BNCNNConfig
from retinacodec.model.evaluation import evaluate
from retinacodec.model.training import fit
from retinacodec.sim.simulate import simulate_retina

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def rec_truth():
    return simulate_retina(size=(16, 16), train_seconds=60, test_seconds=3, n_repeats=3, n_cells_per_type=1)


def test_fit_on_cuda_matches_cpu_quality(rec_truth, tmp_path):
    rec, truth = rec_truth
    cfg = BNCNNConfig(n_cells=3, input_size=(16, 16), kernel_sizes=(7, 5))
    gpu = fit(rec, config=cfg, epochs=3, device="cuda", checkpoint=tmp_path / "m.pt", progress=False)
    assert next(gpu.parameters()).device.type == "cuda"
    cpu = fit(rec, config=cfg, epochs=3, device="cpu", progress=False)
    s_gpu, s_cpu = evaluate(gpu, rec, truth), evaluate(cpu, rec, truth)
    assert np.isfinite(s_gpu["r_truth"].values).all()
    assert abs(s_gpu.attrs["median_r_truth"] - s_cpu.attrs["median_r_truth"]) < 0.1


def test_load_model_onto_cuda(rec_truth, tmp_path):
    from retinacodec.model.checkpoint import load_model

    rec, _ = rec_truth
    cfg = BNCNNConfig(n_cells=3, input_size=(16, 16), kernel_sizes=(7, 5))
    fit(rec, config=cfg, epochs=1, device="cpu", checkpoint=tmp_path / "m.pt", progress=False)
    model = load_model(tmp_path / "m.pt", device="cuda")
    x = torch.randn(2, 40, 16, 16)
    torch.testing.assert_close(model(x.cuda()).cpu(), load_model(tmp_path / "m.pt")(x), rtol=1e-4, atol=1e-5)


def test_contributions_on_cuda_equal_cpu():
    from retinacodec.attribution import contributions
    from retinacodec.model.bncnn import BNCNN

    torch.manual_seed(0)
    model = BNCNN(BNCNNConfig(n_cells=3, input_size=(16, 16), kernel_sizes=(7, 5))).eval()
    x = torch.randn(4, 40, 16, 16)
    cpu = contributions(model, x, ["layer1", "layer2"], device="cpu")
    gpu = contributions(model, x, ["layer1", "layer2"], device="cuda")
    for name in ("layer1", "layer2"):
        np.testing.assert_allclose(gpu[name].values, cpu[name].values, rtol=1e-3, atol=1e-5)


def test_sae_fits_on_cuda():
    from retinacodec.codec.sae import TopKSAE

    rng = np.random.default_rng(0)
    atoms = rng.normal(size=(6, 12))
    codes = rng.random((2000, 6)) * (rng.random((2000, 6)) < 0.3)
    x = (codes @ atoms + 0.01 * rng.normal(size=(2000, 12))).astype(np.float32)
    sae = TopKSAE(k=2, expansion=2, device="cuda", seed=0).fit(x)
    assert sae.score(x) > 0.8
