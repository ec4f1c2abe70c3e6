"""Small image classifiers laid out as torchvision's, for tests, tutorials and benchmarks.

No pretrained weights can be downloaded here and torchvision is not a dependency, so these
builders reproduce the *module structure and names* of torchvision's ResNet, VGG and
VisionTransformer at any width: ``conv1, bn1, relu, maxpool, layer1 … layer4, avgpool, fc``
with ``BasicBlock`` s (``layer4.1``), ``features.<i>, avgpool, classifier.<i>`` for a plain
VGG-style CNN, and ``conv_proj, encoder.layers.encoder_layer_<i>, encoder.ln, heads.head``
for the ViT. They keep torchvision's quirks that matter to
attribution: the block's ``relu`` module runs twice per block, the residual sum is in place
(``out += identity``), and ViT blocks add their input back (so only whole blocks cut the
network). Code written against them runs unchanged on ``torchvision.models.resnet18`` /
``resnet50`` / ``vit_b_16`` loaded with a user's weights.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["VGG", "BasicBlock", "ResNet", "VisionTransformer", "resnet", "small_vgg", "tiny_vit"]


class BasicBlock(nn.Module):
    """torchvision's ``BasicBlock``: two 3×3 convolutions and a residual connection."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """A ResNet of :class:`BasicBlock` s with torchvision's module names.

    Parameters
    ----------
    depths : sequence of int
        Blocks per stage (``(2, 2, 2, 2)`` is ResNet-18).
    widths : sequence of int
        Channels per stage (``(64, 128, 256, 512)`` is ResNet-18).
    num_classes : int
    in_channels : int
        Image channels (1 for grey digits, 3 for colour).
    small_input : bool
        A 3×3 stride-1 stem without max pooling (for 8–32 px images) instead of torchvision's
        7×7 stride-2 convolution and 3×3 stride-2 max pooling; the module names are the same.
    """

    def __init__(self, depths: Sequence[int] = (2, 2, 2, 2), widths: Sequence[int] = (64, 128, 256, 512),
                 num_classes: int = 10, in_channels: int = 3, small_input: bool = False) -> None:
        super().__init__()
        if len(depths) != len(widths) or not depths or min(depths) < 1 or min(widths) < 1:
            raise ValueError(f"depths and widths must be equally long lists of positive ints; got {depths}, {widths}.")
        kernel, stride = (3, 1) if small_input else (7, 2)
        self.conv1 = nn.Conv2d(in_channels, widths[0], kernel, stride, kernel // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(3, 2, 1)
        inplanes = widths[0]
        for i, (depth, width) in enumerate(zip(depths, widths, strict=True)):
            blocks = [BasicBlock(inplanes, width, 1 if i == 0 else 2)]
            blocks += [BasicBlock(width, width) for _ in range(depth - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            inplanes = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)
        self.n_stages = len(depths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.n_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet(depths: Sequence[int] = (2, 2, 2, 2), widths: Sequence[int] = (64, 128, 256, 512), num_classes: int = 10,
           in_channels: int = 3, small_input: bool = False, seed: int = 0) -> ResNet:
    """A seeded ``ResNet``; the defaults are ResNet-18's structure (11.2 M parameters at 10 classes)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ResNet(depths, widths, num_classes, in_channels, small_input)


