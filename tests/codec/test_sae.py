"""Sparse autoencoders: planted-dictionary recovery, code semantics, splits, metrics, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone

from retinacodec.codec.sae import CodecSAE, ReLUSAE, TopKSAE, code_statistics, r2_score
from retinacodec.codec.sae.base import encode_all, split_samples

N_ATOMS, N_FEATURES, P_ACTIVE = 10, 16, 0.2
FAST = {"n_modes": 20, "batch_size": 64, "patience": 5}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These networks are tiny: one torch thread is fastest and steadiest on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def planted(n: int = 1500, seed: int = 0, nonneg: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """X (n, 16) = sparse codes @ 10 unit atoms + noise; each atom on with probability 0.2, at 0.9 to 1.

    A varying number of active atoms per sample keeps the atoms identifiable for SAEs with a
    bias (with exactly m active, atoms shifted by a common vector fit as well).
    """
    rng = np.random.default_rng(seed)
    atoms = rng.normal(size=(N_ATOMS, N_FEATURES))
    atoms = np.abs(atoms) if nonneg else atoms
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    codes = (rng.random((n, N_ATOMS)) < P_ACTIVE) * rng.uniform(0.9, 1.0, (n, N_ATOMS))
    return (codes @ atoms + 0.01 * rng.normal(size=(n, N_FEATURES))).astype(np.float32), atoms


def best_cosines(modes: np.ndarray, atoms: np.ndarray) -> np.ndarray:
    """For each planted atom, the largest |cosine| with a learned mode."""
    unit = modes / np.linalg.norm(modes, axis=1, keepdims=True)
    return np.abs(atoms @ unit.T).max(axis=1)


ESTIMATORS = {
    "topk": lambda: TopKSAE(k=4, lr=3e-3, max_epochs=40, **FAST),
    "batch_topk": lambda: TopKSAE(k=3, batch_topk=True, lr=3e-3, max_epochs=40, **FAST),
    "relu": lambda: ReLUSAE(lr=3e-3, max_epochs=40, **FAST),
    # the official recipe (lr 1e-5, 800 epochs, every sample trains) is far slower; these are options
    "codec": lambda: CodecSAE(max_epochs=80, lr=3e-3, step_lr=None, validation_fraction=0.1, open_fraction=0.05,
                              **{**FAST, "n_modes": 30, "hidden": 64}),
}


@pytest.fixture(scope="session")
def data() -> tuple[np.ndarray, np.ndarray]:
    return planted()


@pytest.fixture(scope="session")
def fitted(data) -> dict[str, object]:
    X, _ = data
    return {name: make().fit(X) for name, make in ESTIMATORS.items()}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_recovers_planted_dictionary(fitted, data, name):
    X, atoms = data
    sae = fitted[name]
    # CODEC's gated codes lie in [0.9, 1), so the planted magnitudes are matched less closely
    assert sae.metrics_["r2"] > (0.85 if name == "codec" else 0.9)
    assert sae.metrics_["r2"] == pytest.approx(sae.score(X[sae.validation_indices_]), abs=1e-4)
    cosines = best_cosines(sae.modes_, atoms)
    assert np.median(cosines) > 0.9 and np.mean(cosines > 0.85) >= 0.8
    codes = sae.transform(X)
    assert codes.shape == (len(X), sae.modes_.shape[0]) and codes.dtype == np.float32
    np.testing.assert_allclose(sae.reconstruct(X), sae.inverse_transform(codes), atol=1e-5)
    assert [h["epoch"] for h in sae.history_] == list(range(len(sae.history_)))


def test_topk_codes_have_exactly_k_active(fitted, data):
    X, _ = data
    sae = fitted["topk"]
    l0 = (sae.transform(X) > 0).sum(axis=1)
    # ReLU(topk(pre)): exactly k, unless fewer than k pre-activations are positive
    pre = sae.module_.pre_activations(torch.as_tensor(X) / sae.scale_).detach()
    np.testing.assert_array_equal(l0, np.minimum(4, (pre > 0).sum(dim=1).numpy()))
    assert np.mean(l0 == 4) > 0.95


def test_batch_topk_average_l0_near_k(fitted, data):
    X, _ = data
    l0 = (fitted["batch_topk"].transform(X) > 0).sum(axis=1)
    assert l0.mean() == pytest.approx(3, rel=0.25)
    assert l0.min() != l0.max()  # a threshold, not a per-sample top-k


@pytest.mark.parametrize("name", ["topk", "batch_topk", "relu"])
def test_unit_norm_decoder_and_mode_units(fitted, data, name):
    X, _ = data
    sae = fitted[name]
    np.testing.assert_allclose(sae.module_.W_dec.detach().norm(dim=1).numpy(), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(sae.modes_, axis=1), sae.scale_, rtol=1e-5)
    assert sae.scale_ == pytest.approx(X[sae.train_indices_].std(), rel=1e-4)
    np.testing.assert_allclose(sae.mean_, X[sae.train_indices_].mean(axis=0), atol=1e-6)


def test_codec_codes_are_zero_or_above_threshold(fitted, data):
    X, _ = data
    sae = fitted["codec"]
    codes = sae.transform(X)
    active = codes[codes != 0]
    assert active.size and np.all((active >= 0.9) & (active <= 1.0))
    assert np.all(sae.bias_ == 0)
    x = torch.as_tensor(X[:64]) / sae.scale_
    x.requires_grad_(True)
    sae.module_.encode(x).sum().backward()  # gradient flows through the sigmoid, not the mask
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_codec_default_size_and_nonneg_dictionary():
    X, _ = planted(n=400, nonneg=True)
    sae = CodecSAE(nonneg_dictionary=True, max_epochs=3, batch_size=64).fit(X)
    assert sae.n_latents_ == 10 * N_FEATURES
    assert np.all(sae.modes_ >= 0)
    assert np.all(sae.module_.dictionary.detach().numpy() >= 0)  # ReLU of the weights, as bscope's Dictionary


def test_deterministic_for_a_seed(data):
    X = data[0][:600]
    a, b, c = (TopKSAE(k=2, max_epochs=3, seed=s, **FAST).fit(X) for s in (3, 3, 4))
    np.testing.assert_array_equal(a.modes_, b.modes_)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert a.history_ == b.history_
    assert not np.array_equal(a.validation_indices_, c.validation_indices_)
    d, e = (CodecSAE(max_epochs=2, seed=1, **FAST).fit(X) for _ in range(2))  # dropout is seeded too
    np.testing.assert_array_equal(d.modes_, e.modes_)


def test_dead_atoms_dropped_and_counted(data):
    X = data[0]
    sae = TopKSAE(k=1, n_modes=80, max_epochs=2, batch_size=64).fit(X)
    assert sae.dead_modes_.size > 0 and sae.metrics_["n_dead"] == sae.dead_modes_.size
    assert sorted(np.concatenate([sae.kept_, sae.dead_modes_]).tolist()) == list(range(80))
    assert sae.modes_.shape == (sae.kept_.size, N_FEATURES)
    assert sae.transform(X).shape == (len(X), sae.kept_.size)
    all_codes = encode_all(sae.module_, torch.as_tensor(X) / sae.scale_).numpy()
    assert np.all(all_codes[sae.train_indices_][:, sae.dead_modes_] == 0)
    np.testing.assert_allclose(sae.modes_, sae.module_.W_dec.detach().numpy()[sae.kept_] * sae.scale_, rtol=1e-6)


def test_contiguous_split_holds_out_chunks():
    train, val = split_samples(1000, 0.1, "contiguous", seed=0)
    assert val.size == 100 and np.union1d(train, val).size == 1000 and np.intersect1d(train, val).size == 0
    assert np.count_nonzero(np.diff(val) > 1) + 1 <= 2  # at most two contiguous runs
    rtrain, rval = split_samples(1000, 0.1, "random", seed=0)
    assert rval.size == 100 and np.count_nonzero(np.diff(rval) > 1) > 10
    X = planted(n=200)[0]
    sae = TopKSAE(k=2, split="contiguous", max_epochs=1, **FAST).fit(X)
    assert np.count_nonzero(np.diff(sae.validation_indices_) > 1) + 1 <= 2


def test_metric_definitions_on_a_hand_made_case():
    x = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0]])
    x_hat = np.array([[1.0, 1.0], [3.0, 2.0], [4.0, 4.0]])
    # per-feature means (3, 2): total SS = 8 + 8 = 16; residual SS = 1 + 1 = 2
    assert r2_score(x, x_hat) == pytest.approx(1 - 2 / 16)
    codes = np.array([[0.0, 1.0, 0.0, 2.0], [0.0, 1.0, 0.0, 0.0], [0.0, 3.0, 0.5, 0.0]])
    stats = code_statistics(codes)
    assert stats["l0"] == pytest.approx(5 / 3)
    assert stats["dead_fraction"] == 0.25  # atom 0 never active
    assert stats["dense_fraction"] == 0.25  # atom 1 active on 3/3 > 50 %; atom 3 on 1/3 is not
    # grand mean 2.5: total SS = 2.25 + 6.25 + 0.25 + 0.25 + 6.25 + 2.25 = 17.5
    assert r2_score(x, x_hat, reference="grand") == pytest.approx(1 - 2 / 17.5)
    with pytest.raises(ValueError, match="no variance"):
        r2_score(np.ones((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="reference"):
        r2_score(x, x_hat, reference="median")


def test_codec_defaults_are_the_official_retina_run():
    """bscope STSAE as 2_decompose_retinal_contributions.py trains it (CodecSAE's docstring lists the file)."""
    sae = CodecSAE()
    assert (sae.threshold, sae.dropout, sae.l1, sae.lr, sae.batch_size, sae.max_epochs) == (0.9, 0.05, 1e-4, 1e-5,
                                                                                            128, 800)
    assert sae.step_lr == (25, 0.98) and sae.drop_last and sae.patience is None and sae.validation_fraction == 0
    assert sae.hidden is None and sae.expansion is None and CodecSAE.default_expansion == 10
    X = planted(n=300)[0]
    fitted = CodecSAE(max_epochs=2).fit(X)
    encoder = fitted.module_.encoder
    linears = [m for m in encoder if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [N_FEATURES, N_FEATURES, 10 * N_FEATURES]  # width = data dim
    assert linears[-1].bias is None and all(m.bias is not None for m in linears[:2])
    assert [type(m).__name__ for m in encoder][:4] == ["Linear", "Dropout", "ReLU", "LayerNorm"]
    # the loss: MSE + l1 * MEAN |dictionary| (a sum would be K * d = 2560 times stronger)
    x = torch.as_tensor(X[:32]) / fitted.scale_
    module = fitted.module_.eval()
    mse = (module.decode(module.encode(x)) - x).pow(2).mean()
    assert float(module.training_loss(x)) == pytest.approx(float(mse + 1e-4 * module.W.abs().mean()), rel=1e-6)
    # every sample trains; the metrics are on them, labelled so
    assert fitted.validation_indices_.size == 0 and not fitted.metrics_["held_out"]
    assert fitted.scale_ == pytest.approx(X.std(), rel=1e-5)  # one global (population) standard deviation


def test_official_initialisation_learns_nothing_where_open_fraction_does():
    """The gate has no gradient: with PyTorch's init (~1e-4 of codes above 0.9) no code ever opens here."""
    X = planted(n=600)[0]
    options = {"max_epochs": 15, "lr": 3e-3, "step_lr": None, "n_modes": 30, "hidden": 64}
    assert CodecSAE(**options).fit(X).modes_.shape[0] == 0
    opened = CodecSAE(open_fraction=0.05, **options).fit(X)
    assert opened.modes_.shape[0] > 0 and opened.metrics_["r2"] > 0.1
    with pytest.raises(ValueError, match="open_fraction"):
        CodecSAE(open_fraction=1.5).fit(X)


def test_step_schedule_and_all_epochs_without_patience():
    X = planted(n=300)[0]
    sae = CodecSAE(max_epochs=27, lr=1e-3).fit(X)
    assert len(sae.history_) == 27  # no early stopping
    lrs = [h["lr"] for h in sae.history_]
    assert lrs[24] == pytest.approx(1e-3) and lrs[25] == pytest.approx(1e-3 * 0.98)


def test_sklearn_conventions(data):
    X = data[0][:300]
    sae = TopKSAE(k=3, expansion=2.0, max_epochs=1)
    assert clone(sae).get_params() == sae.get_params()
    assert sae.fit(X) is sae
    assert sae.n_latents_ == 32 and sae.n_features_in_ == N_FEATURES
    assert sae.transform(torch.as_tensor(X)).shape[0] == len(X)
    assert set(sae.metrics_) >= {"r2", "l0", "dead_fraction", "dense_fraction"}


def test_bad_inputs(data):
    X = data[0][:300].copy()
    X[[3, 7, 9], 1] = np.nan
    X[11, 0] = np.inf
    with pytest.raises(ValueError, match=r"NaN or infinite values in 4 of 300 rows \(first: \[3, 7, 9, 11\]\)"):
        TopKSAE().fit(X)
    with pytest.raises(ValueError, match="k=50 active latents asked for, but the SAE has 32 latents"):
        TopKSAE(k=50, expansion=2.0).fit(data[0][:300])
    with pytest.raises(ValueError, match="too few for a validation split.*pass at least 50 samples"):
        ReLUSAE().fit(data[0][:30])
    with pytest.raises(ValueError, match="must be 2-D"):
        CodecSAE().fit(data[0][:, 0])
    with pytest.raises(ValueError, match="split must be"):
        TopKSAE(split="blocks").fit(data[0][:300])
    sae = TopKSAE(k=2, max_epochs=1, **FAST).fit(data[0][:300])
    with pytest.raises(ValueError, match="features"):
        sae.transform(data[0][:5, :4])
    with pytest.raises(ValueError, match="columns"):
        sae.inverse_transform(np.zeros((2, sae.modes_.shape[0] + 1)))
