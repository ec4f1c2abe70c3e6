"""Input gradients of many outputs at many inputs in one pass (the engine of the receptive-field code).

The model runs forward once per batch; when its first module is a convolution (a BNCNN),
the gradient is taken only down to that convolution's output, for all outputs at once
(batched cotangents, ``is_grads_batched``), and pulled back through the convolution for every
input and output together in the Fourier domain (:class:`~retinacodec.rf.stem.StemTranspose`);
other models get the batched gradient with respect to the input directly. For integrated
gradients the path points are the stem's output interpolated linearly (exact for a
convolution) and the path-averaged gradient is pulled back once.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import nn

from retinacodec.attribution.hooks import Recorder
from retinacodec.attribution.structure import analyse, stem_shortcut
from retinacodec.rf.stem import StemTranspose

__all__ = ["METHODS", "InputGradients"]

METHODS = ("gradient", "integrated_gradients")


class InputGradients:
    """Gradients of chosen model outputs (or hidden units) with respect to the input, for a batch of inputs.

    Parameters
    ----------
    model : nn.Module
        Inside :func:`retinacodec.attribution.hooks.prepared` (eval mode, frozen parameters).
    x1 : torch.Tensor, shape (1, ...)
        One input, to find the model's stem.
    method : {"gradient", "integrated_gradients"}
        The gradient at x, or its trapezoid mean along the straight path from zeros to x.
    steps : int
        Path steps for integrated gradients.
    layer : nn.Module, optional
        Differentiate the units of this module's output (flattened) instead of the model output.

    Attributes
    ----------
    transpose : StemTranspose or None
        How the gradient passes the stem, when the model has a convolutional one.
    """

    def __init__(self, model: nn.Module, x1: torch.Tensor, method: str, steps: int,
                 layer: nn.Module | None = None) -> None:
        self.model, self.method, self.layer = model, method, layer
        # the path 0 → x at steps + 1 points; the plain gradient takes its end point alone (α = 1)
        self.alphas = (torch.linspace(0, 1, int(steps) + 1, dtype=x1.dtype, device=x1.device)
                       if method == "integrated_gradients" else torch.ones(1, dtype=x1.dtype, device=x1.device))
        stem = analyse(model, {}, x1, torch.zeros_like(x1), kinks=False, output=False).stem
        # a separable stem is transposed as the ordinary convolution it equals
        conv = stem.collapse() if stem is not None and hasattr(stem, "collapse") else stem
        self.stem = stem if conv is not None and StemTranspose.supports(conv) else None
        self.transpose = StemTranspose(conv, tuple(x1.shape[-2:])) if self.stem is not None else None

    def weights(self) -> torch.Tensor:
        """Trapezoid weights of the path points (one point, weight 1, for the plain gradient)."""
        p = self.alphas.numel()
        if p == 1:
            return torch.ones(1, dtype=self.alphas.dtype, device=self.alphas.device)
        w = torch.full((p,), 1.0 / (p - 1), dtype=self.alphas.dtype, device=self.alphas.device)
        w[0] = w[-1] = 0.5 / (p - 1)
        return w

    def _forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """The model output, or the hooked layer's output, flattened to (rows, units)."""
        if self.layer is None:
            y = self.model(inputs)
        else:
            seen = []
            handle = self.layer.register_forward_hook(lambda m, i, out: seen.append(out))
            try:
                self.model(inputs)
            finally:
                handle.remove()
            y = seen[0]
        return y.reshape(y.shape[0], -1)

    def __call__(self, x: torch.Tensor, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Path-averaged input gradients of outputs (or units) ``idx``.

        Parameters
        ----------
        x : torch.Tensor, shape (B, history, ny, nx)
        idx : list of int
            Output columns (cells).

        Returns
        -------
        grad : torch.Tensor, shape (B, len(idx), history, ny, nx)
            ∂r/∂x at x (gradient), or the trapezoid mean of ∂r/∂x along 0 → x.
        rate : torch.Tensor, shape (B, n_out)
            The model output at x.
        start : torch.Tensor, shape (B, n_out)
            The model output at the path's start (the zero baseline; equal to ``rate`` for the gradient).
        """
        p, b, t = self.alphas.numel(), x.shape[0], len(idx)
        x0 = torch.zeros_like(x)
        if self.stem is not None:  # differentiate down to the stem's output only
            rec = Recorder({"stem": self.stem})
            path = stem_shortcut(self.stem, x, x0, self.alphas) if p > 1 else nullcontext(x)
            with torch.enable_grad(), path as inputs, rec:
                y = self._forward(inputs)
            wrt = rec.wrt["stem"]
        else:
            with stem_shortcut(None, x, x0, self.alphas) as inputs:
                wrt = inputs.detach().requires_grad_()
            with torch.enable_grad():
                y = self._forward(wrt)
        with torch.enable_grad():
            chosen = y[:, idx]
            if t == 1:
                (g,) = torch.autograd.grad(chosen.sum(), wrt)
                g = g.unsqueeze(0)
            else:
                eye = torch.eye(t, dtype=chosen.dtype, device=chosen.device)
                (g,) = torch.autograd.grad(chosen, wrt, eye[:, None, :].expand(t, p * b, t), is_grads_batched=True)
        g = torch.einsum("p,tpb...->bt...", self.weights(), g.reshape(t, p, b, *g.shape[2:]))  # (B, t, ...)
        if self.transpose is not None:
            g = self.transpose(g.reshape(b * t, *g.shape[2:]).contiguous()).reshape(b, t, *x.shape[1:])
        y = y.detach().reshape(p, b, -1)
        return g, y[-1], y[0]
