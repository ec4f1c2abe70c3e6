"""Quadrature rules for the path integral of a hidden unit's conductance (METHODS.md §2).

A unit's contribution is ``c = ∫₀¹ g(α) a′(α) dα`` with g = ∂F/∂a. On the grid αᵢ = i/S the
trapezoid rule, ``Σᵢ ½ (gᵢ₋₁ + gᵢ)(aᵢ − aᵢ₋₁)``, is second-order accurate where g is smooth,
and the one-sided rules are first order. In a ReLU network g is *not* smooth for any layer
that has a ReLU downstream: when a downstream unit k switches at some α* inside a step, g
jumps there, and the trapezoid rule (which weights each side of the jump by ½ whatever α*
is) is only first order.

:func:`kink_cotangent` removes that error where the map from the layer to the ReLU's input z
is affine (z = A a + b, so g = Aᵀ (m ⊙ d) with m the ReLU's 0/1 mask and d = ∂F/∂relu(z)):
per step it forms the cotangent ``uᵢ = fᵢ ⊙ ½ (dᵢ₋₁ + dᵢ)`` at z, where fᵢ is the fraction
of the step during which each unit is on — 0 or 1 for a unit that does not switch, and
``1 − θ`` or ``θ`` for one that does, θ = zᵢ₋₁ / (zᵢ₋₁ − zᵢ) being the crossing point of z
interpolated linearly across the step. The layer's gradient for step i is then Aᵀuᵢ and
its contribution ``Σᵢ (Aᵀuᵢ)(aᵢ − aᵢ₋₁)``. Without switches this is exactly the trapezoid
rule; with them the jump is placed where it happens.

:func:`segment_cotangents` does the same for a smooth output stage: where the model ends in
a smooth nonlinearity (a Softplus) reached affinely from the layer, its input z moves on a
straight segment in each step, and the exact per-step cotangent at z is the mean of ∇Φ
along that segment (Φ = target ∘ stage), which Gauss–Legendre nodes give to rounding at
the cost of evaluating the stage alone. Both then yield per-step gradients, combined with
the left rule's weights ``aᵢ₊₁ − aᵢ``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

__all__ = ["point_weights", "kink_cotangent", "segment_cotangents"]

#: Gauss–Legendre nodes per step for the smooth output stage.
STAGE_NODES = 8


def point_weights(a: torch.Tensor, method: str, rule: str) -> torch.Tensor:
    """Per-point weights ω such that contribution = Σᵢ gᵢ ωᵢ.

    Parameters
    ----------
    a : torch.Tensor, shape (P, batch, *units)
        Activations at the interpolation points.
    method : {"integrated_gradients", "activation_x_gradient"}
    rule : {"trapezoid", "left", "right"}

    Returns
    -------
    torch.Tensor, same shape
        ``left``: ωᵢ = aᵢ₊₁ − aᵢ; ``right``: ωᵢ = aᵢ − aᵢ₋₁; ``trapezoid``: their mean;
        activation × gradient: a at the last point (the input) only.
    """
    w = torch.zeros_like(a)
    if method == "activation_x_gradient":
        w[-1] = a[-1]
        return w
    da = a[1:] - a[:-1]
    if rule in ("left", "trapezoid"):
        w[:-1] += da
    if rule in ("right", "trapezoid"):
        w[1:] += da
    return w / 2 if rule == "trapezoid" else w


def kink_cotangent(z: torch.Tensor, d: torch.Tensor, per_step: bool = False) -> torch.Tensor:
    """Per-step cotangents at a ReLU's input that integrate its switching points exactly.

    Parameters
    ----------
    z : torch.Tensor, shape (P, batch, *units)
        The ReLU's input at the P = S + 1 interpolation points.
    d : torch.Tensor, shape (targets, P, batch, *units)
        ∂F/∂(ReLU output) for each target at each point; with ``per_step``, row i already
        holds the cotangent of the step from point i to i + 1 (and is used as it is instead
        of the mean of rows i and i + 1).
    per_step : bool
        How to read ``d``.

    Returns
    -------
    torch.Tensor, shape (targets, P, batch, *units)
        Row i (i < S) holds uᵢ for the step from point i to point i + 1 (module docstring);
        the last row is zero, so that the result lines up with the points.
    """
    start, end = z[:-1], z[1:]
    on_start, on_end = start > 0, end > 0
    switches = on_start != on_end
    theta = start / torch.where(switches, start - end, torch.ones_like(start))  # crossing, in step units
    on_fraction = torch.where(switches, torch.where(on_end, 1 - theta, theta), on_end.to(z.dtype))
    u = torch.empty_like(d)
    u[:, -1] = 0
    steps = u[:, :-1]
    if per_step:
        torch.mul(d[:, :-1], on_fraction, out=steps)
        return u
    torch.add(d[:, :-1], d[:, 1:], out=steps)
    steps.mul_(on_fraction.mul_(0.5))
    return u


def segment_cotangents(z: torch.Tensor, phi: Callable[[torch.Tensor], torch.Tensor], n_targets: int,
                       nodes: int = STAGE_NODES) -> torch.Tensor:
    """Per-step mean of ∇Φ along the straight segments of a smooth stage's input.

    Parameters
    ----------
    z : torch.Tensor, shape (P, batch, *units)
        The stage's input at the P interpolation points (detached).
    phi : callable
        ``(rows, *units) → (rows, n_targets)``: the targets as a function of the stage input.
    n_targets : int
        Number of targets ``phi`` returns.
    nodes : int
        Gauss–Legendre nodes per step.

    Returns
    -------
    torch.Tensor, shape (targets, P, batch, *units)
        Row i (i < P − 1) holds ∫₀¹ ∇Φ(zᵢ + t (zᵢ₊₁ − zᵢ)) dt; the last row is zero.
    """
    t_np, w_np = np.polynomial.legendre.leggauss(nodes)
    t = torch.as_tensor((t_np + 1) / 2, dtype=z.dtype, device=z.device)
    w = torch.as_tensor(w_np / 2, dtype=z.dtype, device=z.device)
    shape = (nodes, 1, 1) + (1,) * (z.ndim - 2)
    start, delta = z[:-1].unsqueeze(0), (z[1:] - z[:-1]).unsqueeze(0)
    points = (start + t.view(shape) * delta).reshape(-1, *z.shape[2:]).requires_grad_()
    with torch.enable_grad():
        values = phi(points)
        if n_targets == 1:
            grads = torch.autograd.grad(values.sum(), points)[0].unsqueeze(0)
        else:
            eye = torch.eye(n_targets, dtype=values.dtype, device=values.device)
            grads = torch.autograd.grad(values, points, eye[:, None, :].expand(n_targets, *values.shape),
                                        is_grads_batched=True)[0]
    grads = grads.reshape(n_targets, nodes, *z[:-1].shape)
    out = torch.zeros((n_targets, *z.shape), dtype=z.dtype, device=z.device)
    out[:, :-1] = (grads * w.view(1, *shape)).sum(1)
    return out
