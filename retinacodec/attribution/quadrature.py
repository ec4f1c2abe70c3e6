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
"""

from __future__ import annotations

import torch

__all__ = ["point_weights", "kink_cotangent"]


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


def kink_cotangent(z: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Per-step cotangents at a ReLU's input that integrate its switching points exactly.

    Parameters
    ----------
    z : torch.Tensor, shape (P, batch, *units)
        The ReLU's input at the P = S + 1 interpolation points.
    d : torch.Tensor, shape (targets, P, batch, *units)
        ∂F/∂(ReLU output) for each target at each point.

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
    torch.add(d[:, :-1], d[:, 1:], out=steps)
    steps.mul_(on_fraction.mul_(0.5))
    return u
