"""CODEC's sparse autoencoder: an MLP encoder with thresholded sigmoid codes (METHODS.md §3)."""

from __future__ import annotations

import math

import torch
from torch import nn

from retinacodec.sae.base import BaseSAE, SAEModule

__all__ = ["CodecModule", "CodecSAE"]

#: The last encoder layer's bias starts this far (in logits) below the threshold.
_INIT_MARGIN = 1.0


class CodecModule(SAEModule):
    """Thresholded-sigmoid encoder and bias-free linear dictionary.

    ``s = sigmoid(MLP(x))`` with the MLP ``Linear → Dropout → ReLU → LayerNorm`` twice, then
    ``Linear``; ``codes = s · [s > threshold]`` where the mask carries no gradient, so every
    code is 0 or in ``(threshold, 1)``; ``x_hat = codes @ W`` with no bias. The loss is
    ``MSE + l1 · sum |W|``. The last encoder layer's bias starts at ``logit(threshold) - 1``, so
    that a few per cent of the codes (about 4 %) pass the threshold at initialisation: with
    the default initialisation almost none would, and since the mask carries no gradient,
    nothing would learn; with half of them open, training settles in denser, worse codes.

    Parameters
    ----------
    n_features : int
        Input dimension.
    n_latents : int
        Dictionary size K.
    hidden : int
        Width of the encoder's hidden layers.
    threshold : float
        Codes below it are zeroed, in (0, 1).
    dropout : float
        Dropout probability in the encoder.
    l1 : float
        Weight of the L1 penalty on the dictionary weights.
    nonneg : bool
        Keep the dictionary non-negative (projected after every step).
    """

    def __init__(self, n_features: int, n_latents: int, hidden: int, threshold: float, dropout: float, l1: float,
                 nonneg: bool) -> None:
        super().__init__()
        self.threshold, self.l1, self.nonneg = threshold, l1, nonneg
        layers: list[nn.Module] = []
        width = n_features
        for _ in range(2):
            layers += [nn.Linear(width, hidden), nn.Dropout(dropout), nn.ReLU(), nn.LayerNorm(hidden)]
            width = hidden
        last = nn.Linear(hidden, n_latents)
        nn.init.constant_(last.bias, math.log(threshold / (1 - threshold)) - _INIT_MARGIN)
        self.encoder = nn.Sequential(*layers, last)
        bound = 1 / math.sqrt(n_latents)
        weight = torch.empty(n_latents, n_features).uniform_(-bound, bound)
        self.W = nn.Parameter(weight.abs() if nonneg else weight)

    @property
    def dictionary(self) -> torch.Tensor:
        return self.W

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.encoder(x))
        return s * (s > self.threshold).detach()

    def training_loss(self, x: torch.Tensor) -> torch.Tensor:
        return (self.decode(self.encode(x)) - x).pow(2).mean() + self.l1 * self.W.abs().sum()

    @torch.no_grad()
    def constrain_weights(self) -> None:
        if self.nonneg:
            self.W.clamp_(min=0)


class CodecSAE(BaseSAE):
    """CODEC's thresholded-sigmoid sparse autoencoder (Melander et al. 2026), sklearn-style.

    Inputs are divided by one global standard deviation (no centring); codes are a sigmoid
    of an MLP gated at ``threshold`` (0 or in ``(threshold, 1)``, the gate without gradient);
    the dictionary is linear without bias, optionally non-negative; the loss is the MSE plus
    ``l1`` times the L1 norm of the dictionary weights; Adam; dead atoms dropped.

    Parameters
    ----------
    expansion : float, optional
        K = ``expansion`` × n_features when ``n_modes`` is None; default 10 (the retina; the
        paper uses 3 for classifiers).
    n_modes : int, optional
        Dictionary size K, overriding ``expansion``.
    threshold : float
        Sigmoid outputs at or below it are zeroed.
    dropout : float
        Dropout probability after each hidden Linear of the encoder.
    hidden : int, optional
        Width of the encoder's two hidden layers; default ``max(64, 2 × n_features)``.
    l1 : float
        Weight of the L1 penalty on the dictionary weights.
    nonneg_dictionary : bool
        Constrain the atoms to be non-negative.
    lr, batch_size, max_epochs, patience, validation_fraction, split, seed, device, progress
        As for :class:`~retinacodec.sae.topk.TopKSAE`.

    Attributes
    ----------
    See :class:`~retinacodec.sae.base.BaseSAE`; ``bias_`` is zero.
    """

    default_expansion = 10.0

    def __init__(self, *, expansion: float | None = None, n_modes: int | None = None, threshold: float = 0.9,
                 dropout: float = 0.05, hidden: int | None = None, l1: float = 1e-4, nonneg_dictionary: bool = False,
                 lr: float = 1e-3, batch_size: int = 256, max_epochs: int = 200, patience: int = 10,
                 validation_fraction: float = 0.1, split: str = "random", seed: int = 0, device: str | None = "cpu",
                 progress: bool | None = None) -> None:
        self.expansion, self.n_modes, self.threshold, self.dropout = expansion, n_modes, threshold, dropout
        self.hidden = hidden
        self.l1, self.nonneg_dictionary, self.lr, self.batch_size = l1, nonneg_dictionary, lr, batch_size
        self.max_epochs, self.patience, self.validation_fraction = max_epochs, patience, validation_fraction
        self.split, self.seed, self.device, self.progress = split, seed, device, progress

    def _check_params(self, n_latents: int) -> None:
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1); got {self.threshold}.")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout}.")
        if self.l1 < 0:
            raise ValueError(f"l1 must be non-negative; got {self.l1}.")

    def _build_module(self, x_train: torch.Tensor, n_latents: int) -> CodecModule:
        n_features = x_train.shape[1]
        hidden = self.hidden if self.hidden is not None else max(64, 2 * n_features)
        return CodecModule(n_features, n_latents, hidden, self.threshold, self.dropout, self.l1,
                           self.nonneg_dictionary)
