"""The classic sparse autoencoder: ReLU codes with an L1 penalty on them."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from retinacodec.codec.sae.base import BaseSAE
from retinacodec.codec.sae.linear import LinearSAEModule

__all__ = ["ReLUModule", "ReLUSAE"]


class ReLUModule(LinearSAEModule):
    """Linear SAE with ``codes = ReLU(pre)`` and loss ``MSE + l1 · mean_sample(sum |codes|)``.

    Because the atoms have unit norm, the L1 penalty cannot be dodged by shrinking codes and
    growing atoms.

    Parameters
    ----------
    x_train : torch.Tensor, shape (n_train, n_features)
        Scaled training samples.
    n_latents : int
        Dictionary size K.
    l1 : float
        Weight of the L1 penalty on the codes.
    """

    def __init__(self, x_train: torch.Tensor, n_latents: int, l1: float) -> None:
        super().__init__(x_train, n_latents)
        self.l1 = l1

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.pre_activations(x))

    def training_loss(self, x: torch.Tensor) -> torch.Tensor:
        codes = self.encode(x)
        return (self.decode(codes) - x).pow(2).mean() + self.l1 * codes.sum(dim=1).mean()


class ReLUSAE(BaseSAE):
    """ReLU sparse autoencoder with an L1 penalty on the codes, sklearn-style.

    Inputs divided by one global standard deviation; pre-encoder bias initialised at the
    training mean; unit-norm decoder atoms; encoder initialised as the decoder's transpose
    (see :class:`~retinacodec.codec.sae.linear.LinearSAEModule`).

    Parameters
    ----------
    l1 : float
        Weight of the L1 penalty (codes summed over atoms, averaged over samples; the MSE is
        averaged over entries, in units of the global standard deviation).
    expansion : float, optional
        K = ``expansion`` × n_features when ``n_modes`` is None; default 8.
    n_modes : int, optional
        Dictionary size K, overriding ``expansion``.
    lr, batch_size, max_epochs, patience, validation_fraction, split, seed, n_init, device, progress
        As for :class:`~retinacodec.codec.sae.topk.TopKSAE`.

    Attributes
    ----------
    See :class:`~retinacodec.codec.sae.base.BaseSAE`.
    """

    def __init__(self, l1: float = 1e-2, *, expansion: float | None = None, n_modes: int | None = None,
                 lr: float = 1e-3, batch_size: int = 256, max_epochs: int = 200, patience: int = 10,
                 validation_fraction: float = 0.1, split: str = "random", seed: int = 0, n_init: int = 1,
                 device: str | None = "cpu", progress: bool | None = None) -> None:
        self.l1, self.expansion, self.n_modes, self.lr, self.batch_size = l1, expansion, n_modes, lr, batch_size
        self.max_epochs, self.patience, self.validation_fraction = max_epochs, patience, validation_fraction
        self.split, self.seed, self.n_init, self.device, self.progress = split, seed, n_init, device, progress

    def _check_params(self, n_latents: int) -> None:
        if self.l1 < 0:
            raise ValueError(f"l1 must be non-negative; got {self.l1}.")

    def _build_module(self, x_train: torch.Tensor, n_latents: int) -> ReLUModule:
        return ReLUModule(x_train, n_latents, self.l1)
