"""The BNCNN architecture and its variants."""

import pytest
import torch

from retinacodec.model.bncnn import BNCNN, BNCNNConfig, SeparableConv2d, StackedConv2d, preset_config


def test_default_architecture_matches_published_sizes():
    cfg = preset_config("default", n_cells=5, input_size=(50, 50))
    model = BNCNN(cfg).eval()
    assert isinstance(model.layer1.conv, torch.nn.Conv2d) and not cfg.separable and not cfg.stacked
    assert model.layer1.conv.weight.shape == (8, 40, 15, 15)
    assert model.layer2.conv.weight.shape == (8, 8, 11, 11)
    assert cfg.hidden_sizes() == [(36, 36), (26, 26)]
    assert model.readout.linear.in_features == 8 * 26 * 26
    out = model(torch.randn(3, 40, 50, 50))
    assert out.shape == (3, 5)
    assert torch.all(out > 0)  # softplus rates
    assert model.hidden_layers == ["layer1", "layer2"]
    names = dict(model.named_modules())
    assert {"layer1", "layer2", "readout", "layer1.relu"} <= set(names)


def test_auto_preset_gives_spatial_stimuli_a_separable_layer1():
    big, sample, full_field = (preset_config("auto", n_cells=2, input_size=size) for size in ((50, 50), (20, 20),
                                                                                             (1, 1)))
    assert big.separable == 1 and big.kernel_sizes == (15, 11)
    assert sample.separable == 1 and sample.kernel_sizes == (9, 7)
    assert full_field.separable == 0 and full_field.kernel_sizes == (1, 1)  # a 1x1 layer is a temporal filter
    assert preset_config("auto", n_cells=2, input_size=(50, 50), separable=0).separable == 0  # overridable
    assert preset_config("sample", n_cells=2, input_size=(20, 20)).separable == 0  # the named presets: published
    assert isinstance(BNCNN(big).layer1.conv, SeparableConv2d)


def test_noise_only_in_training():
    model = BNCNN(preset_config("sample", n_cells=2, input_size=(20, 20)))
    x = torch.randn(4, 40, 20, 20)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    a = model.layer1(x)
    torch.manual_seed(1)
    b = model.layer1(x)
    assert not torch.equal(a, b)


@pytest.mark.parametrize("k", [3, 7, 11])
def test_stacked_convolution_collapses_exactly(k):
    torch.manual_seed(0)
    stack = StackedConv2d(5, 4, k).double()
    x = torch.randn(2, 5, k + 6, k + 4, dtype=torch.double)
    conv = stack.collapse()
    assert conv.kernel_size == (k, k)
    torch.testing.assert_close(conv(x), stack(x), rtol=1e-10, atol=1e-10)


def test_model_collapse_keeps_outputs():
    model = BNCNN(preset_config("stacked", n_cells=3, input_size=(30, 30))).double().eval()
    x = torch.randn(2, 40, 30, 30, dtype=torch.double)
    before = model(x)
    model.collapse()
    assert not model.config.stacked
    assert isinstance(model.layer1.conv, torch.nn.Conv2d)
    torch.testing.assert_close(model(x), before, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_separable_convolution_collapses_exactly(rank):
    torch.manual_seed(0)
    sep = SeparableConv2d(6, 4, 5, rank).double()
    for p in sep.parameters():  # random biases too, not only the initial zeros
        torch.nn.init.normal_(p)
    x = torch.randn(2, 6, 11, 9, dtype=torch.double)
    conv = sep.collapse()
    assert conv.weight.shape == (4, 6, 5, 5)
    torch.testing.assert_close(conv(x), sep(x), rtol=1e-10, atol=1e-10)
    # a separable weight is what it says: each output channel's (time x space) matrix has rank <= rank
    for c in range(4):
        assert torch.linalg.matrix_rank(conv.weight[c].reshape(6, 25)) == min(rank, 6)
    assert sum(p.numel() for p in sep.parameters()) == rank * 4 * (6 + 25) + 4
    # and the gradients too (the FFT path)
    target = torch.randn_like(conv(x))
    (sep(x) * target).sum().backward()
    (conv(x) * target).sum().backward()
    # chain rule through W[c, t] = sum_r T_r[c, t] S_r[c]: dL/dT_r[c, t] = sum_yx dL/dW[c, t, y, x] S_r[c, y, x]
    dw = conv.weight.grad
    torch.testing.assert_close(sep.temporal.grad, torch.einsum("ctyx,rcyx->rct", dw, sep.spatial.detach()))
    torch.testing.assert_close(sep.spatial.grad, torch.einsum("ctyx,rct->rcyx", dw, sep.temporal.detach()))
    torch.testing.assert_close(sep.bias.grad, conv.bias.grad, rtol=1e-10, atol=1e-10)


def test_separable_model_collapses_to_the_published_architecture():
    model = BNCNN(preset_config("separable", n_cells=3, input_size=(50, 50))).double().eval()
    assert isinstance(model.layer1.conv, SeparableConv2d) and isinstance(model.layer2.conv, torch.nn.Conv2d)
    x = torch.randn(2, 40, 50, 50, dtype=torch.double)
    before = model(x)
    model.collapse()
    assert model.config.to_dict() == preset_config("default", n_cells=3, input_size=(50, 50)).to_dict()
    assert model.layer1.conv.weight.shape == (8, 40, 15, 15)
    torch.testing.assert_close(model(x), before, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="separable must be 0"):
        BNCNNConfig(n_cells=1, separable=1, stacked=True)


def test_conv_readout_reads_each_cell_at_its_centre():
    cfg = BNCNNConfig(n_cells=2, input_size=(30, 30), kernel_sizes=(5, 5), readout="conv", readout_kernel=5,
                      cell_positions=[(10.0, 12.0), (20.0, 18.0)])
    model = BNCNN(cfg).eval()
    out = model(torch.randn(3, 40, 30, 30))
    assert out.shape == (3, 2)
    # the readout index of cell 0 is (10 - 6, 12 - 6) in the 18x18 readout map
    assert int(model.readout.select.index[0]) == 4 * 18 + 6


def test_bad_configs_raise_clear_errors():
    with pytest.raises(ValueError, match="too small"):
        BNCNNConfig(n_cells=1, input_size=(20, 20), kernel_sizes=(15, 11))
    with pytest.raises(ValueError, match="RF centre"):
        BNCNNConfig(n_cells=2, input_size=(50, 50), readout="conv")
    with pytest.raises(ValueError, match="unknown preset"):
        preset_config("nope", n_cells=1, input_size=(50, 50))
    with pytest.raises(ValueError, match="odd kernel_size"):
        StackedConv2d(1, 1, 4)