class VGG(nn.Module):
    """A plain CNN with torchvision's VGG module names: ``features``, ``avgpool``, ``classifier``.

    ``features`` holds, per stage, a 3×3 convolution (padding 1), a ReLU and a 2×2 max pooling,
    so ``features.<3 i>`` is stage i's convolution: its output is the stage's pre-nonlinearity
    activation (what encoded-absence tests read, METHODS.md §6). ``classifier`` is one linear
    layer on the pooled map (torchvision's VGG has three, with dropout).

    Parameters
    ----------
    widths : sequence of int
        Channels per stage.
    num_classes : int
    in_channels : int
    pool : int
        Side of ``avgpool``'s output map (torchvision: 7), read by ``classifier``.
    """

    def __init__(self, widths: Sequence[int] = (8, 16), num_classes: int = 10, in_channels: int = 1,
                 pool: int = 4) -> None:
        super().__init__()
        if not widths or min(widths) < 1 or pool < 1:
            raise ValueError(f"widths must be a non-empty list of positive ints and pool >= 1; got {widths}, {pool}.")
        layers: list[nn.Module] = []
        for inplanes, width in zip((in_channels, *widths[:-1]), widths, strict=True):
            layers += [nn.Conv2d(inplanes, width, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2)]
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(pool)
        self.classifier = nn.Sequential(nn.Linear(widths[-1] * pool * pool, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def small_vgg(widths: Sequence[int] = (8, 16), num_classes: int = 10, in_channels: int = 1, pool: int = 4,
              seed: int = 0) -> VGG:
    """A seeded ``VGG``; the defaults (3.8 k parameters at 10 classes) train on 16 px digits in under a second."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return VGG(widths, num_classes, in_channels, pool)


class EncoderBlock(nn.Module):
    """torchvision's ViT ``EncoderBlock``: pre-norm self-attention and MLP, each added back."""

    def __init__(self, num_heads: int, hidden_dim: int, mlp_dim: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(hidden_dim, num_heads, batch_first=True)
        self.dropout = nn.Dropout(0.0)
        self.ln_2 = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(hidden_dim, mlp_dim), nn.GELU(), nn.Dropout(0.0),
                                 nn.Linear(mlp_dim, hidden_dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = self.dropout(y) + x
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    """torchvision's ViT ``Encoder``: position embedding, blocks ``layers.encoder_layer_<i>``, final norm."""

    def __init__(self, seq_length: int, num_layers: int, num_heads: int, hidden_dim: int, mlp_dim: int) -> None:
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_length, hidden_dim).normal_(std=0.02))
        self.dropout = nn.Dropout(0.0)
        self.layers = nn.Sequential(OrderedDict(
            (f"encoder_layer_{i}", EncoderBlock(num_heads, hidden_dim, mlp_dim)) for i in range(num_layers)))
        self.ln = nn.LayerNorm(hidden_dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(self.layers(self.dropout(x + self.pos_embedding)))


class VisionTransformer(nn.Module):
    """A ViT with torchvision's module names: patch projection, class token, encoder, ``heads.head``.

    Parameters
    ----------
    image_size, patch_size : int
        Square images of ``image_size`` px cut into ``patch_size`` px patches.
    num_layers, num_heads, hidden_dim, mlp_dim : int
        Encoder depth and widths.
    num_classes, in_channels : int
    """

    def __init__(self, image_size: int = 32, patch_size: int = 8, num_layers: int = 2, num_heads: int = 2,
                 hidden_dim: int = 32, mlp_dim: int = 64, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} must be a multiple of patch_size {patch_size}.")
        self.patch_size = patch_size
        self.conv_proj = nn.Conv2d(in_channels, hidden_dim, patch_size, patch_size)
        self.class_token = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        self.encoder = Encoder((image_size // patch_size) ** 2 + 1, num_layers, num_heads, hidden_dim, mlp_dim)
        self.heads = nn.Sequential(OrderedDict(head=nn.Linear(hidden_dim, num_classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_proj(x).flatten(2).transpose(1, 2)  # (batch, tokens, hidden)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.heads(self.encoder(x)[:, 0])


def tiny_vit(image_size: int = 32, patch_size: int = 8, num_layers: int = 2, num_classes: int = 10,
             in_channels: int = 3, hidden_dim: int = 32, seed: int = 0) -> VisionTransformer:
    """A seeded small ``VisionTransformer`` (2 heads, MLP width 2 × ``hidden_dim``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return VisionTransformer(image_size, patch_size, num_layers, 2, hidden_dim, 2 * hidden_dim, num_classes,
                                 in_channels)
