"""What the engine learns about a model's structure before the interpolation pass.

Two facts make the pass exact and fast, and both are found by tracing one sample and then
checked numerically on it (a model that fails a check is simply run the plain way):

* **An affine stem.** If the first module to run is a convolution or linear layer (or a
  module whose ``is_affine`` attribute is true, such as a separable convolution) applied
  to the model input itself, and every path from the input to the output goes through it,
  then along the straight path x₀ + α(x − x₀) its output is exactly
  ``stem(x₀) + α (stem(x) − stem(x₀))``. Two stem evaluations per sample replace S + 1;
  for the retina model the first convolution (40 → 8 channels, 15×15) is most of the
  forward cost.
* **The ReLU kinks downstream of a hooked layer.** If the first ``nn.ReLU`` to run after
  layer L cuts the network and the map from L's output to that ReLU's input is affine
  (a convolution and BatchNorm, as between the retina model's two layers), the gradient
  ∂F/∂a_L jumps wherever a unit of that ReLU switches on or off along the path. The
  trapezoid rule then converges only as 1/S. The engine integrates those jumps at the
  crossing point instead (:func:`retinacodec.attribution.quadrature.kink_cotangent`).
* **A smooth output stage.** If the last module to run is a smooth nonlinearity whose output
  is the model output (the retina model's Softplus) and every hooked layer reaches its
  input z through an affine map (directly, or after its kink ReLU), then along each step z
  moves on a straight segment, and the target Φ(z) = F(stage(z)) is cheap to evaluate
  anywhere on it. The engine averages ∇Φ over each segment with Gauss–Legendre nodes
  (:func:`retinacodec.attribution.quadrature.segment_cotangents`) instead of taking the
  trapezoid mean of its two ends, which removes the trapezoid rule's error from the
  curvature of the Softplus and of the target (the surprisal, a quadratic form).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from retinacodec.attribution.hooks import bypasses

__all__ = ["Structure", "analyse", "stem_shortcut", "KinkRecorder", "StageRecorder"]

AFFINE_STEMS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
SMOOTH_OUTPUTS = (nn.Softplus, nn.Sigmoid, nn.Tanh, nn.ELU, nn.SiLU, nn.GELU, nn.Softmax, nn.LogSoftmax)


@dataclass(frozen=True)
class Structure:
    """Structural shortcuts valid for one model and one set of hooked layers.

    Attributes
    ----------
    stem : nn.Module or None
        The affine first module, evaluated at the path's two ends only.
    kinks : dict
        Hooked layer name → the ``nn.ReLU`` whose switching points are integrated exactly.
    output : nn.Module or None
        The smooth output stage integrated exactly along each step.
    """

    stem: nn.Module | None = None
    kinks: dict[str, nn.Module] = field(default_factory=dict)
    output: nn.Module | None = None


def _trace(model: nn.Module, x: torch.Tensor) -> tuple[list[nn.Module], dict[nn.Module, bool]]:
    """Modules in the order their forward passes finish, and whether each first ran on ``x`` itself."""
    order: list[nn.Module] = []
    on_input: dict[nn.Module, bool] = {}

    def hook(module: nn.Module, inputs: tuple, output: object) -> None:
        order.append(module)
        on_input.setdefault(module, bool(inputs) and inputs[0] is x)

    handles = [m.register_forward_hook(hook) for m in model.modules() if m is not model]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return order, on_input


def _tolerance(t: torch.Tensor) -> float:
    return 1e-9 if t.dtype == torch.float64 else 1e-4


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    scale = max(float(a.abs().max()), float(b.abs().max()), 1e-30)
    return float((a - b).abs().max()) <= _tolerance(a) * scale


def _path(x: torch.Tensor, x0: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    """The inputs ``x₀ + αᵢ (x − x₀)``, point-major: shape ``(P·B, ...)``."""
    a = alphas.view(-1, 1, *([1] * (x.ndim - 1)))
    return (x0.unsqueeze(0) + a * (x - x0).unsqueeze(0)).reshape(-1, *x.shape[1:])


def interpolate(start: torch.Tensor, end: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    """``start + αᵢ (end − start)`` for every α, point-major, channels-last for image maps.

    Parameters
    ----------
    start, end : torch.Tensor, shape (B, ...)
    alphas : torch.Tensor, shape (P,)

    Returns
    -------
    torch.Tensor, shape (P·B, ...)
    """
    out = _path(end, start, alphas)
    return out.contiguous(memory_format=torch.channels_last) if out.ndim == 4 else out


@contextmanager
def stem_shortcut(stem: nn.Module | None, x: torch.Tensor, x0: torch.Tensor,
                  alphas: torch.Tensor) -> Iterator[torch.Tensor]:
    """Yield the model input for the pass at ``alphas``; with a stem, its output is interpolated.

    Without a stem the yielded input is the (P·B, ...) path itself. With one, the stem runs
    on the 2·B endpoints only and, inside the block, returns their interpolation whatever it
    is given; the yielded input is then a zero-copy placeholder of the right shape.
    """
    if stem is None:
        yield _path(x, x0, alphas)
        return
    with torch.no_grad():
        ends = stem(torch.cat([x0, x]))
    b = x.shape[0]
    points = interpolate(ends[:b], ends[b:], alphas)
    stem.forward = lambda *args, **kwargs: points  # an instance attribute shadows the class's forward
    try:
        yield x0[:1].expand(alphas.numel() * b, *x.shape[1:])
    finally:
        del stem.forward


def _find_stem(model: nn.Module, order: list[nn.Module], on_input: dict, x: torch.Tensor,
               x0: torch.Tensor) -> nn.Module | None:
    """The affine first module, if the model's output reaches the input only through it (checked)."""
    leaves = [m for m in order if not any(True for _ in m.children())]
    if not leaves:
        return None
    stem = leaves[0]
    affine = isinstance(stem, AFFINE_STEMS) or getattr(stem, "is_affine", False)
    if not (affine and on_input.get(stem) and order.count(stem) == 1):
        return None
    if bypasses(model, stem, x):
        return None
    alphas = torch.tensor([0.0, 0.5, 1.0], dtype=x.dtype, device=x.device)
    try:
        with torch.no_grad():
            plain = model(_path(x, x0, alphas))
            with stem_shortcut(stem, x, x0, alphas) as placeholder:
                short = model(placeholder)
    except RuntimeError:
        return None
    return stem if _close(short, plain) else None


