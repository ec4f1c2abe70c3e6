"""The linear encoder / unit-norm dictionary shared by the TopK, BatchTopK and ReLU SAEs."""

from __future__ import annotations

import torch
from torch import nn

from retinacodec.codec.sae.base import SAEModule

__all__ = ["LinearSAEModule"]


class LinearSAEModule(SAEModule):
    """``pre = (x - b_pre) @ W_enc + b_enc``, ``x_hat = codes @ W_dec + b_pre``, unit-norm atoms.

    The standard recipe (Gao et al. 2024): a pre-encoder bias ``b_pre`` subtracted before
    encoding and added back after decoding (initialised at the training mean); decoder atoms
    of unit norm, kept so after every step, with the gradient component parallel to each atom
    removed before the step; the encoder initialised as the decoder's transpose.

    Parameters
    ----------
    x_train : torch.Tensor, shape (n_train, n_features)
        Scaled training samples (their mean initialises ``b_pre``).
    n_latents : int
        Dictionary size K.
    """

    def __init__(self, x_train: torch.Tensor, n_latents: int) -> None:
        super().__init__()
        n_features = x_train.shape[1]
        w = torch.randn(n_latents, n_features, device=x_train.device)
        w = w / w.norm(dim=1, keepdim=True)
        self.W_dec = nn.Parameter(w)
        self.W_enc = nn.Parameter(w.t().clone())
        self.b_enc = nn.Parameter(torch.zeros(n_latents, device=x_train.device))
        self.b_pre = nn.Parameter(x_train.mean(dim=0))

    @property
    def dictionary(self) -> torch.Tensor:
        return self.W_dec

    @property
    def offset(self) -> torch.Tensor:
        return self.b_pre

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder output before the sparsifying nonlinearity, (n_samples, n_latents)."""
        return (x - self.b_pre) @ self.W_enc + self.b_enc

    @torch.no_grad()
    def constrain_gradients(self) -> None:
        grad = self.W_dec.grad
        if grad is not None:
            grad -= (grad * self.W_dec).sum(dim=1, keepdim=True) * self.W_dec

    @torch.no_grad()
    def constrain_weights(self) -> None:
        self.W_dec /= self.W_dec.norm(dim=1, keepdim=True).clamp_min(torch.finfo(self.W_dec.dtype).eps)
