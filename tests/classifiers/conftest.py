"""Fixtures: a digits ResNet trained once per worker, and a toy network whose channels belong to classes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from retinacodec.classifiers import digits, resnet, split, train_classifier


@dataclass
class Digits:
    """A small ResNet trained on 16×16 digits, its images and the train/test split."""

    model: nn.Module
    images: torch.Tensor
    labels: torch.Tensor
    train: torch.Tensor
    test: torch.Tensor


@pytest.fixture(scope="session")
def digits_net() -> Digits:
    x, y = digits(16)
    tr, te = split(len(y), seed=0)
    model = resnet(depths=(1, 1, 1, 1), widths=(8, 16, 32, 64), in_channels=1, small_input=True, seed=0)
    train_classifier(model, x[tr], y[tr], epochs=4, seed=0)
    return Digits(model, x, y, torch.as_tensor(tr), torch.as_tensor(te))


class ClassChannels(nn.Module):
    """Ground truth: in ``block``'s output, channels 2k and 2k + 1 carry class k and nothing else.

    ``block`` is a ReLU of a fixed 1×1 convolution that copies input channel k to channels 2k
    and 2k + 1; the logit of class k is the spatial mean of those two channels.
    """

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        conv = nn.Conv2d(n_classes, 2 * n_classes, 1)
        fc = nn.Linear(2 * n_classes, n_classes)
        with torch.no_grad():
            conv.weight.zero_()
            conv.bias.zero_()
            fc.weight.zero_()
            fc.bias.zero_()
            for k in range(n_classes):
                conv.weight[2 * k:2 * k + 2, k] = 1.0
                fc.weight[k, 2 * k:2 * k + 2] = 1.0
        self.block = nn.Sequential(conv, nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.block(x)).flatten(1))


@pytest.fixture(scope="session")
def class_channels() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The toy network and 400 images (10 classes × 40): a bright blob in the class's input channel, noise elsewhere."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(10).repeat_interleave(40)
    x = 0.3 * torch.rand(400, 10, 6, 6, generator=gen)
    x[torch.arange(400), labels, 1:5, 1:5] += 1.0 + torch.rand(400, 4, 4, generator=gen)
    return ClassChannels(10).eval(), x, labels