def _affine_between(model: nn.Module, layer: nn.Module, relu: nn.Module, x: torch.Tensor, x0: torch.Tensor) -> bool:
    """Whether the map from ``layer``'s output to ``relu``'s input has the same Jacobian at both path ends."""
    store: dict[str, torch.Tensor] = {}

    def leaf(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        store["a"] = output.detach().requires_grad_()
        return store["a"]

    def pre(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        store["z"] = inputs[0]

    handles = [layer.register_forward_hook(leaf), relu.register_forward_hook(pre)]
    try:
        with torch.enable_grad():
            model(torch.cat([x0, x]))
        z = store["z"]
        if not z.requires_grad:
            return False
        v = torch.randn(z.shape[1:], generator=torch.Generator().manual_seed(0), dtype=z.dtype).to(z.device)
        (g,) = torch.autograd.grad(z, store["a"], v.expand_as(z), allow_unused=True)
    except (RuntimeError, KeyError):
        return False
    finally:
        for h in handles:
            h.remove()
    return g is not None and _close(g[0], g[1])


def _find_kink(model: nn.Module, order: list[nn.Module], layer: nn.Module, x: torch.Tensor,
               x0: torch.Tensor) -> nn.Module | None:
    """The first ``nn.ReLU`` after ``layer`` whose kinks can be integrated exactly, if any."""
    if order.count(layer) != 1:
        return None
    after = order[order.index(layer) + 1:]
    relu = next((m for m in after if type(m) is nn.ReLU), None)
    if relu is None or order.count(relu) != 1 or bypasses(model, relu, x):
        return None
    return relu if _affine_between(model, layer, relu, x, x0) else None


def _find_output(model: nn.Module, order: list[nn.Module], modules: dict[str, nn.Module], kinks: dict[str, nn.Module],
                 x: torch.Tensor, x0: torch.Tensor) -> nn.Module | None:
    """The smooth last module, if the model returns its output and every hooked layer reaches it affinely."""
    leaves = [m for m in order if not any(True for _ in m.children())]
    if not leaves or not isinstance(leaves[-1], SMOOTH_OUTPUTS) or order.count(leaves[-1]) != 1:
        return None
    stage, store = leaves[-1], {}
    handle = stage.register_forward_hook(lambda m, i, out: store.__setitem__("out", out))
    try:
        with torch.no_grad():
            y = model(x)
    finally:
        handle.remove()
    if not (isinstance(y, torch.Tensor) and store.get("out") is y):
        return None
    for name, module in modules.items():
        if order.count(module) != 1 or not _affine_between(model, kinks.get(name, module), stage, x, x0):
            return None
    return stage


def analyse(model: nn.Module, modules: dict[str, nn.Module], x: torch.Tensor, x0: torch.Tensor, *,
            stem: bool = True, kinks: bool = True, output: bool = True,
            cut: set[str] | frozenset = frozenset()) -> Structure:
    """Find the affine stem and the integrable ReLU kinks, checking each on one sample.

    Parameters
    ----------
    model : nn.Module
        Inside :func:`retinacodec.attribution.hooks.prepared` (eval mode, frozen parameters).
    modules : dict
        Hooked layer name → module.
    x, x0 : torch.Tensor, shape (1, ...)
        One input and its baseline.
    stem, kinks, output : bool
        Look for each (the output stage only if every hooked layer cuts the network).
    cut : set of str
        The hooked layers that cut the network (kinks are only sought for these).

    Returns
    -------
    Structure
    """
    order, on_input = _trace(model, x)
    found_stem = _find_stem(model, order, on_input, x, x0) if stem else None
    found = {}
    if kinks:
        for name, module in modules.items():
            relu = _find_kink(model, order, module, x, x0) if name in cut else None
            if relu is not None:
                found[name] = relu
    stage = _find_output(model, order, modules, found, x, x0) if output and set(modules) <= set(cut) else None
    return Structure(found_stem, found, stage)


class KinkRecorder:
    """Forward hooks keeping the input (pre-activation z) and output of each kink ReLU.

    Attributes
    ----------
    inputs, outputs : dict
        ReLU module → tensor, shape (rows, ...), part of the autograd graph.
    """

    def __init__(self, relus: list[nn.Module]) -> None:
        self.relus = relus
        self.inputs: dict[nn.Module, torch.Tensor] = {}
        self.outputs: dict[nn.Module, torch.Tensor] = {}
        self._handles: list = []

    def __enter__(self) -> KinkRecorder:
        self.inputs, self.outputs = {}, {}
        self._handles = [m.register_forward_hook(self._hook) for m in self.relus]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        self.inputs[module] = inputs[0]
        self.outputs[module] = output


class StageRecorder:
    """A forward hook keeping the input z of the smooth output stage (part of the autograd graph)."""

    def __init__(self, stage: nn.Module | None) -> None:
        self.stage = stage
        self.input: torch.Tensor | None = None
        self._handle = None

    def __enter__(self) -> StageRecorder:
        if self.stage is not None:
            self._handle = self.stage.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _hook(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        self.input = inputs[0]
