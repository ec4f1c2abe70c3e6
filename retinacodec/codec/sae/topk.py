"""TopK (Gao et al. 2024) and BatchTopK (Bussmann et al. 2024) sparse autoencoders."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from retinacodec.codec.sae.base import BaseSAE
from retinacodec.codec.sae.linear import LinearSAEModule

__all__ = ["TopKModule", "TopKSAE"]


def _scatter_topk(values: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest entries of each row of ``values`` (others 0), then ReLU."""
    top = values.topk(k, dim=-1)
    return torch.zeros_like(values).scatter(-1, top.indices, F.relu(top.values))


class TopKModule(LinearSAEModule):
    """Linear SAE whose codes are ``ReLU(topk(pre))``, with the AuxK loss reviving dead latents.

    Parameters
    ----------
    x_train : torch.Tensor, shape (n_train, n_features)
        Scaled training samples.
    n_latents : int
        Dictionary size K.
    k : int
        Active latents per sample (per sample on average for BatchTopK).
    batch_topk : bool
        Train with the top ``k × batch`` pre-activations of the whole batch; at inference
        keep the ReLU codes above ``threshold``, the mean over the last epoch's batches of
        the smallest code the batch rule kept.
    aux_k : int
        Dead latents the auxiliary loss may use per sample.
    aux_coef : float
        Weight of the auxiliary loss.
    dead_after : int
        A latent is dead once it has not fired for this many training samples.
    """

    def __init__(self, x_train: torch.Tensor, n_latents: int, k: int, batch_topk: bool, aux_k: int,
                 aux_coef: float, dead_after: int) -> None:
        super().__init__(x_train, n_latents)
        self.k, self.batch_topk, self.aux_k, self.aux_coef, self.dead_after = k, batch_topk, aux_k, aux_coef, dead_after
        self.register_buffer("since_fired", torch.zeros(n_latents, dtype=torch.long, device=x_train.device))
        self.register_buffer("threshold", torch.zeros((), device=x_train.device))
        self._batch_minima: list[torch.Tensor] = []

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.pre_activations(x)
        if self.batch_topk:
            codes = F.relu(pre)
            return codes * (codes > self.threshold)
        return _scatter_topk(pre, self.k)

    def _training_codes(self, pre: torch.Tensor) -> torch.Tensor:
        if not self.batch_topk:
            return _scatter_topk(pre, self.k)
        codes = _scatter_topk(pre.reshape(1, -1), self.k * pre.shape[0]).reshape(pre.shape)
        kept = codes[codes > 0]
        if kept.numel():
            self._batch_minima.append(kept.min().detach())
        return codes

    def _aux_loss(self, residual: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        """AuxK: reconstruct the residual (batch, n_features) from the top dead latents."""
        dead = self.since_fired >= self.dead_after
        n_dead = int(dead.sum())
        if n_dead == 0:
            return residual.new_zeros(())
        aux_codes = _scatter_topk(pre.masked_fill(~dead, -torch.inf), min(self.aux_k, n_dead))
        aux_mse = ((aux_codes @ self.W_dec - residual) ** 2).sum(dim=1).mean()
        spread = ((residual - residual.mean(dim=0)) ** 2).sum(dim=1).mean()
        return torch.nan_to_num(aux_mse / spread)

    def training_loss(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.pre_activations(x)
        codes = self._training_codes(pre)
        residual = x - self.decode(codes)
        with torch.no_grad():
            self.since_fired += x.shape[0]
            self.since_fired[(codes > 0).any(dim=0)] = 0
        return residual.pow(2).mean() + self.aux_coef * self._aux_loss(residual.detach(), pre)

    def end_epoch(self) -> None:
        if self.batch_topk and self._batch_minima:
            self.threshold.copy_(torch.stack(self._batch_minima).mean())
        self._batch_minima = []


class TopKSAE(BaseSAE):
    """TopK or BatchTopK sparse autoencoder, sklearn-style.

    The standard recipe of Gao et al. (2024), *Scaling and evaluating sparse autoencoders*:
    inputs divided by one global standard deviation, a learned pre-encoder bias initialised
    at the training mean, ``codes = ReLU(topk(pre))``, encoder initialised as the decoder's
    transpose, unit-norm decoder atoms (re-normalised after every Adam step, gradient
    component along each atom removed before it), and the AuxK loss (coefficient ``aux_coef``)
    that reconstructs the residual from the ``aux_k`` most active dead latents — those that
    have not fired for one epoch of training samples. With ``batch_topk=True`` (Bussmann et
    al. 2024, *BatchTopK sparse autoencoders*) training keeps the top ``k × batch_size``
    activations of the whole batch, and inference keeps activations above a global
    threshold estimated during training, so ``k`` is the *average* L0.

    Parameters
    ----------
    k : int
        Active latents per sample.
    batch_topk : bool
        BatchTopK instead of TopK.
    expansion : float, optional
        K = ``expansion`` × n_features when ``n_modes`` is None; default 8.
    n_modes : int, optional
        Dictionary size K, overriding ``expansion``.
    aux_k : int, optional
        Dead latents used by the auxiliary loss per sample; default ``max(1, n_features // 2)``
        (Gao et al., appendix B.1).
    aux_coef : float
        Weight of the auxiliary loss (1/32 in Gao et al.).
    lr : float
        Adam learning rate.
    batch_size : int
        Samples per step.
    max_epochs : int
        Most passes over the training samples.
    patience : int
        Epochs without a better held-out reconstruction before stopping (best weights restored).
    validation_fraction : float
        Share of samples held out for early stopping and ``metrics_``.
    split : {"random", "contiguous"}
        How to hold samples out; use ``"contiguous"`` for time bins (see
        :func:`~retinacodec.codec.sae.base.split_samples`).
    seed : int
        Seeds initialisation, batching and the split; fits are deterministic on the CPU.
    n_init : int
        Restarts with seeds ``seed``, ``seed + 1`` ...; the one that reconstructs the held-out
        samples best is kept (``init_``), as ``KMeans(n_init=...)`` does.
    device : str, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
    progress : bool, optional
        Progress bar; default: only on a terminal.

    Attributes
    ----------
    See :class:`~retinacodec.codec.sae.base.BaseSAE`.
    """

    def __init__(self, k: int = 4, *, batch_topk: bool = False, expansion: float | None = None,
                 n_modes: int | None = None, aux_k: int | None = None, aux_coef: float = 1 / 32, lr: float = 1e-3,
                 batch_size: int = 256, max_epochs: int = 200, patience: int = 10,
                 validation_fraction: float = 0.1, split: str = "random", seed: int = 0, n_init: int = 1,
                 device: str | None = "cpu", progress: bool | None = None) -> None:
        self.k, self.batch_topk, self.expansion, self.n_modes = k, batch_topk, expansion, n_modes
        self.aux_k, self.aux_coef, self.lr, self.batch_size = aux_k, aux_coef, lr, batch_size
        self.max_epochs, self.patience, self.validation_fraction = max_epochs, patience, validation_fraction
        self.split, self.seed, self.n_init, self.device, self.progress = split, seed, n_init, device, progress

    def _check_params(self, n_latents: int) -> None:
        if not 1 <= self.k <= n_latents:
            raise ValueError(
                f"k={self.k} active latents asked for, but the SAE has {n_latents} latents; "
                f"use 1 <= k <= {n_latents} or a larger expansion / n_modes."
            )

    def _build_module(self, x_train: torch.Tensor, n_latents: int) -> TopKModule:
        aux_k = self.aux_k if self.aux_k is not None else max(1, x_train.shape[1] // 2)
        return TopKModule(x_train, n_latents, int(self.k), self.batch_topk, aux_k, self.aux_coef,
                          dead_after=x_train.shape[0])
