"""The contribution engine: one interpolation pass, every hooked layer, every target.

For a batch of inputs x, a baseline x₀ and S steps, the model runs once on the ``(S+1)·B``
inputs ``x₀ + αᵢ (x − x₀)``, αᵢ = i/S. Hooks record each layer's activation aᵢ and the
gradient gᵢ = ∂F/∂aᵢ of every target F, and the quadrature rule combines them
(METHODS.md §2; :mod:`retinacodec.attribution.quadrature`).

All T targets come from one backward pass. By default the T one-hot cotangents are batched
through autograd (``vectorize="batched"``, ``is_grads_batched``): the forward runs once and
only the backward is T-fold. ``vectorize="replicate"`` instead repeats the first hooked
layer's output once per target along the batch, so that everything downstream of it runs
(forward too) on ``T·(S+1)·B`` rows and target ``k``'s gradient is read from block ``k``; it
needs no batching rules, at the price of a T-fold forward.

Two structural shortcuts, found and checked by :mod:`retinacodec.attribution.structure`,
make the pass cheaper and the trapezoid rule more exact: an affine first layer is evaluated
at the two path ends only, and the kinks of the first ReLU downstream of a layer are
integrated at the points where its units switch.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr
from torch import nn

from retinacodec.attribution.hooks import Recorder, bypasses, model_device, prepared, resolve_layers
from retinacodec.attribution.quadrature import kink_cotangent, point_weights, segment_cotangents
from retinacodec.attribution.result import build_dataset, reduce_units
from retinacodec.attribution.structure import KinkRecorder, StageRecorder, Structure, analyse, stem_shortcut
from retinacodec.attribution.targets import Target, TargetSpec, resolve_target
from retinacodec.device import resolve_device

__all__ = ["METHODS", "RULES", "contributions"]

METHODS = ("integrated_gradients", "activation_x_gradient")
RULES = ("trapezoid", "left", "right")
VECTORIZE = ("auto", "replicate", "batched")
# On the CPU, smaller passes run faster (their working set stays in cache): all units of
# layer1 to 16 cells, 64 frames, on the full-size model of benchmarks/bench_contributions.py
# (2 threads), took 4.7 s in passes of 8 frames (~0.25 GiB) and 7.4 s in passes of 32.
CPU_PASS_BYTES = 2**28


@dataclass(frozen=True)
class _Setup:
    """What one call computes: layers, target, quadrature and vectorisation."""

    modules: dict[str, nn.Module]
    target: Target
    alphas: torch.Tensor  # (P,) interpolation points
    method: str
    rule: str
    vectorize: str
    structure: Structure


def _check_inputs(model: nn.Module, inputs: torch.Tensor | np.ndarray, device: torch.device) -> torch.Tensor:
    """The inputs as a tensor of the model's dtype on ``device``, shape-checked where the model says how."""
    x = torch.as_tensor(inputs)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"inputs must be a non-empty batch (batch, ...); got shape {tuple(x.shape)}.")
    config = getattr(model, "config", None)
    if hasattr(config, "history") and hasattr(config, "input_size"):
        expected = (config.history, *config.input_size)
        if tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"the model expects inputs of shape (batch, {', '.join(map(str, expected))}) = (batch, history, ny, "
                f"nx); got {tuple(x.shape)}. Build stimulus windows with retinacodec.model.WindowedData."
            )
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.get_default_dtype())
    return x.to(device=device, dtype=dtype)


def _baseline(baseline: torch.Tensor | np.ndarray | Callable | None, x: torch.Tensor) -> tuple[torch.Tensor, str]:
    """The baseline broadcast to the inputs' shape, and a description of it."""
    if baseline is None:
        return torch.zeros_like(x), "zeros"
    if callable(baseline):
        x0, what = baseline(x), f"callable {getattr(baseline, '__name__', type(baseline).__name__)}"
    else:
        x0, what = baseline, "tensor"
    x0 = torch.as_tensor(x0, dtype=x.dtype, device=x.device)
    try:
        return torch.broadcast_to(x0, x.shape), what
    except RuntimeError:
        raise ValueError(
            f"the baseline of shape {tuple(x0.shape)} does not broadcast to the inputs {tuple(x.shape)}."
        ) from None


