"""Layer names and the layers that cut a network (torchvision-shaped ResNet and ViT, a timm-style ViT)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from retinacodec.attribution import contributions
from retinacodec.classifiers import block_outputs, check_layers, layer_table, resnet, resolve, tiny_vit

X = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


class TimmBlock(nn.Module):
    """timm's ViT ``Block``: the residual sum happens inside the block."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.norm1(x))


class TimmStyle(nn.Module):
    """timm's layout: ``patch_embed``, ``blocks`` (a Sequential of blocks), ``norm``, ``head``."""

    def __init__(self) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(3, 16, 8, 8)
        self.blocks = nn.Sequential(*[TimmBlock(16) for _ in range(3)])
        self.norm = nn.LayerNorm(16)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.patch_embed(x).flatten(2).transpose(1, 2))
        return self.head(self.norm(x).mean(1))


def test_resnet18_block_outputs_are_its_basic_blocks():
    model = resnet(widths=(8, 16, 32, 64))
    assert block_outputs(model, X) == [f"layer{i}.{j}" for i in range(1, 5) for j in range(2)]


def test_layer_table_marks_the_reused_relu_and_aliases():
    model = resnet(depths=(1, 1, 1, 1), widths=(4, 8, 8, 8))
    table = layer_table(model, X).set_index(layer="layer")
    assert int(table["calls"].sel(layer="layer1.0.relu")) == 2  # torchvision's BasicBlock runs its relu twice
    assert not bool(table["usable"].sel(layer="layer1.0.relu"))
    assert not bool(table["cuts"].sel(layer="layer2.0.conv2"))  # the residual bypasses it
    assert bool(table["cuts"].sel(layer="layer2.0"))
    assert str(table["same_as"].sel(layer="layer1").values) == "layer1.0"
    assert table["shape"].sel(layer="fc").item() == "10"


def test_vit_and_timm_blocks():
    vit = tiny_vit(num_layers=3)
    assert block_outputs(vit, X) == [f"encoder.layers.encoder_layer_{i}" for i in range(3)]
    timm = TimmStyle()
    assert list(resolve(timm, ["blocks[1]", "blocks.2"])) == ["blocks.1", "blocks.2"]
    assert block_outputs(timm, X) == ["blocks.0", "blocks.1", "blocks.2"]
    with pytest.warns(UserWarning, match="blocks.1.mlp"):
        check_layers(timm, ["blocks.1", "blocks.1.mlp"], X)


def test_check_layers_warns_for_bypassed_layers_and_completeness_fails_there():
    model = resnet(depths=(1, 1, 1, 1), widths=(4, 8, 8, 8))
    with pytest.warns(UserWarning, match="do not cut the network"):
        assert check_layers(model, ["layer3.0", "layer3.0.conv2"], X) == ["layer3.0.conv2"]
    with pytest.warns(UserWarning):
        ds = contributions(model.double(), X.double(), ["layer3.0", "layer3.0.conv2"], "logit:3", steps=64)
    rel = ds["completeness_relative"].sel(target=3)
    assert float(rel.sel(layer="layer3.0").max()) < 1e-2
    assert float(rel.sel(layer="layer3.0.conv2").min()) > 1e-2


def test_unknown_layer_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown layer.*layer4.1"):
        resolve(resnet(widths=(4, 4, 4, 4)), "layer9")
    with pytest.raises(ValueError, match="batch"):
        layer_table(resnet(widths=(4, 4, 4, 4)), np.zeros(3))
