"""Layers by dotted name, a model prepared for attribution, and hooks recording activations.

A :class:`Recorder` hooks named modules; during a forward pass each module's output is
exposed as a tensor that gradients can be taken against. Optionally the first hooked layer
repeats its output ``replicate`` times along the batch, so that everything downstream of
it runs once per target and one backward pass yields every target's gradient.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["layer_names", "resolve_layers", "model_device", "prepared", "Recorder", "bypasses"]


def layer_names(model: nn.Module) -> list[str]:
    """Dotted names of every submodule of ``model`` (``"layer1"``, ``"layer1.conv"`` ...)."""
    return [name for name, _ in model.named_modules() if name]


def resolve_layers(model: nn.Module, layers: str | Sequence[str]) -> dict[str, nn.Module]:
    """Look modules up by dotted name.

    Parameters
    ----------
    model : torch.nn.Module
    layers : str or sequence of str
        Names as in ``model.named_modules()``, e.g. ``"layer1"`` or ``"features.2"``.

    Returns
    -------
    dict
        Name → module, in the order given.

    Raises
    ------
    ValueError
        For an empty list, a repeated name, or an unknown name (the message lists the valid ones).
    """
    layers = [layers] if isinstance(layers, str) else list(layers)
    if not layers:
        raise ValueError(f"give at least one layer; valid names: {', '.join(layer_names(model))}.")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layer names must be distinct; got {layers}.")
    modules = dict(model.named_modules())
    unknown = [name for name in layers if not name or name not in modules]
    if unknown:
        raise ValueError(
            f"unknown layer(s) {', '.join(map(repr, unknown))}; valid names: {', '.join(layer_names(model))}."
        )
    return {name: modules[name] for name in layers}


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a stateless model)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


@contextmanager
def prepared(model: nn.Module, device: torch.device) -> Iterator[nn.Module]:
    """Put a model in the state attribution needs; restore its state afterwards.

    Inside the block the model is in eval mode (BatchNorm uses running statistics, noise
    and dropout are off), its parameters do not require gradients (autograd builds no graph
    upstream of the first hooked layer), modules with an ``inplace`` flag (``nn.ReLU(inplace=True)``
    ...) run out of place so that recorded activations are not overwritten, and it lives on
    ``device``.
    """
    training = {m: m.training for m in model.modules()}
    requires_grad = {p: p.requires_grad for p in model.parameters()}
    inplace = [m for m in model.modules() if getattr(m, "inplace", None) is True]
    original = model_device(model)
    try:
        model.eval()
        for p in requires_grad:
            p.requires_grad_(False)
        for m in inplace:
            m.inplace = False
        model.to(device)
        yield model
    finally:
        model.to(original)
        for m in inplace:
            m.inplace = True
        for p, flag in requires_grad.items():
            p.requires_grad_(flag)
        for m, flag in training.items():
            m.training = flag


class Recorder:
    """Forward hooks on named modules, used as a context manager around one forward pass.

    Parameters
    ----------
    modules : dict
        Name → module to record.
    replicate : int
        If > 1, the first hooked module to run returns its output repeated ``replicate``
        times along the batch (block ``k`` of the batch is a copy for target ``k``).

    Attributes
    ----------
    wrt : dict
        Name → tensor to differentiate against, shape (replicate × batch, ...) or (batch, ...).
    values : dict
        Name → detached activation, shape (batch, ...) (one copy).
    """

    def __init__(self, modules: dict[str, nn.Module], replicate: int = 1) -> None:
        self.modules = modules
        self.replicate = int(replicate)
        self.wrt: dict[str, torch.Tensor] = {}
        self.values: dict[str, torch.Tensor] = {}
        self._versions: dict[str, int] = {}
        self._handles: list = []

    def __enter__(self) -> Recorder:
        self.wrt, self.values, self._versions = {}, {}, {}
        self._handles = [m.register_forward_hook(self._hook(name)) for name, m in self.modules.items()]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, name: str):  # noqa: ANN202
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
            if not isinstance(output, torch.Tensor):
                raise ValueError(f"layer {name!r} returns a {type(output).__name__}, not a tensor; hook a submodule.")
            if name in self.wrt:
                raise ValueError(
                    f"layer {name!r} runs more than once in one forward pass, so its contributions are "
                    "ambiguous; hook a module that runs once."
                )
            a = output
            if not a.requires_grad:  # a new leaf; channels-last for images: CPU convolutions run faster
                a = a.detach().contiguous(memory_format=torch.channels_last) if a.ndim == 4 else a.detach()
                a.requires_grad_()
            copies = 1 if self.replicate == 1 or self.wrt else self.replicate
            batch = a.shape[0] // (self.replicate if self.wrt else 1)
            if copies > 1:  # one copy, channels-last for images: CPU convolutions and their backward run faster
                fmt = torch.channels_last if a.ndim == 4 else torch.contiguous_format
                rep = torch.empty((copies * a.shape[0], *a.shape[1:]), dtype=a.dtype, device=a.device,
                                  memory_format=fmt)
                rep.unflatten(0, (copies, a.shape[0])).copy_(a.unsqueeze(0).expand(copies, *a.shape))
                a = rep
            self.wrt[name] = a
            self.values[name] = a[:batch].detach()
            self._versions[name] = a._version
            return a

        return hook

    def check_unmodified(self) -> None:
        """Raise if the model modified a recorded activation in place after its layer ran."""
        changed = [name for name, a in self.wrt.items() if a._version != self._versions[name]]
        if changed:
            raise ValueError(
                f"the model modifies the output of layer(s) {changed} in place (e.g. F.relu(x, inplace=True) "
                "in its forward), which corrupts the recorded activations; make that operation out of place."
            )
        missing = [name for name in self.modules if name not in self.wrt]
        if missing:
            raise ValueError(f"layer(s) {missing} did not run in the forward pass; they cannot contribute.")


def bypasses(model: nn.Module, module: nn.Module, x: torch.Tensor) -> bool:
    """Whether the model output depends on the input through a path that avoids ``module``.

    The module's output is cut from the autograd graph; if the model output still depends
    on ``x`` (a skip connection, a parallel branch), the layer does not cut the network and
    its contributions cannot be complete. Call inside :func:`prepared` (parameters frozen).

    Parameters
    ----------
    model, module : torch.nn.Module
    x : torch.Tensor, shape (batch, ...)
        A model input (one sample is enough).
    """
    handle = module.register_forward_hook(lambda m, i, out: out.detach())
    try:
        with torch.enable_grad():
            y = model(x.detach().requires_grad_())
    finally:
        handle.remove()
    return bool(y.requires_grad)