def _probe(model: nn.Module, modules: dict[str, nn.Module], x: torch.Tensor) -> tuple[torch.Tensor, dict[str, int]]:
    """Run one sample through the model; return its output and bytes per sample of activations.

    Returns
    -------
    output : torch.Tensor, shape (1, n_out)
    sizes : dict
        ``upstream`` / ``downstream``: bytes of all leaf-module outputs before / after the
        first hooked layer; ``hooked``: bytes of the hooked layers' outputs.
    """
    sizes = {"upstream": 0, "downstream": 0, "hooked": 0}
    hooked = set(modules.values())
    state = {"after": False}

    def record(module: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
        if isinstance(out, torch.Tensor):
            nbytes = out.numel() * out.element_size()
            if module in hooked:
                sizes["hooked"] += nbytes
            if not any(True for _ in module.children()):
                sizes["downstream" if state["after"] else "upstream"] += nbytes
        state["after"] = state["after"] or module in hooked

    handles = [m.register_forward_hook(record) for m in model.modules()
               if m in hooked or not any(True for _ in m.children())]
    try:
        with torch.no_grad():
            out = model(x[:1])
    except RuntimeError as exc:
        raise ValueError(f"inputs of shape {tuple(x.shape)} do not fit the model: {exc}") from exc
    finally:
        for h in handles:
            h.remove()
    return out.reshape(1, -1), sizes


def _check_cuts(model: nn.Module, modules: dict[str, nn.Module], x: torch.Tensor) -> list[str]:
    """The hooked layers that do not cut the network, with a warning naming them."""
    bypassed = [name for name, m in modules.items() if bypasses(model, m, x[:1])]
    if bypassed:
        warnings.warn(
            f"layer(s) {bypassed} do not cut the network: the output also depends on the input through a path "
            "around them (a skip connection or parallel branch), so their contributions need not sum to "
            "F(x) - F(baseline) and completeness cannot hold.",
            UserWarning,
            stacklevel=3,
        )
    return bypassed


def _choose_vectorize(model: nn.Module, modules: dict[str, nn.Module], x: torch.Tensor, vectorize: str,
                      bypassed: list[str]) -> str:
    """How all targets share one pass: ``"batched"`` unless ``"replicate"`` is asked for and can work."""
    if vectorize != "replicate":
        return "batched"
    if bypassed:
        raise ValueError("vectorize='replicate' needs layers that cut the network; use 'batched' or 'auto'.")
    pair = x[:1].expand(2, *x.shape[1:])
    try:
        with torch.no_grad(), Recorder(modules, replicate=2):
            out = model(pair)
    except RuntimeError:
        out = None
    if out is None or out.shape[0] != 4:
        raise ValueError("the model's forward cannot run on a batch replicated inside it; use vectorize='batched'.")
    return "replicate"


def _gradients(y: torch.Tensor, setup: _Setup, wrt: list[torch.Tensor], idx: list[int],
               n: int) -> tuple[list, torch.Tensor]:
    """Gradients of targets ``idx`` w.r.t. each tensor in ``wrt``, and every target's value.

    Returns
    -------
    grads : list of torch.Tensor, each (len(idx), n, *units)
    values : torch.Tensor, shape (n, n_targets)
    """
    t, keep = len(idx), bool(setup.structure.kinks)  # the kink correction differentiates the graph again
    if setup.vectorize == "replicate":
        values = setup.target(y).view(t, n, -1)
        chosen = values[torch.arange(t), :, torch.as_tensor(idx)]  # (t, n): block k, target idx[k]
        grads = torch.autograd.grad(chosen.sum(), wrt, allow_unused=True, retain_graph=keep)
        values = values[0]
    else:
        values = setup.target(y)
        chosen = values[:, idx]
        if t == 1:
            grads = torch.autograd.grad(chosen.sum(), wrt, allow_unused=True, retain_graph=keep)
        else:
            eye = torch.eye(t, dtype=chosen.dtype, device=chosen.device)
            grads = torch.autograd.grad(chosen, wrt, eye[:, None, :].expand(t, n, t), is_grads_batched=True,
                                        allow_unused=True, retain_graph=keep)
    return [_per_target(g, w, t, n) for g, w in zip(grads, wrt, strict=True)], values.detach()


def _stage_gradients(y: torch.Tensor, setup: _Setup, wrt: list[torch.Tensor], idx: list[int], n: int,
                     z: torch.Tensor, p: int) -> tuple[list, torch.Tensor]:
    """Per-step gradients through a smooth output stage integrated exactly along each step.

    Row i of each gradient belongs to the step from point i to i + 1 (the last row is zero);
    ``values`` is every target at every point, as for :func:`_gradients`.
    """
    t, keep = len(idx), bool(setup.structure.kinks)
    replicated = setup.vectorize == "replicate"
    values = setup.target(y).detach()
    if replicated:
        values = values.view(t, n, -1)[0]
    stage, cols = setup.structure.output, torch.as_tensor(idx, device=z.device)
    points = z.detach()[:n].reshape(p, n // p, *z.shape[1:])  # with replication, every block holds the same z

    def phi(q: torch.Tensor) -> torch.Tensor:
        return setup.target(stage(q).reshape(q.shape[0], -1))[:, cols]

    v = segment_cotangents(points, phi, t).reshape(t, n, *z.shape[1:])
    if replicated:  # block k of the rows carries target k
        grads = torch.autograd.grad(z, wrt, v.reshape(t * n, *z.shape[1:]), allow_unused=True, retain_graph=keep)
    elif t == 1:
        grads = torch.autograd.grad(z, wrt, v[0], allow_unused=True, retain_graph=keep)
    else:
        grads = torch.autograd.grad(z, wrt, v, is_grads_batched=True, allow_unused=True, retain_graph=keep)
    return [_per_target(g, w, t, n) for g, w in zip(grads, wrt, strict=True)], values


def _per_target(g: torch.Tensor | None, like: torch.Tensor, t: int, n: int) -> torch.Tensor:
    """A gradient as (targets, n, *units); zeros where autograd found no dependence."""
    if g is None:
        return torch.zeros((t, n, *like.shape[1:]), dtype=like.dtype, device=like.device)
    return g.reshape(t, n, *like.shape[1:])


def _through_kink(setup: _Setup, z: torch.Tensor, a: torch.Tensor, d: torch.Tensor, p: int,
                  per_step: bool = False) -> torch.Tensor:
    """A layer's per-step gradients with a downstream ReLU's switching points integrated exactly.

    Parameters
    ----------
    z : torch.Tensor, shape (rows, *kink_units)
        The ReLU's input in the graph (rows = P·B, or targets·P·B when replicated).
    a : torch.Tensor, shape (rows, *units)
        The layer's output that ``z`` was computed from.
    d : torch.Tensor, shape (targets, P·B, *kink_units)
        ∂F/∂(ReLU output) at each point, or per step with ``per_step``.
    per_step : bool
        Row i of ``d`` already belongs to the step from point i to i + 1.

    Returns
    -------
    torch.Tensor, shape (targets, P·B, *units)
        Row i of the points holds Aᵀuᵢ for the step from point i to i + 1; the last is zero.
    """
    t, n = d.shape[:2]
    values = z.detach()[:n]
    u = kink_cotangent(values.reshape(p, n // p, *values.shape[1:]), d.reshape(t, p, n // p, *d.shape[2:]), per_step)
    u = u.reshape(t, n, *d.shape[2:])
    # the graph is retained: several layers may share a ReLU
    if setup.vectorize == "replicate":
        (g,) = torch.autograd.grad(z, a, u.reshape(t * n, *u.shape[2:]), retain_graph=True)
    else:
        (g,) = torch.autograd.grad(z, a, u, is_grads_batched=True, retain_graph=True)
    return g.reshape(t, n, *a.shape[1:])


def _pass(model: nn.Module, setup: _Setup, x: torch.Tensor, x0: torch.Tensor,
          idx: list[int]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Contributions of one chunk of samples to one chunk of targets.

    Returns
    -------
    contributions : dict
        Layer → (batch, len(idx), *units).
    values : torch.Tensor, shape (P, batch, n_targets)
        Every target at every interpolation point.
    """
    p, b, t = setup.alphas.numel(), x.shape[0], len(idx)
    kinks = setup.structure.kinks
    rec = Recorder(setup.modules, replicate=t if setup.vectorize == "replicate" else 1)
    relus = KinkRecorder(list(dict.fromkeys(kinks.values())))
    stage = StageRecorder(setup.structure.output)
    with torch.enable_grad(), stem_shortcut(setup.structure.stem, x, x0, setup.alphas) as inputs, rec, relus, stage:
        y = model(inputs)
    rec.check_unmodified()
    wrt = [relus.outputs[kinks[name]] if name in kinks else a for name, a in rec.wrt.items()]
    per_step = stage.input is not None
    if per_step:
        grads, values = _stage_gradients(y.reshape(y.shape[0], -1), setup, wrt, idx, p * b, stage.input, p)
    else:
        grads, values = _gradients(y.reshape(y.shape[0], -1), setup, wrt, idx, p * b)
    out = {}
    for (name, a), g in zip(rec.values.items(), grads, strict=True):
        # per-step gradients (kink-corrected or through the output stage): row i belongs to the step from
        # point i to i + 1, so they take the left rule's weights
        rule = "left" if name in kinks or per_step else setup.rule
        if name in kinks:
            g = _through_kink(setup, relus.inputs[kinks[name]], rec.wrt[name], g, p, per_step)
        w = point_weights(a.reshape(p, b, *a.shape[1:]), setup.method, rule).reshape(a.shape)
        out[name] = _contract(g, w, p)
    return out, values.view(p, b, -1)


def _contract(g: torch.Tensor, w: torch.Tensor, p: int) -> torch.Tensor:
    """``Σᵢ gᵢ ωᵢ`` over the P points.

    Parameters
    ----------
    g : torch.Tensor, shape (targets, P·B, *units)
    w : torch.Tensor, shape (P·B, *units)

    Returns
    -------
    torch.Tensor, shape (B, targets, *units)
    """
    b = w.shape[0] // p
    out = torch.zeros_like(g[:, :b])  # keeps g's (channels-last) layout: a fused multiply-add per point
    for i in range(p):
        out.addcmul_(g[:, i * b:(i + 1) * b], w[i * b:(i + 1) * b])
    return out.transpose(0, 1)


def _module_name(model: nn.Module, module: nn.Module) -> str:
    return next(name for name, m in model.named_modules() if m is module)


def _plan(n_samples: int, n_targets: int, n_points: int, in_bytes: int, sizes: dict[str, int],
          max_memory_gb: float, batch_size: int | None, device: torch.device) -> tuple[int, int]:
    """Samples per pass and targets per pass that keep the estimated peak under the budget.

    Per interpolation point and sample the pass holds the input, the transient upstream
    activations, and per target a copy of everything downstream of the first hooked layer
    (forward, saved for backward, gradients) plus the hooked layers' gradients and weights.
    On the CPU a pass is kept to :data:`CPU_PASS_BYTES` even under a larger budget.
    """
    budget = max_memory_gb * 2**30
    if device.type == "cpu":
        budget = min(budget, CPU_PASS_BYTES)

    def per_sample(t: int) -> float:
        per_target = sizes["downstream"] + 2 * sizes["hooked"]
        return n_points * (in_bytes + sizes["upstream"] + sizes["hooked"] + t * per_target)

    t = n_targets
    while t > 1 and per_sample(t) > budget:
        t = math.ceil(t / 2)
    b = max(1, min(n_samples, int(budget // per_sample(t))))
    if batch_size is not None:
        b = max(1, min(b, int(batch_size)))
    return b, t


def contributions(
    model: nn.Module,
    inputs: torch.Tensor | np.ndarray,
    layers: str | Sequence[str],
    target: TargetSpec = "all",
    *,
    method: str = "integrated_gradients",
    steps: int = 20,
    baseline: torch.Tensor | np.ndarray | Callable | None = None,
    rule: str = "trapezoid",
    reduce: str | None = None,
    split_sign: bool = False,
    target_names: Sequence | None = None,
    batch_size: int | None = None,
    max_memory_gb: float = 2.0,
    device: str | torch.device | None = None,
    vectorize: str = "auto",
    kink_correction: bool = True,
    affine_stem: bool = True,
    smooth_output: bool = True,
) -> xr.Dataset:
    """Contributions of the units of hidden layers to scalar targets of a model's output.

    METHODS.md §2: along the straight path from the baseline x₀ to x, unit j of a layer
    contributes ``c_j = Σᵢ ½ (g_j(αᵢ₋₁) + g_j(αᵢ)) (a_j(αᵢ) − a_j(αᵢ₋₁))`` (trapezoid rule);
    the contributions of a layer that cuts the network sum to F(x) − F(x₀).

    Parameters
    ----------
    model : torch.nn.Module
        Any model; put in eval mode (and restored) for the call.
    inputs : tensor or ndarray, shape (batch, ...)
        Model inputs (for a BNCNN: z-scored windows (batch, history, ny, nx)).
    layers : str or sequence of str
        Dotted module names (``"layer1"``, ``"features.2"``); all come from one pass.
    target : str, int, sequence of int, Surprisal or callable
        What to explain (:func:`retinacodec.attribution.targets.resolve_target`): ``"all"``
        (each output separately: every cell), ``"sum"``, ``"max"``, ``"margin"``,
        ``"logit:<k>"``, ints, a fitted :class:`Surprisal`, or a callable.
    method : {"integrated_gradients", "activation_x_gradient"}
        Path integral (conductance), or activation × gradient at x alone.
    steps : int
        Interpolation steps S (S + 1 model evaluations per sample).
    baseline : tensor, ndarray or callable, optional
        x₀, broadcast to the inputs, or ``baseline(inputs) -> x₀``. Default zeros (mean
        luminance in z-scored stimulus space).
    rule : {"trapezoid", "left", "right"}
        Quadrature; ``"left"`` reproduces captum's ``LayerConductance``.
    reduce : {None, "space"}
        Sum each layer's contributions over space, leaving channels.
    split_sign : bool
        Split each unit's contribution into positive and negative parts before reducing
        (a ``sign`` dim: ``"pos"``, ``"neg"``).
    target_names : sequence, optional
        Labels of the model outputs (e.g. cell ids) for integer and ``"all"`` targets.
    batch_size : int, optional
        At most this many samples per pass (default: as many as ``max_memory_gb`` allows).
    max_memory_gb : float
        Budget for one pass, in GiB (an estimate from the layer sizes; the result itself and
        the model are not counted). Samples, then targets, are split into chunks to fit.
    device : str or torch.device, optional
        Where to compute (the model is moved there and back); default the model's device.
    vectorize : {"auto", "replicate", "batched"}
        How all targets share one pass (module docstring); ``"auto"`` is ``"batched"``.
    kink_correction : bool
        With the trapezoid rule, integrate the switching points of the first ``nn.ReLU``
        downstream of each layer at the point where each unit switches, wherever the map
        from the layer to that ReLU is affine (:mod:`retinacodec.attribution.quadrature`).
        This turns the rule's first-order error at those kinks into a second-order one; on
        the retina model's ``layer1`` it lowers the completeness error at 20 steps from
        ~1e-2 to ~1e-7. ``False`` gives the plain trapezoid rule of METHODS.md §2.
    affine_stem : bool
        If the model's first module is a convolution or linear layer on the input that every
        path to the output goes through, evaluate it at the two path ends only and
        interpolate (exact up to rounding; :mod:`retinacodec.attribution.structure`).
    smooth_output : bool
        With the trapezoid rule, if the model ends in a smooth nonlinearity (the retina
        model's Softplus) reached affinely from every hooked layer, integrate it and the
        target exactly along each step (Gauss–Legendre on the stage alone,
        :func:`~retinacodec.attribution.quadrature.segment_cotangents`) instead of averaging
        the step's two ends. On the sample model at 20 steps this lowers the median
        completeness error of the surprisal target from ~3e-2 to ~1e-7. It converges to the
        same integral; ``False`` gives the plain rule.

    Returns
    -------
    xarray.Dataset
        One variable per layer, dims ``(sample, target[, sign], <layer>_channel,
        <layer>_y, <layer>_x)`` (``<layer>_unit`` for a ``Linear`` layer; only the channel
        dim with ``reduce="space"``); ``completeness_error`` and ``completeness_relative``
        ``(layer, sample, target)``; ``output_difference`` ``(sample, target)`` = F(x) − F(x₀).
        Attributes record the parameters. Units: those of the target (spikes per frame for
        a retina cell). :func:`layer_contributions` gives one layer with plain dim names.

    Warns
    -----
    UserWarning
        For a layer that does not cut the network (completeness cannot hold).

    Examples
    --------
    Each layer-1 and layer-2 channel's share of each cell's rate change from the grey baseline,
    split by sign and summed over space, for four stimulus windows:

    >>> import torch
    >>> model = rc.load_sample_model()
    >>> x = torch.randn(4, 40, 20, 20, generator=torch.Generator().manual_seed(0))
    >>> ds = rc.contributions(model, x, ["layer1", "layer2"], reduce="space", split_sign=True)
    >>> ds["layer1"].dims, ds["layer1"].shape
    (('sample', 'target', 'sign', 'layer1_channel'), (4, 9, 2, 8))
    >>> bool(ds["completeness_relative"].max() < 1e-4)  # they add up to F(x) - F(x0)
    True
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}; got {rule!r}.")
    if reduce not in (None, "space"):
        raise ValueError(f"reduce must be None or 'space'; got {reduce!r}.")
    if vectorize not in VECTORIZE:
        raise ValueError(f"vectorize must be one of {VECTORIZE}; got {vectorize!r}.")
    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1; got {steps}.")
    if max_memory_gb <= 0:
        raise ValueError(f"max_memory_gb must be > 0; got {max_memory_gb}.")
    modules = resolve_layers(model, layers)
    dev = resolve_device(device) if device is not None else model_device(model)
    with prepared(model, dev):
        x = _check_inputs(model, inputs, dev)
        x0, baseline_desc = _baseline(baseline, x)
        probe, sizes = _probe(model, modules, x)
        tgt = resolve_target(target, probe, target_names)
        n_steps = 1 if method == "activation_x_gradient" else int(steps)
        bypassed = _check_cuts(model, modules, x)
        vectorized = _choose_vectorize(model, modules, x, vectorize, bypassed)
        kinks = bool(kink_correction) and method == "integrated_gradients" and rule == "trapezoid"
        exact_output = bool(smooth_output) and method == "integrated_gradients" and rule == "trapezoid"
        structure = analyse(model, modules, x[:1], x0[:1], stem=affine_stem, kinks=kinks, output=exact_output,
                            cut=set(modules) - set(bypassed))
        setup = _Setup(modules, tgt, torch.linspace(0, 1, n_steps + 1, dtype=x.dtype, device=dev), method, rule,
                       vectorized, structure)
        n_t = len(tgt.names)
        in_bytes = 0 if structure.stem is not None else x[0].numel() * x.element_size()
        b, t = _plan(x.shape[0], n_t, n_steps + 1, in_bytes, sizes, max_memory_gb, batch_size, dev)
        chunks: dict[str, list] = {name: [] for name in modules}
        sums, diffs, unit_ndims = {name: [] for name in modules}, [], {}
        for s in range(0, x.shape[0], b):
            parts: dict[str, list] = {name: [] for name in modules}
            for k in range(0, n_t, t):
                idx = list(range(k, min(k + t, n_t)))
                c, values = _pass(model, setup, x[s:s + b], x0[s:s + b], idx)
                for name, v in c.items():
                    parts[name].append(v)
            diffs.append((values[-1] - values[0]).double().cpu().numpy())
            for name, v in parts.items():
                full = torch.cat(v, dim=1)
                unit_ndims[name] = full.ndim - 2
                sums[name].append(full.flatten(2).sum(2, dtype=torch.float64).cpu().numpy())
                chunks[name].append(reduce_units(full, reduce, split_sign).cpu().numpy())
    diff = np.concatenate(diffs)
    error = np.stack([np.concatenate(sums[name]) - diff for name in modules])
    attrs = {
        "method": method,
        "steps": n_steps if method == "integrated_gradients" else 0,
        "rule": rule if method == "integrated_gradients" else "none",
        "baseline": baseline_desc,
        "target": tgt.description,
        "layers": list(modules),
        "reduce": reduce or "none",
        "split_sign": int(bool(split_sign)),
        "vectorize": setup.vectorize,
        "kink_correction": ", ".join(f"{name}: {_module_name(model, relu)}" for name, relu in structure.kinks.items())
        or "none",
        "affine_stem": _module_name(model, structure.stem) if structure.stem is not None else "none",
        "smooth_output": _module_name(model, structure.output) if structure.output is not None else "none",
        "dtype": str(x.dtype).replace("torch.", ""),
    }
    return build_dataset({name: np.concatenate(v) for name, v in chunks.items()}, unit_ndims, error, diff,
                         tgt.names, reduce, split_sign, attrs)
